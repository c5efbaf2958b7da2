"""Colour control of Gatys, Ecker, Bethge, Hertzmann & Shechtman (CVPR 2017), section 5.

Luminance-only transfer, or the style's colours matched to the content's. Images are
float32 RGB in [0, 1], ``(H, W, 3)``; a batch goes through :func:`jax.vmap`; ``mode`` and
``match`` are Python strings (static under :func:`jax.jit`). The authors' code
(``ExampleNotebooks/ColourControl.ipynb`` of leongatys/NeuralImageSynthesis) swaps chroma
in YUV (``rgb2luv``/``luv2rgb``, the inverse rounded to 3 decimals); here it is NTSC YIQ,
as the paper says, with the exact inverse. Both share the Y row and their chroma rows sum
to (about) zero, so replacing Y adds the same amount to R, G and B in either.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.options import COLOR_MATCHES, COLORS

Array = jax.Array

_YIQ64 = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
#: RGB -> YIQ rows (NTSC): ``yiq = RGB_TO_YIQ @ rgb``.
RGB_TO_YIQ = _YIQ64.astype(np.float32)
#: YIQ -> RGB, the exact inverse of the float64 matrix, stored in float32.
YIQ_TO_RGB = np.linalg.inv(_YIQ64).astype(np.float32)
_HI = jax.lax.Precision.HIGHEST  # no TF32 on GPUs: these are 3x3 colour maps


def _apply(m: np.ndarray | Array, x: Array) -> Array:  # m @ x on the last axis of x
    return jnp.einsum("dc,...c->...d", m, jnp.asarray(x, jnp.float32), precision=_HI)


def _check(mode: str, allowed: tuple[str, ...], what: str) -> None:
    if mode not in allowed:
        raise ValueError(f"unknown {what} {mode!r}; expected one of {allowed}")


def rgb_to_yiq(rgb: Array) -> Array:
    """RGB to NTSC YIQ (``Y = 0.299 R + 0.587 G + 0.114 B``).

    Args:
        rgb: float32 ``(..., 3)``.

    Returns:
        float32 ``(..., 3)``: Y, I, Q.

    Example:
        >>> rgb_to_yiq(jnp.ones((2, 2, 3))).round(3)[0, 0].tolist()
        [1.0, 0.0, 0.0]
    """
    return _apply(RGB_TO_YIQ, rgb)


def yiq_to_rgb(yiq: Array) -> Array:
    """YIQ to RGB, the exact inverse of :func:`rgb_to_yiq` (unclipped).

    Args:
        yiq: float32 ``(..., 3)``.

    Returns:
        float32 ``(..., 3)``.

    Example:
        >>> yiq_to_rgb(jnp.array([0.5, 0.0, 0.0])).round(3).tolist()
        [0.5, 0.5, 0.5]
    """
    return _apply(YIQ_TO_RGB, yiq)


def luminance(rgb: Array) -> Array:
    """The luminance Y of RGB pixels.

    Args:
        rgb: float32 ``(..., H, W, 3)``.

    Returns:
        float32 ``(..., H, W)``.

    Example:
        >>> luminance(jnp.ones((4, 5, 3))).shape
        (4, 5)
    """
    return rgb_to_yiq(rgb)[..., 0]


def grey(rgb: Array) -> Array:
    """The luminance Y of ``(..., H, W, 3)`` RGB, replicated to three channels.

    Example:
        >>> grey(jnp.array([[[1.0, 0.0, 0.0]]])).tolist()
        [[[0.29899999499320984, 0.29899999499320984, 0.29899999499320984]]]
    """
    return jnp.stack([luminance(rgb)] * 3, axis=-1)


def match_luminance(style_y: Array, content_y: Array) -> Array:
    """The style's luminance shifted and scaled to the content's mean and std.

    ``(y_s - mean_s) * std_c / std_s + mean_c`` over the last two axes; a flat style
    (``std_s <= 1e-6``) becomes ``mean_c``. The paper's (section 5.1) mean and variance
    match; the authors' notebook shifts the mean only.

    Args:
        style_y: float32 ``(..., H_s, W_s)``.
        content_y: float32 ``(..., H_c, W_c)``.

    Returns:
        float32 ``(..., H_s, W_s)``, unclipped.

    Example:
        >>> match_luminance(jnp.arange(4.0).reshape(2, 2), jnp.full((3, 3), 0.5)).tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """
    s, c = jnp.asarray(style_y, jnp.float32), jnp.asarray(content_y, jnp.float32)
    mu_s, sd_s = s.mean((-2, -1), keepdims=True), s.std((-2, -1), keepdims=True)
    mu_c, sd_c = c.mean((-2, -1), keepdims=True), c.std((-2, -1), keepdims=True)
    scale = jnp.where(sd_s > 1e-6, sd_c / jnp.maximum(sd_s, 1e-6), 0.0)
    return (s - mu_s) * scale + mu_c


def _stats(image: Array, eps: float) -> tuple[Array, Array]:
    """Pixel mean ``(3,)`` and covariance ``(3, 3)`` (over ``N``, not ``N - 1``) + eps I."""
    x = jnp.asarray(image, jnp.float32).reshape(-1, 3)
    mu, d = x.mean(0), x - x.mean(0)[None, :]
    cov = jnp.matmul(d.T, d, precision=_HI) / x.shape[0]
    return mu, cov + eps * jnp.eye(3, dtype=jnp.float32)


def _power(c: Array, p: float) -> Array:
    """``c ** p`` of a symmetric positive-definite ``c`` by eigh."""
    w, v = jnp.linalg.eigh(c)
    w = jnp.maximum(w, jnp.finfo(jnp.float32).tiny) ** p
    return jnp.matmul(v * w[None, :], v.T, precision=_HI)


def match_color(
    style: Array, content: Array, mode: str = "pca", eps: float = 1e-5, clip: bool = True
) -> Array:
    """The style's pixels mapped linearly to the content's colour mean and covariance.

    ``x' = A (x - mu_s) + mu_c``, ``Sigma`` each image's pixel covariance (over N) plus
    ``eps I``. "pca": ``A = Sigma_c^1/2 Sigma_s^-1/2``; "chol": ``A = L_c L_s^-1``
    (Cholesky); "sym" (Monge-Kantorovich): ``A = Sigma_s^-1/2 (Sigma_s^1/2 Sigma_c
    Sigma_s^1/2)^1/2 Sigma_s^-1/2``. The authors' ``match_color(target_img, source_img)``
    (target = style) has the same maps and eps, defaults to "sym", always clips. An unknown
    ``mode`` raises ValueError.

    Args:
        style: float32 ``(H_s, W_s, 3)``, the image recoloured.
        content: float32 ``(H_c, W_c, 3)``, whose colour statistics are taken.
        mode: one of :data:`COLOR_MATCHES`.
        eps: added to each covariance's diagonal.
        clip: clip the result to ``[0, 1]``.

    Returns:
        float32 ``(H_s, W_s, 3)``.

    Example:
        >>> style = jax.random.uniform(jax.random.key(0), (8, 8, 3))
        >>> match_color(style, 0.5 * style, "chol").shape
        (8, 8, 3)
    """
    _check(mode, COLOR_MATCHES, "colour match")
    mu_s, cov_s = _stats(style, eps)
    mu_c, cov_c = _stats(content, eps)
    if mode == "pca":
        a = jnp.matmul(_power(cov_c, 0.5), _power(cov_s, -0.5), precision=_HI)
    elif mode == "chol":
        l_s, l_c = jnp.linalg.cholesky(cov_s), jnp.linalg.cholesky(cov_c)
        a = jnp.linalg.solve(l_s.T, l_c.T).T  # L_c L_s^-1
    else:
        half, inv_half = _power(cov_s, 0.5), _power(cov_s, -0.5)
        mid = _power(jnp.linalg.multi_dot([half, cov_c, half], precision=_HI), 0.5)
        a = jnp.linalg.multi_dot([inv_half, mid, inv_half], precision=_HI)
    x = jnp.asarray(style, jnp.float32).reshape(-1, 3)
    out = (_apply(a, x - mu_s[None, :]) + mu_c[None, :]).reshape(jnp.shape(style))
    return jnp.clip(out, 0.0, 1.0) if clip else out


def with_chroma(image: Array, content: Array) -> Array:
    """The image's luminance with the content's chroma (I, Q), as RGB, unclipped.

    Args:
        image: float32 ``(H, W, 3)``.
        content: float32 ``(H, W, 3)``.

    Returns:
        float32 ``(H, W, 3)``.

    Example:
        >>> content = jnp.array([[[0.8, 0.2, 0.1]]])
        >>> bool(jnp.allclose(with_chroma(content, content), content, atol=1e-6))
        True
    """
    yiq = rgb_to_yiq(content).at[..., 0].set(luminance(image))
    return yiq_to_rgb(yiq)


def prepare(content: Array, style: Array, mode: str, match: str = "pca") -> tuple[Array, Array]:
    """The content and style images a colour mode feeds to the transfer.

    "style", "swap": unchanged. "luminance": the content's Y and the style's Y matched to
    it (:func:`match_luminance`, unclipped; the authors' notebook clips), each replicated
    to three channels. "match": the style recoloured by :func:`match_color` (clipped). An
    unknown ``mode`` or ``match`` raises ValueError.

    Args:
        content: float32 ``(H_c, W_c, 3)``.
        style: float32 ``(H_s, W_s, 3)``.
        mode: one of :data:`COLORS`.
        match: one of :data:`COLOR_MATCHES`, for ``"match"``.

    Returns:
        ``(content, style)``, the shapes of the inputs.

    Example:
        >>> c, s = prepare(jnp.ones((4, 4, 3)), jnp.zeros((6, 6, 3)), "luminance")
        >>> c.shape, s.shape
        ((4, 4, 3), (6, 6, 3))
    """
    _check(mode, COLORS, "colour mode")
    if mode == "luminance":
        y_s = match_luminance(luminance(style), luminance(content))
        return grey(content), jnp.stack([y_s] * 3, axis=-1)
    if mode == "match":
        return content, match_color(style, content, match)
    return content, style


def finish(image: Array, content: Array, mode: str) -> Array:
    """The transfer's result in a colour mode's colours (unclipped: the caller clips).

    "luminance", "swap": :func:`with_chroma` of the result and the original content (the
    authors' Y of the grey result is its channel mean, the same); "style", "match": as is. An unknown ``mode`` raises ValueError.

    Args:
        image: float32 ``(H, W, 3)``, the optimised image.
        content: float32 ``(H, W, 3)``, the original content image.
        mode: one of :data:`COLORS`.

    Returns:
        float32 ``(H, W, 3)``.

    Example:
        >>> finish(jnp.full((2, 2, 3), 0.5), jnp.ones((2, 2, 3)), "swap").round(3)[0, 0].tolist()
        [0.5, 0.5, 0.5]
    """
    _check(mode, COLORS, "colour mode")
    if mode in ("luminance", "swap"):
        return with_chroma(image, content)
    return image
