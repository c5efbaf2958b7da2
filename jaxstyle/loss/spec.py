"""The two types that shape the loss: static structure and traced weights.

- :class:`Spec` is static (hashable, a ``jit`` static argument): which layers, the
  weighting, pooling, precision, whether there is a TV term, strips, an optional CPU
  convolution plug-in.
- :class:`Weights` is traced (arrays): alpha, beta, the TV weight and every layer's
  ``w_l``. Changing a weight never recompiles, and a batch stacks them.

:func:`spec_of` and :func:`weights_of` make them from the user's validated
:class:`~jaxstyle.config.Config`; :func:`batch_spec` checks that a batch's configs
share one Spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.model.layers import LAYERS

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Spec:
    """The static structure of the objective (a ``jit`` static argument).

    Attributes:
        content_layers: layers of the content term, in network order.
        style_layers: layers of the style term, in network order.
        weighting: ``"authors"`` or ``"paper"`` (:data:`~jaxstyle.options.WEIGHTINGS`).
        pooling: ``"avg"`` or ``"max"``.
        precision: ``"float32"``, ``"tf32"`` or ``"bfloat16"``.
        tv: whether the objective has a total-variation term.
        style_loss: ``"gram"`` (Eq. 4) or ``"wasserstein"``.
        regions: number of masked regions (Gatys et al. 2017 spatial control), 0 for
            none: each style layer's loss is the mean over regions of Eq. 4 on the
            guided Grams.
        mask_mode: ``"simple"`` or ``"inside"`` (:mod:`jaxstyle.loss.guides`).
        photorealism: whether the objective has the matting-Laplacian term.
        extra_layers: more layers computed for an extra loss term.
        remat: rematerialise each VGG block in the backward pass (less memory, about
            one more forward pass of time; :class:`~jaxstyle.model.vgg.VGG19`).
        height: the true image height when the image is padded with rows below it
            (spatial sharding; :class:`~jaxstyle.model.vgg.VGG19`), ``None`` when not.
        tiles: compute the first blocks in this many strips of rows
            (:mod:`jaxstyle.loss.tiling`; less memory, some more time), 0 for the whole
            image at once.
        kernels: a convolution plug-in (:mod:`jaxstyle.cpu.plugin`) or ``None``.
        temporal: references of a video frame's temporal loss (Ruder et al. 2016;
            :mod:`jaxstyle.loss.temporal`), 0 for a still image.
    """

    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = tuple(f"relu{b}_1" for b in range(1, 6))
    weighting: str = "authors"
    pooling: str = "avg"
    precision: str = "float32"
    tv: bool = False
    style_loss: str = "gram"
    regions: int = 0
    mask_mode: str = "simple"
    photorealism: bool = False
    extra_layers: tuple[str, ...] = ()
    remat: bool = False
    height: int | None = None
    tiles: int = 0
    kernels: Any = None
    temporal: int = 0

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective computes, in network order."""
        used = {*self.content_layers, *self.style_layers, *self.extra_layers}
        return tuple(name for name in LAYERS if name in used)

    def network(self) -> dict[str, Any]:
        """:func:`~jaxstyle.model.vgg.features` keyword arguments for this spec's network:
        pooling and precision (how the loss visits it is :mod:`jaxstyle.loss.evaluate`)."""
        precision = jax.lax.Precision.HIGHEST if self.precision == "float32" else None
        dtype = jnp.bfloat16 if self.precision == "bfloat16" else None
        return {
            "pooling": self.pooling,
            "precision": precision,
            "dtype": dtype,
        }


def spec_of(*configs: Config, **fields: Any) -> Spec:
    """The :class:`Spec` of one config, or of a batch of them (``fields`` override).

    A batch's layer sets are the union of its items', in network order; weighting,
    pooling and precision are the first config's (:func:`jaxstyle.stylize` checks
    that they agree).

    Example:
        >>> spec_of(Config(style_layers="relu1_1,relu2_1")).style_layers
        ('relu1_1', 'relu2_1')
        >>> spec_of(Config(style_layers="relu3_1"), Config(style_layers="relu1_1")).style_layers
        ('relu1_1', 'relu3_1')
    """

    def union(attr: str) -> tuple[str, ...]:
        used = {k for c in configs for k, _ in getattr(c, attr)}
        return tuple(k for k in LAYERS if k in used)

    first = configs[0]
    return Spec(
        content_layers=union("content_layers"),
        style_layers=union("style_layers"),
        weighting=first.weighting,
        pooling=first.pooling,
        precision=first.precision,
        tv=any(c.tv_weight > 0 for c in configs),
        style_loss=first.style_loss,
        mask_mode=first.mask_mode,
        photorealism=any(c.photorealism > 0 for c in configs),
        remat=bool(first.remat),
        tiles=first.tiles or 0,
        **fields,
    )


class Weights(NamedTuple):
    """The loss weights as traced float32 arrays (a batch adds a leading ``(B,)`` axis).

    A layer of the spec that an item does not use has weight 0.

    Attributes:
        alpha: content weight (Eq. 7).
        beta: style weight (Eq. 7).
        tv: total-variation weight.
        content: layer -> ``w_l`` of the content term.
        style: layer -> ``w_l`` of the style term (Eq. 5).
        photo: weight of the photorealism term.
        temporal: weight of the temporal term (:mod:`jaxstyle.loss.temporal`).
    """

    alpha: Array
    beta: Array
    tv: Array
    content: dict[str, Array]
    style: dict[str, Array]
    photo: Array
    temporal: Array


def weights_of(config: Config, spec: Spec | None = None) -> Weights:
    """``config``'s weights over ``spec``'s layers (default: its own).

    Example:
        >>> w = weights_of(Config(ratio=1e-2, style_layers="relu1_1"), Spec())
        >>> round(float(w.alpha), 6), float(w.style["relu1_1"]), float(w.style["relu2_1"])
        (0.01, 1.0, 0.0)
    """
    spec = spec_of(config) if spec is None else spec
    content, style = dict(config.content_layers), dict(config.style_layers)

    def f32(v: float) -> Array:
        return jnp.asarray(v, jnp.float32)

    return Weights(
        f32(config.alpha),
        f32(config.beta),
        f32(config.tv_weight),
        {k: f32(content.get(k, 0.0)) for k in spec.content_layers},
        {k: f32(style.get(k, 0.0)) for k in spec.style_layers},
        f32(config.photorealism),
        f32(config.temporal_weight),
    )


#: Config fields that may differ between the items of a batch (they are traced or only
#: shape the start); every other field shapes the compiled program and must agree.
PER_ITEM_FIELDS = (
    "content_layers",
    "style_layers",
    "ratio",
    "content_weight",
    "style_weight",
    "tv_weight",
    "init",
    "noise_std",
    "colors",
    "color_match",
    "style_blend_weights",
    "photorealism",
    "temporal_weight",
)


def batch_spec(
    configs: Sequence[Config],
    extra_layers: tuple[str, ...] = (),
    regions: int = 0,
    temporal: int = 0,
) -> Spec:
    """The one :class:`Spec` of a batch (:func:`~jaxstyle.loss.spec.spec_of`), its configs checked.

    Raises:
        ConfigError: if the configs differ in a field outside :data:`PER_ITEM_FIELDS`.
    """
    for field in dataclasses.fields(Config):
        values = {getattr(c, field.name) for c in configs}
        if field.name not in PER_ITEM_FIELDS and len(values) > 1:
            raise ConfigError(
                f"every config in a batch needs the same {field.name}, got "
                + ", ".join(sorted(map(repr, values)))
            )

    return spec_of(*configs, extra_layers=tuple(extra_layers), regions=regions, temporal=temporal)
