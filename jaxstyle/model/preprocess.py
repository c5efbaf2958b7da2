"""How an RGB image in [0, 1] becomes VGG19's input, and the three conventions in use."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How an RGB image in [0, 1] becomes the network's input.

    ``net = (permute(rgb) * scale - mean) / std``, with ``permute`` reversing the
    channels when ``channel_order == "BGR"``; ``mean`` and ``std`` are given in the
    network's own channel order and pixel scale.

    Example:
        >>> caffe = Preprocess("BGR", 255.0, (103.939, 116.779, 123.68))
        >>> caffe.apply(jnp.ones((1, 1, 3))).shape
        (1, 1, 3)
    """

    channel_order: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values, one per channel")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        object.__setattr__(self, "scale", float(self.scale))

    def _permute(self, x: Array) -> Array:
        return x[..., ::-1] if self.channel_order == "BGR" else x

    def _constants(self, x: Array) -> tuple[Array, Array, Array]:
        # Explicit rank: the suite runs with jax_numpy_rank_promotion="raise".
        shape = (1,) * (x.ndim - 1) + (3,)
        mean = jnp.asarray(self.mean, x.dtype).reshape(shape)
        std = jnp.asarray(self.std, x.dtype).reshape(shape)
        return mean, std, jnp.asarray(self.scale, x.dtype)

    def apply(self, rgb: Array) -> Array:
        """Maps RGB pixels in [0, 1], shape ``(..., 3)``, to network input."""
        mean, std, scale = self._constants(rgb)
        return (self._permute(rgb) * scale - mean) / std

    def invert(self, net: Array) -> Array:
        """Maps network input back to RGB pixels (unclipped)."""
        mean, std, scale = self._constants(net)
        return self._permute((net * std + mean) / scale)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocess:
        return cls(
            channel_order=str(d["channel_order"]),
            scale=float(d["scale"]),
            mean=tuple(d["mean"]),  # type: ignore[arg-type]
            std=tuple(d.get("std", (1.0, 1.0, 1.0))),  # type: ignore[arg-type]
        )


#: Caffe's VGG (and the Keras port of it): BGR, 0-255, ImageNet mean subtracted.
CAFFE = Preprocess("BGR", 255.0, (103.939, 116.779, 123.68))
#: torchvision's VGG: RGB in [0, 1], ImageNet mean and std.
TORCHVISION = Preprocess("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: Gatys' ``vgg_conv.pth``: BGR, mean (in [0, 1]) subtracted, then times 255.
GATYS = Preprocess("BGR", 255.0, (0.40760392 * 255, 0.45795686 * 255, 0.48501961 * 255))
