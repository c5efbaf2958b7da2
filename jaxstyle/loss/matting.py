"""The photorealism regulariser of Luan et al., "Deep Photo Style Transfer" (CVPR 2017).

``L_m = sum_c V_c[O]^T L V_c[O]``, where ``L`` is the matting Laplacian of Levin,
Lischinski & Weiss, "A Closed-Form Solution to Natural Image Matting" (2008), built
from the content image ``I`` and applied to each channel ``V_c[O]`` of the output,
flattened. It is small where the output is locally an affine function of the content
colours. ``L`` is never formed: it is ``N x N`` for ``N = H W`` pixels. Everything here
is window sums over the 9 shifted slices of the image, so memory and time grow as ``N``.

For each 3x3 window ``k`` lying wholly inside the image (centres at rows ``1..H-2``,
columns ``1..W-2``: ``(H-2)(W-2)`` windows of ``|w| = 9`` pixels), with mean colour
``mu_k`` and centred covariance ``S_k = mean_i (I_i - mu_k)(I_i - mu_k)^T``,

    L[i, j] = sum_{k : i, j in w_k} delta_ij - (1 + d_ik^T A_k d_jk) / 9,
    d_ik = I_i - mu_k,   A_k = (S_k + eps/9 Id)^{-1}.

Per window, with ``v_bar = sum_i v_i / 9``, ``b_k = sum_i v_i d_ik`` (a 3-vector) and
``beta_k = A_k b_k / 9``, the window's part of ``L v`` at its pixel ``i`` is the
residual ``r_ik = v_i - v_bar - d_ik^T beta_k``, and its part of ``v^T L v`` is
``sum_i r_ik^2 + eps |beta_k|^2``: the residual of a ridge regression of ``v`` on the
window's colours (:func:`matting_loss`).

Conditioning: with ``eps = 1e-7`` a near-constant window has ``A_k`` up to ``9e7``, and
a window whose colours lie near a line or plane (grey, or one channel clipped) is
nearly singular in that direction; float32 errors there grow with the condition
number of ``S_k + eps/9 Id`` (up to ~1e8), far above round-off. On textured images (random,
or natural ones with noise) the covariances are well conditioned and the results are
float32-accurate; flat or saturated regions deserve a larger ``eps``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

#: The regularisation of Luan et al.'s code (and Levin et al.'s): 1e-7.
EPS = 1e-7


class MattingStats(NamedTuple):
    """The per-window statistics of a content image, computed once by :func:`matting_stats`.

    Attributes:
        mean: ``(H-2, W-2, 3)`` float32, window mean colours ``mu_k``.
        inv_cov: ``(H-2, W-2, 3, 3)`` float32, ``(S_k + eps/9 Id)^{-1}`` (symmetric).
        content: ``(H, W, 3)`` float32, the content image: ``L v`` needs the centred
            colours ``I_i - mu_k``, which the window means alone do not determine.
        eps: ``()`` float32, the regulariser (the loss's ``eps |beta_k|^2`` term).
    """

    mean: Array
    inv_cov: Array
    content: Array
    eps: Array


_OFFSETS = [(a, b) for a in range(3) for b in range(3)]


def _slices(x: Array) -> list[Array]:
    """The 9 windows' views: ``x[a : a+H-2, b : b+W-2]`` for offsets ``a, b`` in ``0..2``."""
    h, w = x.shape[0] - 2, x.shape[1] - 2
    return [x[a : a + h, b : b + w] for a, b in _OFFSETS]


def _scatter(parts: list[Array]) -> Array:
    """Adjoint of :func:`_slices`: adds each offset's ``(H-2, W-2)`` part back at its place."""
    out = [jnp.pad(p, ((a, 2 - a), (b, 2 - b))) for (a, b), p in zip(_OFFSETS, parts, strict=True)]
    return sum(out[1:], out[0])


@jax.jit
def matting_stats(content: Array, eps: float = EPS) -> MattingStats:
    """Window means and regularised inverse colour covariances of the content image.

    Covariances are centred first (``mean (I - mu)(I - mu)^T``, not ``E[I I^T] - mu
    mu^T``) and inverted in closed form (adjugate over determinant, symmetric 3x3).

    Args:
        content: ``(H, W, 3)`` float32 in ``[0, 1]``, ``H, W >= 3``.
        eps: the regulariser; ``eps / 9`` is added to each covariance's diagonal.

    Returns:
        :class:`MattingStats` of ``(H-2, W-2)`` windows, float32.

    Example:
        >>> img = jax.random.uniform(jax.random.key(0), (4, 5, 3))
        >>> stats = matting_stats(img)
        >>> stats.mean.shape, stats.inv_cov.shape
        ((2, 3, 3), (2, 3, 3, 3))
    """
    if content.ndim != 3 or content.shape[-1] != 3 or min(content.shape[:2]) < 3:
        raise ValueError(f"content must be (H, W, 3) with H, W >= 3, got {content.shape}")
    img = content.astype(jnp.float32)
    # Colour planes (H, W), not (H, W, 3): all elementwise, no reductions over a dim of 3.
    views = [_slices(img[..., c]) for c in range(3)]
    mean = [sum(vs[1:], vs[0]) / 9.0 for vs in views]
    ds = [[x - m for x in vs] for vs, m in zip(views, mean, strict=True)]

    def cov(i: int, j: int) -> Array:
        return sum(x * y for x, y in zip(ds[i], ds[j], strict=True)) / 9.0

    reg = eps / 9.0
    a, b, c = cov(0, 0) + reg, cov(0, 1), cov(0, 2)
    d, e, f = cov(1, 1) + reg, cov(1, 2), cov(2, 2) + reg
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    rows = ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))
    inv = jnp.stack([jnp.stack(row, axis=-1) for row in rows], axis=-2) / det[..., None, None]
    return MattingStats(jnp.stack(mean, axis=-1), inv, img, jnp.float32(eps))


def _residuals(v: Array, stats: MattingStats) -> tuple[list[Array], list[Array]]:
    """Each offset's ``r_ik`` and each colour's ``beta_k``: 9 and 3 ``(H-2, W-2)`` planes."""
    views = _slices(v.astype(jnp.float32))
    # Colour planes, elementwise throughout (see matting_stats).
    ds = [[x - stats.mean[..., c] for x in _slices(stats.content[..., c])] for c in range(3)]
    mean_v = sum(views[1:], views[0]) / 9.0
    us = [x - mean_v for x in views]
    b = [sum(u * d for u, d in zip(us, dc, strict=True)) for dc in ds]
    inv = stats.inv_cov
    beta = [sum(inv[..., i, j] * b[j] for j in range(3)) / 9.0 for i in range(3)]
    rs = [
        u - ds[0][k] * beta[0] - ds[1][k] * beta[1] - ds[2][k] * beta[2] for k, u in enumerate(us)
    ]
    return rs, beta


@jax.jit
def laplacian_apply(v: Array, stats: MattingStats) -> Array:
    """``L v``, the matting Laplacian's action on one channel, matrix-free.

    Args:
        v: ``(H, W)`` float32, one channel of the output image.
        stats: :func:`matting_stats` of the ``(H, W, 3)`` content image.

    Returns:
        ``(H, W)`` float32, ``(L v)_i = sum_{k : i in w_k} r_ik``.

    Example:
        >>> img = jax.random.uniform(jax.random.key(0), (4, 5, 3))
        >>> lv = laplacian_apply(jnp.ones((4, 5)), matting_stats(img))
        >>> lv.shape, bool(jnp.max(jnp.abs(lv)) < 1e-5)  # constants are in L's null space
        ((4, 5), True)
    """
    return _scatter(_residuals(v, stats)[0])


@jax.jit
def matting_loss(image: Array, stats: MattingStats) -> Array:
    """``L_m = sum_c V_c[O]^T L V_c[O]``, Luan et al.'s photorealism regulariser.

    The quadratic form in the window sums ``s_k`` and ``b_k``, per window and channel
    ``sum_i v_i^2 - (s_k^2 + b_k^T A_k b_k) / 9``, computed as the equal sum of squares
    ``sum_i r_ik^2 + eps |beta_k|^2`` (the residual of a ridge regression of ``v`` on
    the window's colours). It is the same function, but ``>= 0`` by construction and
    accurate to float32 near its minimum, where the difference form cancels: on a
    locally affine output plus noise of 1e-3 the difference form is off by ~1e-3
    relative, this one by ~4e-7. Because ``L`` is symmetric, the derivative is
    ``2 (L v)^T dv``: a custom JVP states it with :func:`laplacian_apply`, so
    ``jax.grad`` gives ``2 L v`` per channel, at the cost of three applications (XLA's
    autodiff of the window sums is correct but orders of magnitude slower on CPU).
    ``jax.jvp``, ``jax.vmap`` and ``jax.jit`` apply too; ``stats`` are constants (no
    derivative through the content image).

    It sums over the ``(H-2)(W-2)`` windows, so it grows with the image about as ``N
    = H W``; divide by ``N`` (or the window count) for a weight that carries over
    between sizes.

    Args:
        image: ``(H, W, 3)`` float32 output image ``O`` in ``[0, 1]``.
        stats: :func:`matting_stats` of the ``(H, W, 3)`` content image.

    Returns:
        float32 scalar, ``>= 0``.

    Example:
        >>> img = jax.random.uniform(jax.random.key(0), (4, 5, 3))
        >>> stats = matting_stats(img)
        >>> bool(matting_loss(img, stats) < 1e-5)  # O = I is locally affine in I
        True
    """
    return _loss(image.astype(jnp.float32), jax.lax.stop_gradient(stats))


@jax.custom_jvp
def _loss(image: Array, stats: MattingStats) -> Array:
    def one(v: Array) -> Array:
        rs, beta = _residuals(v, stats)
        return jnp.sum(sum(r * r for r in rs)) + stats.eps * jnp.sum(sum(x * x for x in beta))

    return jnp.sum(jax.vmap(one)(jnp.moveaxis(image, -1, 0)))


@_loss.defjvp
def _loss_jvp(primals: tuple[Array, MattingStats], tangents: tuple[Array, MattingStats]):
    # d(v^T L v) = 2 (L v)^T dv; stats are constants (stop_gradient in matting_loss).
    image, stats = primals
    lv = jax.vmap(laplacian_apply, in_axes=(-1, None), out_axes=-1)(image, stats)
    return _loss(image, stats), 2.0 * jnp.sum(lv * tangents[0])
