"""The weight normalisation of Gatys et al. (2016), as a pure function.

"We normalized the network by scaling the weights such that the mean activation
of each convolutional filter over images and positions is equal to one." For each
conv layer ``k`` (in order conv1_1 ... conv5_4) and output channel ``c`` with mean
post-ReLU activation ``m`` over the calibration images, the kernel and bias of
channel ``c`` are divided by ``m`` and the next conv's kernel slice reading input
channel ``c`` is multiplied by ``m``. ReLU and pooling (average or max) commute
with a positive per-channel scale, so every later layer sees its input divided per
channel and undoes it exactly: afterwards each activation of the network equals the
original one divided by its channel's factor.

Because layer ``k``'s pre-activations are unchanged by the rescaling of layers
``< k`` (their scale is undone by the ``m`` multiplied into layer ``k``'s inputs),
the factors of every layer are the mean activations of the *original* network, and
one forward pass over the calibration set measures them all.

Filters that never fire on the calibration set (mean exactly 0, "dead") are left
unscaled and counted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import CONV_LAYERS, held_layers
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, blocks_of, features

#: Side (pixels) of the square calibration crops.
CALIBRATION_SIZE = 64

RELU_LAYERS: tuple[str, ...] = tuple(name.replace("conv", "relu") for name in CONV_LAYERS)


def calibration_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("jaxstyle") / "assets" / "calibration"))


def load_calibration(size: int = CALIBRATION_SIZE) -> list[np.ndarray]:
    """The bundled calibration images, centre-cropped square and resized to ``size``."""
    from jaxstyle.images.read import load_image, resize_long_side

    images = []
    for path in sorted(calibration_dir().glob("*.jpg")):
        arr = load_image(path)
        h, w = arr.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images.append(resize_long_side(arr[top : top + s, left : left + s], size))
    if not images:
        raise WeightsError(f"no calibration images found in {calibration_dir()}")
    return images


@functools.partial(jax.jit, static_argnames=("preprocess", "pooling", "layers"))
def _channel_means(
    params: Params, rgb: jax.Array, preprocess: Preprocess, pooling: str, layers: tuple[str, ...]
) -> dict[str, jax.Array]:
    acts = features(
        params,
        preprocess.apply(rgb),
        layers,
        pooling=pooling,
        precision=jax.lax.Precision.HIGHEST,
    )
    return {k: jnp.mean(v, axis=(0, 1, 2)) for k, v in acts.items()}


def mean_activations(
    params: Params,
    images: Sequence[np.ndarray],
    preprocess: Preprocess,
    pooling: str = "avg",
    layers: Sequence[str] = RELU_LAYERS,
) -> dict[str, np.ndarray]:
    """Mean activation of every channel of ``layers`` over images and positions.

    Images of one size are batched; each image counts equally whatever its size.
    """
    if len(images) == 0:
        raise WeightsError("calibration needs at least one image")
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for im in images:
        a = np.asarray(im, np.float32)
        if a.ndim != 3 or a.shape[-1] != 3:
            raise WeightsError(f"calibration images must be (H, W, 3), got {a.shape}")
        by_shape.setdefault(a.shape, []).append(a)
    total: dict[str, np.ndarray] = {}
    for group in by_shape.values():
        means = _channel_means(
            params, jnp.asarray(np.stack(group)), preprocess, pooling, tuple(layers)
        )
        for k, v in means.items():
            total[k] = total.get(k, 0.0) + np.asarray(v, np.float64) * len(group)
    return {k: total[k] / len(images) for k in layers}


def rescale(
    params: Params,
    images: Sequence[np.ndarray],
    preprocess: Preprocess,
    pooling: str = "avg",
) -> tuple[Params, dict[str, Any]]:
    """Normalises ``params`` so every live filter's mean activation on ``images`` is 1.

    Args:
        params: VGG19 params (HWIO kernels), all 16 convolutions or those of the
            first blocks only.
        images: calibration images, ``(H, W, 3)`` RGB in [0, 1].
        preprocess: how the images become network input.
        pooling: ``"avg"`` or ``"max"``; both commute with the per-channel scale.

    Returns:
        ``(new_params, stats)``: float32 numpy params and JSON-serialisable stats:
        ``mean_activation`` and ``factor`` (per layer, per channel), ``dead``
        (per layer count), ``dead_total``, ``images`` (how many), ``pooling``.
    """
    convs = held_layers(blocks_of(params))  # all 16, or the first blocks'
    relus = tuple(k.replace("conv", "relu") for k in convs)
    means = mean_activations(params, images, preprocess, pooling, relus)
    new: dict[str, dict[str, np.ndarray]] = {
        k: {leaf: np.array(v, np.float32) for leaf, v in params[k].items()} for k in convs
    }
    stats: dict[str, Any] = {
        "mean_activation": {},
        "factor": {},
        "dead": {},
        "images": len(images),
        "pooling": pooling,
    }
    for idx, (conv, relu) in enumerate(zip(convs, relus, strict=True)):
        m = means[relu]
        live = m > 0
        factor = np.where(live, m, 1.0).astype(np.float32)
        new[conv]["kernel"] = new[conv]["kernel"] / factor
        new[conv]["bias"] = new[conv]["bias"] / factor
        if idx + 1 < len(convs):
            nxt = convs[idx + 1]
            new[nxt]["kernel"] = new[nxt]["kernel"] * factor[:, None]
        stats["mean_activation"][conv] = [float(x) for x in m]
        stats["factor"][conv] = [float(x) for x in factor]
        stats["dead"][conv] = int((~live).sum())
    stats["dead_total"] = int(sum(stats["dead"].values()))
    return new, stats
