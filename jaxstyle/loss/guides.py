"""Spatial guides: a pixel mask taken to each layer's resolution (Gatys et al., CVPR 2017).

"Controlling Perceptual Factors in Neural Style Transfer", Section 4: a region's
style is the Gram matrix of the features weighted by the region's guide ``T_l``,
``G = (F o T_l)(F o T_l)^T``. This module computes the guides from an ``(H, W)``
mask in ``[0, 1]`` (grey levels are weights) without running the network:

* ``"simple"``: the mask resized as the features are: each 2x2 stride-2 pooling
  before (and including, for ``poolN``) the layer is applied to the mask, average or
  max as the network pools; the 'same' convolutions leave it.
* ``"inside"``: a unit counts only as far as its whole receptive field lies in the
  region (an erosion): a 3x3 min at every convolution up to and including the
  layer's own, a 2x2 stride-2 min at every pooling. The image border is not the
  region's edge (the min ignores positions outside the image).

:func:`guides` normalises them to ``mean(T**2) = 1`` (the authors' normalisation)
for the losses; :func:`empty_layers` names the layers where a guide vanished.
Everything is pure JAX on masks only: ``jax.jit`` and ``jax.vmap`` (a batch of
masks) apply unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.loss.equations import gram
from jaxstyle.model.conv import pool2x2
from jaxstyle.model.layers import LAYERS, check_layers

Array = jax.Array

MODES: tuple[str, ...] = ("simple", "inside")


def _min3x3(g: Array) -> Array:
    # +inf padding: the min over the window clipped to the image (an edge-padded min).
    return jax.lax.reduce_window(g, jnp.inf, jax.lax.min, (3, 3), (1, 1), ((1, 1), (1, 1)))


def _min2x2(g: Array) -> Array:
    return jax.lax.reduce_window(g, jnp.inf, jax.lax.min, (2, 2), (2, 2), "VALID")


def layer_guides(
    mask: Array, layers: Sequence[str], mode: str = "simple", pooling: str = "avg"
) -> dict[str, Array]:
    """The mask at each layer's resolution, not yet normalised.

    Args:
        mask: ``(H, W)`` float mask in ``[0, 1]``; soft values are weights.
        layers: VGG19 layer names (see :data:`jaxstyle.model.layers.LAYERS`).
        mode: ``"simple"`` (pooled as the features) or ``"inside"`` (eroded to the
            units whose receptive field lies inside the region).
        pooling: the network's pooling, ``"avg"`` or ``"max"`` (``"simple"`` only;
            ``"inside"`` always takes the min).

    Returns:
        dict layer -> ``(H_l, W_l)`` float32 guide, ``(H_l, W_l) =
        layers.layer_hw((H, W), layer)``.

    Example:
        >>> m = jnp.zeros((8, 8)).at[:, :4].set(1.0)
        >>> layer_guides(m, ["pool1"])["pool1"][0]
        Array([1., 1., 0., 0.], dtype=float32)
        >>> layer_guides(m, ["relu1_2"], mode="inside")["relu1_2"][0]
        Array([1., 1., 0., 0., 0., 0., 0., 0.], dtype=float32)
    """
    return _run(mask, layers, mode, pooling, normalised=False)


def _run(
    mask: Array, layers: Sequence[str], mode: str, pooling: str, normalised: bool
) -> dict[str, Array]:
    check_layers(layers)
    if mode not in MODES:
        raise ValueError(f"guide mode must be 'simple' or 'inside', got {mode!r}")
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    if mask.ndim != 2:
        raise ValueError(f"a mask is (H, W), got shape {tuple(mask.shape)}")
    out = _compute(mask, tuple(dict.fromkeys(layers)), mode, pooling, normalised)
    return {name: out[name] for name in layers}  # jit returns its dicts key-sorted


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _compute(
    mask: Array, layers: tuple[str, ...], mode: str, pooling: str, normalised: bool
) -> dict[str, Array]:
    # One compiled program per (shape, layers, mode, pooling); inlined under jit/vmap.
    g = mask.astype(jnp.float32)
    out: dict[str, Array] = {}
    for name in LAYERS:
        if not set(layers) - set(out):
            break
        if name.startswith("pool"):
            if mode == "simple":
                g = pool2x2(g[None, :, :, None], pooling)[0, :, :, 0]
            else:
                g = _min2x2(g)
        elif name.startswith("conv") and mode == "inside":
            g = _min3x3(g)
        if name in layers:
            out[name] = normalise(g) if normalised else g
    return out


def normalise(guide: Array) -> Array:
    """``guide / sqrt(mean(guide**2))``; an all-zero guide stays all zero.

    Safe under ``jax.grad`` and ``jax.jit``: no NaN, also for a zero guide.

    Args:
        guide: ``(H_l, W_l)`` float guide.

    Returns:
        float array of the guide's shape and dtype, ``mean(T**2) = 1`` unless all zero.

    Example:
        >>> normalise(jnp.array([[0.0, 2.0], [0.0, 2.0]]))
        Array([[0.       , 1.4142135],
               [0.       , 1.4142135]], dtype=float32)
        >>> normalise(jnp.zeros((1, 2)))
        Array([[0., 0.]], dtype=float32)
    """
    # size / sum, a division by a computed value: XLA turns a division by a constant
    # (jnp.mean, or sum / size) into a product with its rounded reciprocal on some
    # versions, and a guide of ones must stay exactly 1.
    ss = jnp.sum(guide * guide)
    nonzero = ss > 0
    safe = jnp.where(nonzero, ss, jnp.ones_like(ss))
    scale = jnp.sqrt(jnp.asarray(max(guide.size, 1), ss.dtype) / safe)
    return jnp.where(nonzero, guide * scale, jnp.zeros_like(guide))


def guides(
    mask: Array, layers: Sequence[str], mode: str = "simple", pooling: str = "avg"
) -> dict[str, Array]:
    """The normalised guides the losses use: :func:`normalise` of :func:`layer_guides`.

    Example:
        >>> t = guides(jnp.ones((8, 8)), ["relu1_1", "relu2_1"], mode="inside")
        >>> {k: (v.shape, float(v.max())) for k, v in t.items()}
        {'relu1_1': ((8, 8), 1.0), 'relu2_1': ((4, 4), 1.0)}
    """
    return _run(mask, layers, mode, pooling, normalised=True)


def empty_layers(guides_dict: Mapping[str, Array]) -> tuple[str, ...]:
    """The layers whose guide is all zero (for a batch ``(B, H_l, W_l)``: any member's).

    A region too thin for a layer's receptive fields vanishes there under
    ``"inside"``; the caller reports these layers rather than divide by zero.

    Example:
        >>> m = jnp.zeros((16, 16)).at[2:14, 2:14].set(1.0)
        >>> empty_layers(layer_guides(m, ["relu1_1", "relu2_1", "relu3_1"], "inside"))
        ('relu3_1',)
    """
    # On the host (numpy): the answer is a Python tuple, never traced.
    flat = {name: np.asarray(g).reshape((*np.shape(g)[:-2], -1)) for name, g in guides_dict.items()}
    return tuple(name for name, g in flat.items() if bool(np.any(np.all(g == 0, axis=-1))))


def guided_gram(features: Array, guide: Array, gram_fn: Callable[[Array], Array] = gram) -> Array:
    """Guided Gram matrix ``G = (F o T)(F o T)^T`` of one layer, unnormalised.

    The features are multiplied by the guide and passed to ``gram_fn``
    (:func:`jaxstyle.loss.equations.gram`, float32 accumulation, or a plug-in's): an all-ones
    guide gives ``gram_fn(features)`` bit for bit.

    Args:
        features: ``(H, W, C)`` activations (float32 or bfloat16).
        guide: ``(H, W)`` guide at this layer (cast to the features' dtype).
        gram_fn: computes the Gram of the guided features.

    Returns:
        ``(C, C)`` float32 matrix.

    Example:
        >>> f = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])  # H=1, W=2, C=2
        >>> guided_gram(f, jnp.array([[1.0, 0.0]]))
        Array([[1., 2.],
               [2., 4.]], dtype=float32)
    """
    if guide.shape != features.shape[:2]:
        raise ValueError(
            f"guide shape {tuple(guide.shape)} does not match features {tuple(features.shape)}"
        )
    return gram_fn(features * guide.astype(features.dtype)[:, :, None])
