"""VGG19's layer names and the arithmetic of their shapes; no arrays, no JAX.

Layer names follow the Caffe/VGG convention the style-transfer literature uses:
``conv{b}_{i}`` is the convolution's output before the ReLU, ``relu{b}_{i}`` after
it, ``pool{b}`` the pooled output of block ``b``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jaxstyle.errors import WeightsError

#: The largest float32: a loss weight or ratio past it would be infinite on the device.
FLOAT32_MAX = 3.4028234663852886e38

#: Channel width of each of the five blocks of VGG19.
VGG19_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: Convolutions per block in VGG19.
VGG19_DEPTHS: tuple[int, ...] = (2, 2, 4, 4, 4)

CONV_LAYERS: tuple[str, ...] = tuple(
    f"conv{b + 1}_{i + 1}" for b, depth in enumerate(VGG19_DEPTHS) for i in range(depth)
)


def _layer_sequence() -> tuple[str, ...]:
    names: list[str] = []
    for b, depth in enumerate(VGG19_DEPTHS):
        for i in range(depth):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    return tuple(names)


#: Every named activation, in the order the network computes them.
LAYERS: tuple[str, ...] = _layer_sequence()


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    """Returns ``layers`` as a tuple, raising ``ValueError`` naming any unknown layer."""
    unknown = [name for name in layers if name not in LAYERS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 layer {unknown[0]!r}; known layers are conv1_1..conv5_4, "
            "relu1_1..relu5_4 and pool1..pool5"
        )
    return tuple(layers)


def layer_weights(value: Any) -> tuple[tuple[str, float], ...]:
    """``(layer, weight)`` pairs from a dict, pairs, or a string, checked.

    A string is comma-separated: plain names share weight 1 equally, ``name:weight``
    gives each its own (all or none).

    Raises:
        ValueError: an unknown or repeated layer, a weight that is not a finite
            number >= 0, or a list mixing weighted and plain names.

    Example:
        >>> layer_weights("relu1_1,relu2_1"), layer_weights("relu1_1:0.7,relu3_1:0.3")
        ((('relu1_1', 0.5), ('relu2_1', 0.5)), (('relu1_1', 0.7), ('relu3_1', 0.3)))
    """
    if isinstance(value, Mapping):
        items = tuple((str(k), float(v)) for k, v in value.items())
    elif isinstance(value, str):
        names = [t.strip() for t in value.split(",") if t.strip()]
        weighted = [":" in n for n in names]
        if any(weighted) and not all(weighted):
            raise ValueError(f"give every layer a weight (name:weight) or none, got {value!r}")
        pairs = [n.partition(":")[::2] for n in names]
        if not any(weighted):
            pairs = [(n, str(1.0 / len(names))) for n in names]
        bad = [f"{k.strip()}:{w}" for k, w in pairs if not _is_number(w)]
        if bad:
            raise ValueError(f"the weight in {bad[0]!r} must be a number")
        items = tuple((k.strip(), float(w)) for k, w in pairs)
    else:
        items = tuple((str(k), float(v)) for k, v in value)
    check_layers([k for k, _ in items])
    if len({k for k, _ in items}) != len(items):
        raise ValueError(f"a layer is named twice in {[k for k, _ in items]}")
    for k, w in items:
        if not (math.isfinite(w) and 0 <= w <= FLOAT32_MAX):
            raise ValueError(f"weight of {k} must be a number in [0, {FLOAT32_MAX:.4g}], got {w}")
    return items


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def block_of(layer: str) -> int:
    """The block (1-5) that computes ``layer``.

    Example:
        >>> block_of("conv1_1"), block_of("relu3_2"), block_of("pool4")
        (1, 3, 4)
    """
    check_layers([layer])
    return int(layer.removeprefix("pool")[0] if layer.startswith("pool") else layer[4])


def held_layers(blocks: int) -> tuple[str, ...]:
    """The convolutions of VGG19's first ``blocks`` blocks, in network order.

    Example:
        >>> held_layers(2)
        ('conv1_1', 'conv1_2', 'conv2_1', 'conv2_2')
    """
    return tuple(name for name in CONV_LAYERS if int(name[4]) <= blocks)


def check_depth(layers: Sequence[str], blocks: int) -> None:
    """Raises :class:`~jaxstyle.errors.WeightsError` if a layer lies past ``blocks`` blocks.

    A weights file may hold only VGG19's first blocks (see :func:`blocks_of`); a layer
    past them is an error, never a layer computed from missing weights.

    Example:
        >>> check_depth(["relu1_1", "relu3_1"], 3)
        >>> check_depth(["relu4_2"], 3)
        Traceback (most recent call last):
        ...
        jaxstyle.errors.WeightsError: layer relu4_2 needs block 4 of VGG19, but these weights hold blocks 1-3 only (conv1_1 ... conv3_4); use layers up to relu3_4
    """
    for name in layers:
        if block_of(name) > blocks:
            last = f"conv{blocks}_{VGG19_DEPTHS[blocks - 1]}"
            raise WeightsError(
                f"layer {name} needs block {block_of(name)} of VGG19, but these weights hold "
                f"blocks 1-{blocks} only (conv1_1 ... {last}); use layers up to "
                f"{last.replace('conv', 'relu')}"
            )


def min_size(layers: Sequence[str]) -> int:
    """Smallest image side (pixels) for which every layer in ``layers`` is non-empty.

    Each pooling before a layer halves (floors) the side, so a layer after ``k``
    pools needs ``2**k`` pixels.

    Example:
        >>> min_size(["relu1_1"]), min_size(["relu5_1"]), min_size(["pool5"])
        (1, 16, 32)
    """
    deepest = max((LAYERS.index(name) for name in check_layers(layers)), default=0)
    return 2 ** pools_before(LAYERS[deepest])


def pools_before(layer: str) -> int:
    """How many 2x2 poolings an input passes through up to and including ``layer``.

    Example:
        >>> pools_before("relu1_1"), pools_before("relu3_2"), pools_before("pool3")
        (0, 2, 3)
    """
    return block_of(layer) - (0 if layer.startswith("pool") else 1)


def layer_hw(hw: tuple[int, int], layer: str) -> tuple[int, int]:
    """Spatial size of ``layer``'s response to an ``(H, W)`` input.

    Convolutions keep the size ('same' padding); each 2x2 stride-2 pooling up to and
    including ``layer`` floors it by half.

    Example:
        >>> layer_hw((96, 129), "relu1_1"), layer_hw((96, 129), "relu3_1"), layer_hw((96, 129), "pool3")
        ((96, 129), (24, 32), (12, 16))
    """
    h, w = hw
    for _ in range(pools_before(layer)):
        h, w = h // 2, w // 2
    return h, w


def convs_reached(layers: Sequence[str]) -> tuple[str, ...]:
    """The convolutions computed to reach every layer in ``layers``, in network order.

    Example:
        >>> convs_reached(["relu2_1", "conv1_2"])
        ('conv1_1', 'conv1_2', 'conv2_1')
    """
    deepest = max((LAYERS.index(name) for name in check_layers(layers)), default=-1)
    return tuple(c for c in CONV_LAYERS if LAYERS.index(c) <= deepest)
