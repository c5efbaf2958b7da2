"""A Wasserstein style loss beside the paper's Gram loss (:mod:`jaxstyle.loss.equations`).

Each layer's response, ``(H, W, C)``, is summarised by a Gaussian: the mean ``mu`` and
population covariance ``Sigma`` of its ``C`` channels over the ``M = H * W`` positions.
The loss is the squared 2-Wasserstein distance between the generated image's Gaussian
and the style image's::

    W2^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S2^1/2 S1 S2^1/2)^1/2)

with ``S = Sigma + eps I``. The ``eps I`` keeps every eigenvalue of ``S`` at least
``eps``: a layer with fewer positions than channels (``M < C``) has a singular
covariance, where the square root's derivative is infinite; with ``eps`` the loss and
its gradient stay finite. Unlike ``E_l`` (Eq. 4) the loss is not divided by ``C``:
it grows with the layer's width (crowsonkb/style-transfer-pytorch divides by ``C``).

Matrix square roots go through ``jnp.linalg.eigh`` (any backend), and the last trace
is the sum of the singular values of ``S1^1/2 S2^1/2`` (``jnp.linalg.svd``), which
float32 keeps to round-off of the largest; the roots' derivative is
the Sylvester form ``dY = V [(V^T dA V) / (s_i + s_j)] V^T`` (``s`` the square roots of
the eigenvalues), which stays finite where eigenvalues repeat, as they do when ``eps``
fills a rank-deficient covariance. ``jax.grad`` and ``jax.jvp`` use it; derivatives of
second order go through ``eigh``'s own JVP, which is infinite at repeated eigenvalues.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

#: crowsonkb/style-transfer-pytorch's ``StyleLossW2`` value. On the paper's normalised
#: VGG19 (mean activation 1 per filter) the covariances' leading eigenvalues are of
#: order 1 or more, so ``1e-4 I`` leaves their fit alone, yet it keeps the square roots'
#: eigenvalues and derivatives finite where a layer has fewer positions than channels.
WASSERSTEIN_EPS: float = 1e-4


def _safe_sqrt(x: Array) -> Array:
    """``sqrt(max(x, 0))`` with a zero (not NaN) derivative where ``x <= 0``."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


@jax.custom_jvp
def _psd_sqrt(a: Array) -> Array:
    w, v = jnp.linalg.eigh(a)
    return (v * _safe_sqrt(w)[None, :]) @ v.T


@_psd_sqrt.defjvp
def _psd_sqrt_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(a)
    s = _safe_sqrt(w)
    denom = s[:, None] + s[None, :]
    ok = denom > 0
    rot = v.T @ (0.5 * (da + da.T)) @ v
    dy = jnp.where(ok, rot / jnp.where(ok, denom, 1.0), 0.0)
    return (v * s[None, :]) @ v.T, v @ dy @ v.T


def sqrtm_psd(a: Array, eps: float = 0.0) -> Array:
    """Symmetric square root of a symmetric positive semi-definite matrix, via ``eigh``.

    ``eps`` is added to the diagonal first; eigenvalues below zero (round-off) are
    clamped at zero. Differentiable by ``jax.grad``/``jax.jvp`` with a finite
    derivative wherever no two eigenvalues of ``a + eps I`` are both zero.

    Args:
        a: ``(C, C)`` symmetric PSD matrix (any float dtype; computed in float32).
        eps: added to the diagonal before the root is taken.

    Returns:
        ``(C, C)`` float32 ``Y``, symmetric PSD, with ``Y @ Y = a + eps I``.

    Example:
        >>> sqrtm_psd(jnp.array([[4.0, 0.0], [0.0, 9.0]]))
        Array([[2., 0.],
               [0., 3.]], dtype=float32)
    """
    a = a.astype(jnp.float32)
    return _psd_sqrt(a + eps * jnp.eye(a.shape[-1], dtype=jnp.float32))


def moments(features: Array) -> tuple[Array, Array]:
    """Mean and population covariance of ``(H, W, C)`` features over the ``H W`` positions.

    Accumulated in float32 (centred first) whatever the input dtype, bfloat16 included.

    Args:
        features: ``(H, W, C)`` activations.

    Returns:
        ``(mean, cov)``: ``(C,)`` and ``(C, C)`` float32, ``cov = (F - mean)^T (F - mean) / M``.

    Example:
        >>> mean, cov = moments(jnp.array([[[1.0, 0.0], [3.0, 2.0]]]))
        >>> mean, cov
        (Array([2., 1.], dtype=float32), Array([[1., 1.],
               [1., 1.]], dtype=float32))
    """
    f = features.reshape(-1, features.shape[-1]).astype(jnp.float32)
    mean = jnp.mean(f, axis=0)
    d = f - mean[None, :]
    return mean, (d.T @ d) / f.shape[0]


class StyleMoments(NamedTuple):
    """A style image's Gaussian at one layer, with its covariance's square root.

    Attributes:
        mean: ``(C,)`` float32 mean over positions.
        cov: ``(C, C)`` float32 population covariance, without ``eps``.
        cov_sqrt: ``(C, C)`` float32 ``(cov + eps I)^1/2``.
    """

    mean: Array
    cov: Array
    cov_sqrt: Array


def style_target(mean: Array, cov: Array, eps: float = WASSERSTEIN_EPS) -> StyleMoments:
    """:class:`StyleMoments` of given moments (e.g. from :func:`blend_moments`).

    Example:
        >>> t = style_target(jnp.zeros(2), jnp.array([[4.0, 0.0], [0.0, 9.0]]), eps=0.0)
        >>> t.cov_sqrt
        Array([[2., 0.],
               [0., 3.]], dtype=float32)
    """
    mean, cov = mean.astype(jnp.float32), cov.astype(jnp.float32)
    return StyleMoments(mean, cov, sqrtm_psd(cov, eps))


def style_moments(features: Array, eps: float = WASSERSTEIN_EPS) -> StyleMoments:
    """The precomputed target of :func:`wasserstein_layer_loss` from ``(H, W, C)`` features.

    Example:
        >>> t = style_moments(jnp.array([[[1.0], [3.0]]]), eps=0.0)
        >>> t.mean, t.cov, t.cov_sqrt
        (Array([2.], dtype=float32), Array([[1.]], dtype=float32), Array([[1.]], dtype=float32))
    """
    return style_target(*moments(features), eps)


def blend_moments(
    parts: Sequence[tuple[Array, Array]], weights: Sequence[float] | Array
) -> tuple[Array, Array]:
    """Mean and covariance of the mixture of several styles' Gaussians.

    ``mu = sum_s w_s mu_s``, ``Sigma = sum_s w_s (Sigma_s + mu_s mu_s^T) - mu mu^T``: the
    second raw moments mix linearly, covariances do not. For sets of samples with
    weights proportional to their sizes it is the moments of all samples together.

    Args:
        parts: ``(mean (C,), cov (C, C))`` of each style.
        weights: one per style, non-negative, summing to 1 (checked when Python numbers).

    Returns:
        ``(mean (C,), cov (C, C))`` float32.

    Example:
        >>> one = (jnp.array([0.0]), jnp.array([[1.0]]))
        >>> two = (jnp.array([2.0]), jnp.array([[1.0]]))
        >>> blend_moments([one, two], [0.5, 0.5])
        (Array([1.], dtype=float32), Array([[2.]], dtype=float32))
    """
    if len(parts) != len(weights) or not parts:
        raise ValueError(f"{len(parts)} moments but {len(weights)} weights")
    if all(isinstance(w, (int, float)) for w in weights) and not math.isclose(
        sum(weights), 1.0, rel_tol=1e-6
    ):
        raise ValueError(f"weights sum to {sum(weights)}, not 1")
    means = [m.astype(jnp.float32) for m, _ in parts]
    mean = sum(w * m for w, m in zip(weights, means, strict=True))
    raw = sum(
        w * (c.astype(jnp.float32) + jnp.outer(m, m))
        for w, m, (_, c) in zip(weights, means, parts, strict=True)
    )
    return mean, raw - jnp.outer(mean, mean)


def _w2(mean1: Array, sqrt1: Array, mean2: Array, sqrt2: Array) -> Array:
    """W2^2 of ``N(mean1, sqrt1 @ sqrt1)`` and ``N(mean2, sqrt2 @ sqrt2)``.

    ``tr((R2 S1 R2)^1/2)`` is the sum of the singular values of ``R1 R2``: taken so,
    float32 loses no digits to a square root of the product's tiny eigenvalues.
    """
    dm = mean1.astype(jnp.float32) - mean2.astype(jnp.float32)
    cross = jnp.sum(jnp.linalg.svd(sqrt1 @ sqrt2, compute_uv=False))
    return jnp.sum(dm * dm) + jnp.sum(sqrt1 * sqrt1) + jnp.sum(sqrt2 * sqrt2) - 2.0 * cross


def wasserstein2(
    mean1: Array, cov1: Array, mean2: Array, cov2: Array, eps: float = WASSERSTEIN_EPS
) -> Array:
    """Squared 2-Wasserstein distance of ``N(mean1, cov1 + eps I)`` and ``N(mean2, cov2 + eps I)``.

    Symmetric in its two Gaussians (up to float32 round-off) and differentiable in all
    four arguments; non-negative up to round-off (it is not clamped at zero).

    Args:
        mean1: ``(C,)`` mean.
        cov1: ``(C, C)`` symmetric PSD covariance.
        mean2: ``(C,)`` mean.
        cov2: ``(C, C)`` symmetric PSD covariance.
        eps: added to both covariances' diagonals (:data:`WASSERSTEIN_EPS`).

    Returns:
        float32 scalar.

    Example:
        >>> w = wasserstein2(jnp.zeros(2), jnp.eye(2), jnp.ones(2), 4.0 * jnp.eye(2), eps=0.0)
        >>> round(float(w), 4)  # |1,1|^2 + 2 (2 - 1)^2
        4.0
    """
    return _w2(mean1, sqrtm_psd(cov1, eps), mean2, sqrtm_psd(cov2, eps))


def wasserstein_layer_loss(
    features: Array, target: StyleMoments, eps: float = WASSERSTEIN_EPS
) -> Array:
    """W2^2 between the Gaussian of ``(H, W, C)`` features and a precomputed style target.

    The target's covariance is ``target.cov_sqrt @ target.cov_sqrt`` (its ``eps`` is the
    one given to :func:`style_moments`); the features' is ``cov + eps I``. Use the same
    ``eps`` for both so that identical features give zero.

    Args:
        features: ``(H, W, C)`` activations of the generated image (any float dtype).
        target: :class:`StyleMoments` of the style image at this layer.
        eps: added to the features' covariance.

    Returns:
        float32 scalar.

    Example:
        >>> f = jnp.array([[[1.0, 0.0], [3.0, 2.0], [0.0, 1.0]]])
        >>> abs(float(wasserstein_layer_loss(f, style_moments(f)))) < 1e-5
        True
        >>> round(float(wasserstein_layer_loss(f + 1.0, style_moments(f))), 4)  # |1,1|^2
        2.0
    """
    mean, cov = moments(features)
    return _w2(mean, sqrtm_psd(cov, eps), target.mean, target.cov_sqrt)


def authors_factor(features: Array) -> float:
    """``1 / C``: the layer weight the ``"authors"`` weighting puts on W2^2.

    crowsonkb/style-transfer-pytorch's normalisation: on the real VGG19 it brings W2^2
    of blocks 1-3 to order 1-3 per layer, the order of the Gram term under the
    authors' weighting (0.05-1.5), so the same ``ratio`` paints comparably.

    Example:
        >>> authors_factor(jnp.ones((2, 2, 64)))
        0.015625
    """
    return 1.0 / float(features.shape[-1])
