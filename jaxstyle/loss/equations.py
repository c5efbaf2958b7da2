"""The paper's losses, as pure functions of arrays.

Every function here takes one image's activations, shape ``(H, W, C)``, and returns a
float32 scalar (or a ``(C, C)`` Gram matrix); batches go through ``jax.vmap``
unchanged. The notation follows Gatys, Ecker & Bethge (CVPR 2016), Section 2:
``F`` is the layer's response reshaped to ``N_l x M_l`` (``N_l = C`` filters,
``M_l = H * W`` positions).

=========================  ====================================================
paper                      code
=========================  ====================================================
Eq. 1  L_content           :func:`content_loss`
Eq. 3  G^l = F F^T         :func:`gram`
Eq. 4  E_l                 :func:`style_layer_loss`, :func:`gram_loss`
Eq. 5  L_style             :func:`style_loss`
Eq. 7  L_total             :func:`total_loss`
=========================  ====================================================

The paper's equations are kept exactly. Its alpha/beta on them is not a strength
that carries over between images: Eq. 1 sums over ``N_c M_c`` entries and grows with
the image, Eq. 4 divides by ``N_l^2 M_l^2`` and does not. The authors' own code
(Gatys' PyTorch notebook) weights the terms so that neither grows: content as a
mean squared error and each Gram term by ``1e3 / N_l^2`` of the mean squared error of
Grams divided by their positions. In the paper's terms that is a content weight
:func:`authors_content_factor` ``= 2 / (N_c M_c)`` on Eq. 1 and a layer weight
:func:`authors_style_factor` ``= 4e3 / N_l^2`` on Eq. 4.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

Array = jax.Array


def gram(features: Array) -> Array:
    """Gram matrix ``G = F F^T`` of one layer's response (Eq. 3), unnormalised.

    Plain JAX, differentiable in every mode (``jax.grad``, ``jax.jvp``, Hessians).

    Args:
        features: ``(H, W, C)`` activations.

    Returns:
        ``(C, C)`` float32 matrix, ``G[i, j] = sum_k F[i, k] F[j, k]``.

    Example:
        >>> gram(jnp.array([[[1.0, 2.0]]]))
        Array([[1., 2.],
               [2., 4.]], dtype=float32)
    """
    f = features.reshape(-1, features.shape[-1])
    # f32 accumulation even when activations are bf16: Grams sum H*W products.
    return jnp.einsum("mi,mj->ij", f, f, preferred_element_type=jnp.float32)


def content_loss(features: Array, target: Array) -> Array:
    """``L_content = 1/2 sum (F - P)^2`` (Eq. 1), for ``(H, W, C)`` arrays."""
    diff = features.astype(jnp.float32) - target.astype(jnp.float32)
    return 0.5 * jnp.sum(diff * diff)


def style_layer_loss(
    features: Array,
    target_gram: Array,
    gram_fn: Callable[[Array], Array] = gram,
    positions: int | None = None,
) -> Array:
    """``E_l = sum (G - A)^2 / (4 N_l^2 M_l^2)`` (Eq. 4).

    Args:
        features: ``(H, W, C)`` activations of the generated image.
        target_gram: ``(C, C)`` Gram matrix ``A`` of the style image at this layer.
        gram_fn: computes ``G`` (default :func:`gram`; the CPU plug-in passes its own).
        positions: ``M_l`` when ``features`` holds zero rows of padding (default
            ``H * W``).
    """
    n = features.shape[-1]
    m = features.size // n if positions is None else positions
    return gram_loss(gram_fn(features), target_gram, m)


def gram_loss(g: Array, target_gram: Array, positions: int) -> Array:
    """Eq. 4 from the Gram ``G`` ``(C, C)`` itself, over ``positions`` (``M_l``).

    Example:
        >>> f = jnp.ones((2, 3, 4))
        >>> bool(gram_loss(gram(f), jnp.zeros((4, 4)), 6) == style_layer_loss(f, jnp.zeros((4, 4))))
        True
    """
    n = g.shape[-1]
    diff = g - target_gram
    return jnp.sum(diff * diff) / (4.0 * float(n) ** 2 * float(positions) ** 2)


def authors_content_factor(features: Array) -> float:
    """``2 / (N_c M_c)``: Eq. 1 times it is the mean squared error of ``(H, W, C)`` features.

    Example:
        >>> f, p = jnp.ones((2, 3, 4)), jnp.zeros((2, 3, 4))
        >>> float(authors_content_factor(f) * content_loss(f, p)), float(jnp.mean((f - p) ** 2))
        (1.0, 1.0)
    """
    return 2.0 / features.size


def authors_style_factor(features: Array) -> float:
    """``4e3 / N_l^2``: Eq. 4 times it is the authors' ``1e3/N_l^2 * MSE(G/M_l, A/M_l)``.

    Example:
        >>> f, a = jnp.ones((2, 3, 4)), jnp.zeros((4, 4))
        >>> mse = jnp.mean(((gram(f) - a) / 6) ** 2)  # M_l = 2 * 3 positions
        >>> round(float(authors_style_factor(f) * style_layer_loss(f, a)), 3), round(float(1e3 / 16 * mse), 3)
        (62.5, 62.5)
    """
    return 4e3 / float(features.shape[-1]) ** 2


def _weighted_sum(
    loss: Callable[[Array, Array], Array],
    features: Mapping[str, Array],
    targets: Mapping[str, Array],
    weights: Mapping[str, float | Array],
) -> Array:
    terms = [w * loss(features[k], targets[k]) for k, w in weights.items()]
    return jnp.sum(jnp.stack(terms)) if terms else jnp.zeros((), jnp.float32)


def style_loss(
    features: Mapping[str, Array],
    target_grams: Mapping[str, Array],
    weights: Mapping[str, float | Array],
) -> Array:
    """``L_style = sum_l w_l E_l`` (Eq. 5) over the layers in ``weights``."""
    return _weighted_sum(style_layer_loss, features, target_grams, weights)


def weighted_content_loss(
    features: Mapping[str, Array],
    targets: Mapping[str, Array],
    weights: Mapping[str, float | Array],
) -> Array:
    """``sum_l w_l L_content^l`` over the layers in ``weights`` (the paper uses one)."""
    return _weighted_sum(content_loss, features, targets, weights)


def tv_loss(image: Array) -> Array:
    """Total variation ``sum (x[i+1,j]-x[i,j])^2 + (x[i,j+1]-x[i,j])^2`` of ``(H, W, C)``.

    Not in the paper; an optional smoothness prior many implementations add.
    """
    x = image.astype(jnp.float32)
    dh = x[1:, :, :] - x[:-1, :, :]
    dw = x[:, 1:, :] - x[:, :-1, :]
    return jnp.sum(dh * dh) + jnp.sum(dw * dw)


def total_loss(content: Array, style: Array, alpha: float | Array, beta: float | Array) -> Array:
    """``L_total = alpha L_content + beta L_style`` (Eq. 7)."""
    return alpha * content + beta * style
