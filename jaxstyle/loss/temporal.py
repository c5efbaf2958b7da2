"""The temporal losses of Ruder, Dosovitskiy & Brox (GCPR 2016), sections 3.2 and 3.3.

A frame of a clip is pulled towards earlier results warped onto it (:func:`jaxstyle.warp`),
wherever the warp can be trusted (:func:`jaxstyle.flow_reliability`):

- short-term (Eq. 7): ``L = 1/D sum_k c_k (x_k - w_k)^2``, ``D = H W 3``, ``c`` the
  reliability repeated over the channels;
- long-term (Eq. 8): the sum of the short-term loss over the frames ``i - j``,
  ``j`` in ``J``, each with the weights of Eq. 9, so that every pixel is counted once,
  by the closest frame that sees it (:func:`long_term_weights`).

Both act on RGB images in [0, 1]; a frame's references travel as one :class:`Temporal`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Temporal(NamedTuple):
    """The references of one frame (a batch adds a leading ``(B,)`` axis).

    Attributes:
        images: ``(K, H, W, 3)`` float32 RGB in [0, 1]: earlier results warped onto
            this frame, the closest first.
        weights: ``(K, H, W)`` float32 in [0, 1]: each reference's per-pixel weight
            (for the long-term loss, :func:`long_term_weights` of the reliabilities);
            all 0 where a frame has no such reference.
    """

    images: Array
    weights: Array


def temporal_loss(image: Array, temporal: Temporal) -> Array:
    """Eqs. 7-8 of Ruder et al.: ``sum_k 1/D sum c_k (image - images_k)^2``, a float32 scalar.

    Args:
        image: ``(H, W, 3)`` RGB in [0, 1], the frame being optimised.
        temporal: its :class:`Temporal` references.

    Example:
        >>> x = jnp.zeros((2, 2, 3))
        >>> refs = Temporal(jnp.ones((1, 2, 2, 3)), jnp.array([[[1.0, 1.0], [0.0, 0.0]]]))
        >>> float(temporal_loss(x, refs))  # half the pixels trusted, each off by 1
        0.5
    """
    diff = (image[None] - temporal.images) ** 2
    per = jnp.sum(temporal.weights[..., None] * diff, axis=(1, 2, 3)) / float(image.size)
    return jnp.sum(per).astype(jnp.float32)


def long_term_weights(reliabilities: Array) -> Array:
    """Eq. 9 of Ruder et al.: ``c_long_j = max(c_j - sum_{k closer than j} c_k, 0)``.

    Args:
        reliabilities: ``(K, H, W)`` in [0, 1], the reliability of each reference's
            warp onto this frame, the closest frame first (``J`` sorted ascending).

    Returns:
        ``(K, H, W)``: the first unchanged; each later one only where no closer
        reference is trusted.

    Example:
        >>> c = jnp.array([[[1.0, 0.0]], [[1.0, 1.0]]])
        >>> long_term_weights(c)[:, 0].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    closer = jnp.cumsum(reliabilities, axis=0) - reliabilities
    return jnp.maximum(reliabilities - closer, 0.0)


def none(hw: tuple[int, int], count: int) -> Temporal:
    """``count`` references of weight 0: a frame with nothing earlier to match.

    Example:
        >>> none((2, 3), 1).weights.shape
        (1, 2, 3)
    """
    h, w = hw
    return Temporal(jnp.zeros((count, h, w, 3), jnp.float32), jnp.zeros((count, h, w), jnp.float32))
