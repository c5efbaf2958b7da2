"""The controls through stylize: blended styles, regions, colours, Adam, the start image."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY, smooth_image

from jaxstyle.config import Config
from jaxstyle.controls import color, inputs, regions
from jaxstyle.errors import ConfigError
from jaxstyle.loss.objective import loss_terms, spec_of, weights_of
from jaxstyle.loss.targets import make_targets
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import features, init_params
from jaxstyle.run.stylize import stylize
from jaxstyle.solve.solvers import Solver, minimize

LAYERS = "relu1_1,relu2_1,relu3_1"


@pytest.fixture(scope="module")
def params():
    return init_params(jax.random.key(3), TINY)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(11)
    return smooth_image(rng, 24, 32), smooth_image(rng, 28, 28), smooth_image(rng, 20, 36)


def _sized(a):
    return jax.image.resize(jnp.asarray(a), (24, 32, 3), "linear", antialias=True)


def _config(**kw):
    return Config(**{"style_layers": LAYERS, "content_layers": "relu2_2", "iterations": 3, **kw})


def _grams(params, img, spec):
    f = features(params, TORCHVISION.apply(jnp.asarray(img)), spec.style_layers)
    return {
        k: np.einsum("hwi,hwj->ij", np.asarray(v, np.float64), np.asarray(v, np.float64))
        for k, v in f.items()
    }


def test_blended_targets_are_the_weighted_grams(params, images):
    content, s1, s2 = (_sized(a) for a in images)
    spec = spec_of(_config())
    w = jnp.asarray([0.75, 0.25], jnp.float32)
    t = make_targets(params, content, [s1, s2], spec, TORCHVISION, blend=w)
    g1, g2 = _grams(params, s1, spec), _grams(params, s2, spec)
    for k in spec.style_layers:
        want = 0.75 * g1[k] + 0.25 * g2[k]
        np.testing.assert_allclose(t.style[k], want, rtol=2e-5, atol=1e-6 * np.abs(want).max())


def test_one_style_in_a_list_is_todays_result_bit_for_bit(params, images):
    content, style, _ = images
    config = _config(style_blend_weights=[1.0])
    key = jax.random.key(0)
    alone = stylize(content, style, params, TORCHVISION, _config(), key=key)
    listed = stylize(content, [style], params, TORCHVISION, config, key=key)
    np.testing.assert_array_equal(alone.image, listed.image)
    np.testing.assert_array_equal(alone.history.total, listed.history.total)


def _loss_and_grad(params, content, style, config, x, **targets_kw):
    spec = spec_of(config, regions=1 if "content_guides" in targets_kw else 0)
    targets = make_targets(params, content, style, spec, TORCHVISION, **targets_kw)
    f = jax.value_and_grad(loss_terms, has_aux=True)
    (total, _), grad = f(x, params, targets, weights_of(config, spec), spec, TORCHVISION)
    return np.asarray(total), np.asarray(grad)


@pytest.mark.parametrize("mode", ["simple", "inside"])
def test_an_all_ones_mask_is_exactly_the_unguided_loss(params, images, mode):
    content, style = (jnp.asarray(a) for a in images[:2])
    config = _config(mask_mode=mode)
    x = TORCHVISION.apply(_sized(images[2]))
    prepared = inputs.prepare(
        content[None], [style], [config], spec_of(config, regions=1), [jnp.ones((24, 32))]
    )
    guides = jax.tree.map(lambda a: a[0], prepared.content_guides)
    plain = _loss_and_grad(params, content, prepared.styles[0][0], config, x)
    guided = _loss_and_grad(
        params, content, prepared.styles[0][0], config, x, content_guides=guides
    )
    np.testing.assert_array_equal(plain[0], guided[0])
    np.testing.assert_array_equal(plain[1], guided[1])


def test_two_regions_take_guided_grams_of_their_own_styles(params, images):
    content, s1, s2 = (_sized(a) for a in images)
    top = (np.arange(24)[:, None] < 12) * np.ones((24, 32), np.float32)
    config = _config()
    spec = spec_of(config, regions=2)
    masks = [jnp.asarray(top), jnp.asarray(1.0 - top)]
    prepared = inputs.prepare(content[None], [s1, s2], [config], spec, masks, style_masks=masks)
    one = jax.tree.map(lambda a: a[0], prepared)
    t = make_targets(
        params,
        one.content,
        one.styles,
        spec,
        TORCHVISION,
        content_guides=one.content_guides,
        style_guides=one.style_guides,
    )
    for r, (s, m) in enumerate(((s1, top), (s2, 1.0 - top))):
        f = features(params, TORCHVISION.apply(s), spec.style_layers)
        for k in spec.style_layers:
            stride = 24 // f[k].shape[0]
            g = m[::stride, ::stride][: f[k].shape[0], : f[k].shape[1]]  # pooled half-planes
            g = g / np.sqrt(np.mean(g**2))
            fm = np.asarray(f[k], np.float64) * g[..., None]
            want = np.einsum("hwi,hwj->ij", fm, fm)
            np.testing.assert_allclose(
                t.style[k][r], want, rtol=3e-5, atol=1e-6 * np.abs(want).max()
            )
            np.testing.assert_allclose(one.content_guides[k][r], g, rtol=1e-6)


def test_a_region_that_vanishes_is_reported_once(params, images):
    content, style, _ = images
    dot = np.zeros((24, 32), np.float32)
    dot[10:13, 10:13] = 1.0
    config = _config(mask_mode="inside")
    with pytest.warns(regions.MaskWarning, match=r"mask 1 is empty at relu2_1, relu3_1"):
        stylize(content, [style], params, TORCHVISION, config, masks=[dot], key=jax.random.key(0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"style": 2, "masks": 1}, "1 masks for 2 style"),
        ({"style": 1, "config": {"style_blend_weights": [1, 2]}}, "2 style blend weights for 1"),
        ({"style": 2, "masks": 2, "config": {"style_blend_weights": [1, 2]}}, "drop the blend"),
        ({"style": 1, "masks": 1, "config": {"style_loss": "wasserstein"}}, "Gram style loss"),
        ({"style": 1, "style_masks": 1}, "style masks need content masks"),
        ({"style": 1, "config": {"init": "image"}}, "needs an init_image"),
    ],
)
def test_bad_controls_are_one_line_errors(params, images, kwargs, match):
    content, style, _ = images
    masks = [np.ones((24, 32), np.float32)] * kwargs.get("masks", 0) or None
    smasks = [np.ones((28, 28), np.float32)] * kwargs.get("style_masks", 0) or None
    with pytest.raises(ConfigError, match=match):
        stylize(
            content,
            [style] * kwargs["style"],
            params,
            TORCHVISION,
            _config(**kwargs.get("config", {})),
            masks=masks,
            style_masks=smasks,
            key=jax.random.key(0),
        )


@pytest.mark.parametrize("mode", ["swap", "luminance"])
def test_colour_modes_keep_the_contents_chroma(params, images, mode):
    content, style, _ = images
    out = stylize(
        content, style, params, TORCHVISION, _config(colors=mode), key=jax.random.key(0)
    ).image
    inside = np.all((out > 1e-4) & (out < 1 - 1e-4), axis=-1)
    m = np.asarray(color.RGB_TO_YIQ, np.float64)
    iq = lambda a: (np.asarray(a, np.float64) @ m.T)[..., 1:]  # noqa: E731
    assert inside.mean() > 0.5
    np.testing.assert_allclose(iq(out)[inside], iq(content)[inside], atol=1 / 255)


def test_match_mode_paints_from_the_matched_style(params, images):
    content, style, _ = images
    config = _config(colors="match", iterations=0, init="style")
    got = stylize(content, style, params, TORCHVISION, config).image
    resized = jax.image.resize(jnp.asarray(style), (24, 32, 3), "linear", antialias=True)
    want = color.match_color(resized, jnp.asarray(content), "pca")
    np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-6)


def test_adam_iterates_equal_a_plain_optax_loop():
    target = jnp.linspace(-1.0, 2.0, 12).reshape(4, 3)

    def f(x):
        return jnp.sum((x - target) ** 4) + jnp.sum(x**2), {}

    x0 = jnp.zeros((4, 3))
    rate = (0.1, 0.05, 0.2)
    got, hist = minimize(f, x0, 5, Solver("adam", learning_rate=rate))
    # f is separable per entry, so each channel is a plain optax.adam run at its rate.
    iterates = [x0]
    channels = [(optax.adam(rate[r]), x0[:, r]) for r in range(3)]
    states = [opt.init(xc) for opt, xc in channels]
    for _ in range(5):
        now = iterates[-1]
        step = []
        for r, (opt, _) in enumerate(channels):
            xc = now[:, r]
            g = jax.grad(lambda c, r=r, now=now: f(now.at[:, r].set(c))[0])(xc)
            with jax.numpy_dtype_promotion("standard"):  # optax mixes float and int32
                updates, states[r] = opt.update(g, states[r], xc)
            step.append(optax.apply_updates(xc, updates))
        iterates.append(jnp.stack(step, axis=-1))
    # Adam evaluates the iterate each step starts from (x0..x4), and the lowest is kept.
    values = [float(f(x)[0]) for x in iterates[:5]]
    np.testing.assert_allclose(hist["value"], values, rtol=1e-6)
    want = iterates[int(np.argmin(values))]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert hist["value"].shape == (5,)


def test_adam_and_wasserstein_lower_the_loss(params, images):
    content, style, _ = images
    for config in (
        _config(optimizer="adam", iterations=20, learning_rate=0.05),
        _config(style_loss="wasserstein", iterations=10),
    ):
        h = stylize(content, style, params, TORCHVISION, config, key=jax.random.key(0)).history
        assert np.all(np.isfinite(h.total)) and h.total[-1] < 0.5 * h.total[0], h.total


def test_init_image_is_the_start(params, images):
    content, style, start = images
    start = np.asarray(_sized(start))
    out = stylize(
        content, style, params, TORCHVISION, _config(init="image", iterations=0), init_image=start
    )
    np.testing.assert_allclose(out.image, start, atol=1e-6)


def test_a_batch_mixes_colour_modes_and_blend_weights(params, images):
    content, s1, s2 = images
    configs = [
        _config(colors="swap", style_blend_weights=[3, 1]),
        _config(style_blend_weights=[1, 3]),
    ]
    key = jax.random.key(0)
    batch = stylize(content, [s1, s2], params, TORCHVISION, configs, key=key)
    for i, c in enumerate(configs):
        alone = stylize(content, [s1, s2], params, TORCHVISION, c, key=key)
        np.testing.assert_allclose(batch.image[i], alone.image, atol=2e-4)


def test_photorealism_lowers_the_matting_loss_at_a_similar_style_loss(params):
    rng = np.random.default_rng(2)
    photo, other = smooth_image(rng, 24, 32), smooth_image(rng, 24, 32)
    configs = [_config(init="content", iterations=30, photorealism=w) for w in (0.0, 3.0)]
    h = stylize(photo, other, params, TORCHVISION, configs).history
    # One batch: the term is computed for both items (weight 0 for the first).
    style = sum(h.style[k] for k in h.style)
    assert h.photo[1, -1] < 0.2 * h.photo[0, -1], h.photo[:, -1]
    # Both paint: the style loss falls by more than 90 % (98 % without the term).
    assert np.all(style[:, -1] < 0.1 * style[:, 0]), style[:, [0, -1]]
