"""Colour control (Gatys et al. 2017) against hand-written float64 numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle.controls import color

#: NTSC YIQ, written out: the rows Y, I, Q.
YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64)
RGB = np.linalg.inv(YIQ)


def np_yiq(rgb):
    return np.einsum("dc,...c->...d", YIQ, np.asarray(rgb, np.float64))


def np_rgb(yiq):
    return np.einsum("dc,...c->...d", RGB, np.asarray(yiq, np.float64))


def np_stats(image):
    x = np.asarray(image, np.float64).reshape(-1, 3)
    return x.mean(0), np.cov(x.T, bias=True)


def np_power(c, p):
    w, v = np.linalg.eigh(c)
    return (v * w**p) @ v.T


def np_match(style, content, mode, eps=1e-5):
    """The three maps of the issue, in float64 numpy."""
    (mu_s, cov_s), (mu_c, cov_c) = np_stats(style), np_stats(content)
    cov_s, cov_c = cov_s + eps * np.eye(3), cov_c + eps * np.eye(3)
    if mode == "pca":
        a = np_power(cov_c, 0.5) @ np_power(cov_s, -0.5)
    elif mode == "chol":
        a = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    else:
        r, ri = np_power(cov_s, 0.5), np_power(cov_s, -0.5)
        a = ri @ np_power(r @ cov_c @ r, 0.5) @ ri
    return (np.asarray(style, np.float64) - mu_s) @ a.T + mu_c, a


def pair(seed):
    """A style and a content image of different sizes and colour statistics."""
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.3, 0.0], [0.2, 0.8, 0.1], [0.4, 0.4, 0.5]])
    style = np.clip(rng.uniform(size=(20, 24, 3)) @ mix.T * 0.7, 0, 1).astype(np.float32)
    tint = np.array([0.9, 0.55, 0.25])
    content = (smooth_image(rng, 16, 18) * tint + np.array([0.05, 0.1, 0.2])).astype(np.float32)
    return style, content


@pytest.mark.parametrize("shape", [(3,), (5, 7, 3), (2, 4, 6, 3)])
def test_yiq_and_luminance_match_numpy(shape):
    rgb = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    yiq = color.rgb_to_yiq(jnp.asarray(rgb))
    np.testing.assert_allclose(np.asarray(yiq), np_yiq(rgb), rtol=1e-5, atol=1e-6)
    want_y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(np.asarray(color.luminance(rgb)), want_y, rtol=1e-5, atol=1e-6)
    back = color.yiq_to_rgb(jnp.asarray(np_yiq(rgb), jnp.float32))
    np.testing.assert_allclose(np.asarray(back), rgb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(color.yiq_to_rgb(yiq)), rgb, rtol=1e-5, atol=1e-6)
    assert yiq.dtype == jnp.float32 and yiq.shape == shape


def test_inverse_is_exact():
    np.testing.assert_allclose(color.YIQ_TO_RGB, RGB, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(color.RGB_TO_YIQ, YIQ, rtol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mode", color.COLOR_MATCHES)
def test_match_color_moments_and_formula(mode, seed):
    style, content = pair(seed)
    got = np.asarray(color.match_color(style, content, mode, clip=False), np.float64)
    (mu_g, cov_g), (mu_c, cov_c) = np_stats(got), np_stats(content)
    np.testing.assert_allclose(mu_g, mu_c, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(cov_g, cov_c, rtol=1e-3, atol=1e-5)
    want, a = np_match(style, content, mode)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got.shape == style.shape
    if mode == "chol":  # L_c L_s^-1 is lower triangular
        np.testing.assert_allclose(np.triu(a, 1), 0, atol=1e-12)
    if mode == "sym":  # the Monge-Kantorovich map is symmetric
        np.testing.assert_allclose(a, a.T, atol=1e-10)


@pytest.mark.parametrize("mode", color.COLOR_MATCHES)
def test_match_color_clips(mode):
    style, content = pair(2)
    got = np.asarray(color.match_color(style, content * 1.3, mode))
    unclipped = np.asarray(color.match_color(style, content * 1.3, mode, clip=False))
    assert got.min() >= 0 and got.max() <= 1 and (unclipped > 1).any()
    np.testing.assert_array_equal(got, np.clip(unclipped, 0, 1))


@pytest.mark.parametrize("mode", ["swap", "luminance"])
def test_finish_keeps_content_chroma(mode):
    _, content = pair(3)
    rng = np.random.default_rng(4)
    image = rng.uniform(size=content.shape).astype(np.float32)
    if mode == "luminance":  # the optimised image is grey
        image = np.repeat(image[..., :1], 3, axis=-1)
    raw = np.asarray(color.finish(jnp.asarray(image), jnp.asarray(content), mode))
    inside = np.all((raw >= 0) & (raw <= 1), axis=-1)
    assert inside.mean() > 0.5
    out = np.clip(raw, 0, 1)  # the caller clips
    np.testing.assert_allclose(
        np_yiq(out)[inside][:, 1:], np_yiq(content)[inside][:, 1:], atol=1 / 255
    )
    np.testing.assert_allclose(
        np_yiq(out)[..., 0][inside], np_yiq(image)[..., 0][inside], atol=1e-5
    )
    # With chroma rows summing to zero, swapping Y adds the Y difference to every channel.
    shift = (np_yiq(image)[..., 0] - np_yiq(content)[..., 0])[..., None]
    np.testing.assert_allclose(raw, content + shift, atol=1e-5)


def test_luminance_mode_prepare():
    style, content = pair(5)
    c, s = (np.asarray(a) for a in color.prepare(jnp.asarray(content), style, "luminance"))
    assert c.shape == content.shape and s.shape == style.shape
    for img in (c, s):
        np.testing.assert_array_equal(img[..., 0], img[..., 1])
        np.testing.assert_array_equal(img[..., 0], img[..., 2])
    y_c, y_s = np_yiq(content)[..., 0], np_yiq(style)[..., 0]
    np.testing.assert_allclose(c[..., 0], y_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[..., 0].mean(), y_c.mean(), rtol=1e-4)
    np.testing.assert_allclose(s[..., 0].std(), y_c.std(), rtol=1e-4)
    want = (y_s - y_s.mean()) / y_s.std() * y_c.std() + y_c.mean()
    np.testing.assert_allclose(s[..., 0], want, rtol=1e-4, atol=1e-5)


def test_match_luminance_of_flat_style_is_content_mean():
    y = np.asarray(
        color.match_luminance(jnp.full((3, 4), 0.3), jnp.linspace(0, 1, 20).reshape(4, 5))
    )
    np.testing.assert_allclose(y, 0.5, atol=1e-6)


@pytest.mark.parametrize("mode", color.COLORS)
def test_prepare_and_finish_under_vmap(mode):
    pairs = [pair(s) for s in (6, 7)]
    styles = np.stack([p[0] for p in pairs])
    contents = np.stack([p[1] for p in pairs])
    images = np.random.default_rng(8).uniform(size=contents.shape).astype(np.float32)
    cb, sb = jax.vmap(lambda c, s: color.prepare(c, s, mode, "sym"))(contents, styles)
    fb = jax.vmap(lambda x, c: color.finish(x, c, mode))(images, contents)
    for i in range(2):
        c, s = color.prepare(contents[i], styles[i], mode, "sym")
        np.testing.assert_allclose(np.asarray(cb[i]), np.asarray(c), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(sb[i]), np.asarray(s), rtol=1e-5, atol=1e-6)
        f = color.finish(images[i], contents[i], mode)
        np.testing.assert_allclose(np.asarray(fb[i]), np.asarray(f), rtol=1e-5, atol=1e-6)


def test_identities_are_bit_for_bit():
    style, content = pair(9)
    image = np.random.default_rng(10).uniform(size=content.shape).astype(np.float32)
    for mode in ("style", "swap"):
        c, s = color.prepare(jnp.asarray(content), jnp.asarray(style), mode)
        np.testing.assert_array_equal(np.asarray(c), content)
        np.testing.assert_array_equal(np.asarray(s), style)
    c, _ = color.prepare(jnp.asarray(content), jnp.asarray(style), "match")
    np.testing.assert_array_equal(np.asarray(c), content)
    for mode in ("style", "match"):
        out = color.finish(jnp.asarray(image), jnp.asarray(content), mode)
        assert out.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(out), image)


def test_match_mode_uses_match_color():
    style, content = pair(11)
    _, s = color.prepare(content, style, "match", "chol")
    want = np.clip(np_match(style, content, "chol")[0], 0, 1)
    np.testing.assert_allclose(np.asarray(s), want, rtol=1e-4, atol=1e-5)


def test_unknown_modes_raise():
    x = jnp.zeros((4, 4, 3))
    with pytest.raises(ValueError, match="colour mode"):
        color.prepare(x, x, "bogus")
    with pytest.raises(ValueError, match="colour mode"):
        color.finish(x, x, "bogus")
    with pytest.raises(ValueError, match="colour match"):
        color.match_color(x, x, "bogus")
    with pytest.raises(ValueError, match="colour match"):
        color.prepare(x, x, "match", "bogus")


def test_constants():
    assert color.COLORS == ("style", "luminance", "match", "swap")
    assert color.COLOR_MATCHES == ("pca", "chol", "sym")
