"""The loss of one image: Eq. 7 of the paper, its targets, and the types that shape it.

Two types keep what shapes the compiled program apart from what only feeds it:

- :class:`Spec` is static (hashable, a ``jit`` static argument): which layers, the
  weighting, pooling, precision, whether there is a TV term, an optional CPU
  convolution plug-in.
- :class:`Weights` is traced (arrays): alpha, beta, the TV weight and every layer's
  ``w_l``. Changing a weight never recompiles, and a batch stacks them.

The image being optimised lives in the network's input space (after
:class:`~jaxstyle.preprocess.Preprocess`), as in Gatys' and jcjohnson's code, so the
loss the optimiser sees is exactly Eq. 7 on the network's input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle import losses, matting, tiling
from jaxstyle.config import Config
from jaxstyle.layers import LAYERS, layer_hw
from jaxstyle.preprocess import Preprocess
from jaxstyle.targets import Targets, make_targets
from jaxstyle.terms import LayerTerms
from jaxstyle.vgg import Params, features

__all__ = [
    "ExtraLoss",
    "Spec",
    "Targets",
    "Weights",
    "loss_terms",
    "make_targets",
    "objective",
    "spec_of",
    "weights_of",
]

Array = jax.Array
#: An extra loss term: ``(rgb image (H, W, 3) in [0, 1], {layer: (H_l, W_l, C_l)}) ->
#: float32 scalar``, added to Eq. 7. Pure JAX; hashable (a module-level function).
ExtraLoss = Callable[[Array, Mapping[str, Array]], Array]


@dataclasses.dataclass(frozen=True)
class Spec:
    """The static structure of the objective (a ``jit`` static argument).

    Attributes:
        content_layers: layers of the content term, in network order.
        style_layers: layers of the style term, in network order.
        weighting: ``"authors"`` or ``"paper"`` (:data:`~jaxstyle.config.WEIGHTINGS`).
        pooling: ``"avg"`` or ``"max"``.
        precision: ``"float32"``, ``"tf32"`` or ``"bfloat16"``.
        tv: whether the objective has a total-variation term.
        style_loss: ``"gram"`` (Eq. 4) or ``"wasserstein"``.
        regions: number of masked regions (Gatys et al. 2017 spatial control), 0 for
            none: each style layer's loss is the mean over regions of Eq. 4 on the
            guided Grams.
        mask_mode: ``"simple"`` or ``"inside"`` (:mod:`jaxstyle.guides`).
        photorealism: whether the objective has the matting-Laplacian term.
        extra_layers: more layers computed for an extra loss term.
        remat: rematerialise each VGG block in the backward pass (less memory, about
            one more forward pass of time; :class:`~jaxstyle.vgg.VGG19`).
        height: the true image height when the image is padded with rows below it
            (spatial sharding; :class:`~jaxstyle.vgg.VGG19`), ``None`` when not.
        tiles: compute the first blocks in this many strips of rows
            (:mod:`jaxstyle.tiling`; less memory, some more time), 0 for the whole
            image at once.
        kernels: a convolution plug-in (:mod:`jaxstyle.kernels`) or ``None``.
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

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective computes, in network order."""
        used = {*self.content_layers, *self.style_layers, *self.extra_layers}
        return tuple(name for name in LAYERS if name in used)

    def network(self) -> dict[str, Any]:
        """:func:`~jaxstyle.vgg.features` keyword arguments for this spec."""
        precision = jax.lax.Precision.HIGHEST if self.precision == "float32" else None
        dtype = jnp.bfloat16 if self.precision == "bfloat16" else None
        return {
            "pooling": self.pooling,
            "precision": precision,
            "dtype": dtype,
            "remat": self.remat,
            "height": self.height,
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
    """

    alpha: Array
    beta: Array
    tv: Array
    content: dict[str, Array]
    style: dict[str, Array]
    photo: Array


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
    )


def loss_terms(
    x: Array,
    params: Params,
    targets: Targets,
    weights: Weights,
    spec: Spec,
    preprocess: Preprocess,
    *,
    prepared: Any = None,
    extra: ExtraLoss | None = None,
) -> tuple[Array, dict[str, Any]]:
    """Eq. 7 at the network-input image ``x`` ``(H, W, 3)``, with its parts.

    ``total = alpha * sum_c w_c f_c L_c + beta * sum_l w_l f_l E_l (+ tv * TV)
    (+ photo * L_m / (H W)) (+ extra)``, ``f = 1`` for ``spec.weighting="paper"`` and
    the authors' factors (:func:`~jaxstyle.losses.authors_content_factor`,
    :func:`~jaxstyle.losses.authors_style_factor`, or
    :func:`~jaxstyle.wasserstein.authors_factor` for the Wasserstein loss) for
    ``"authors"``. With regions, ``E_l`` is the mean over the ``R`` regions of Eq. 4
    on the guided Grams ``(F o T_r)(F o T_r)^T`` (Gatys et al. 2017); ``L_m`` is the
    matting Laplacian's quadratic form on the RGB image (:mod:`jaxstyle.matting`).

    Args:
        prepared: the arrays ``spec.kernels.prepare(params)`` made, when it has kernels.
        extra: an :data:`ExtraLoss`, added unweighted.

    Returns:
        ``(total, terms)`` with ``terms = {"content": L_content, "style": {layer: E_l},
        "tv": TV, "photo": L_m / (H W), "extra": extra term}``, every entry a float32
        scalar, none weighted.
    """
    context = {
        k: {
            "content": targets.content.get(k),
            "style": targets.style.get(k),
            "guides": None if targets.guides is None else targets.guides.get(k),
        }
        for k in spec.layers
    }
    per = _layer_terms(params, x, context, spec, LayerTerms(spec, keep=extra is not None), prepared)
    zero = jnp.zeros((), jnp.float32)

    def weighted(kind: str, w: dict[str, Array], factors: bool) -> Array:
        parts = [w[k] * per[k][kind] * (per[k][f"{kind}_factor"] if factors else 1.0) for k in w]
        return sum(parts[1:], parts[0]) if parts else zero

    content = weighted("content", weights.content, False)
    authors = spec.weighting == "authors"  # static factors of the shapes, on traced weights
    content_term = weighted("content", weights.content, True) if authors else content
    style = weighted("style", weights.style, authors)
    total = losses.total_loss(content_term, style, weights.alpha, weights.beta)
    rgb = preprocess.invert(x)
    tv = losses.tv_loss(rgb) if spec.tv else zero
    photo = zero
    if spec.photorealism:
        photo = matting.matting_loss(rgb, targets.matting) / float(x.shape[0] * x.shape[1])
    feats = {k: v["features"] for k, v in per.items() if "features" in v}
    added = jnp.asarray(extra(rgb, feats), jnp.float32) if extra else zero
    total = total + weights.tv * tv + weights.photo * photo + added
    per_layer = {k: per[k]["style"] for k in spec.style_layers}
    terms = {"content": content, "style": per_layer, "tv": tv, "photo": photo, "extra": added}
    return total, terms


def _layer_terms(
    params: Params,
    x: Array,
    context: dict[str, Any],
    spec: Spec,
    reduce: LayerTerms,
    prepared: Any,
) -> dict[str, dict[str, Array]]:
    """Every layer's :class:`~jaxstyle.terms.LayerTerms`, inside the blocks or by strips."""
    net = {**spec.network(), "kernels": spec.kernels, "prepared": prepared}
    if not spec.tiles:
        return features(params, x, spec.layers, **net, reduce=reduce, context=context)
    keep = [k for k in spec.layers if reduce.keep or k in spec.content_layers]
    parts = tiling.evaluate(
        params,
        x,
        spec,
        grams=[k for k in spec.layers if k in spec.style_layers],
        rows=keep,
        prepared=prepared,
        reduce=reduce,
        context=context,
    )
    head, _ = tiling.split_layers(spec.layers)
    per = {k: v for k, v in parts.items() if k not in head}
    for k in head:
        f, g = parts[k].get("rows"), parts[k].get("gram")
        shape = (*layer_hw(x.shape[:2], k), (g if f is None else f).shape[-1])
        per[k] = reduce.terms(k, shape, context[k], features=f, gram=g)
    return per


def objective(
    params: Params,
    targets: Targets,
    weights: Weights,
    spec: Spec,
    preprocess: Preprocess,
    *,
    extra: ExtraLoss | None = None,
) -> Callable[[Array], tuple[Array, dict[str, Any]]]:
    """``x -> (L_total, terms)`` with everything else closed over, plain JAX.

    Differentiable in every mode (``jax.grad``, ``jax.jvp``, Hessian-vector products)
    for a spec without kernels, as :func:`spec_of` makes it.

    Example:
        >>> from jaxstyle.preprocess import TORCHVISION
        >>> from jaxstyle.vgg import init_params
        >>> p, c = init_params(jax.random.key(0), (4, 8, 8, 8, 8)), Config()
        >>> img = jnp.full((32, 32, 3), 0.5)
        >>> spec = spec_of(c)
        >>> f = objective(p, make_targets(p, img, img, spec, TORCHVISION), weights_of(c), spec, TORCHVISION)
        >>> x = TORCHVISION.apply(img)
        >>> value, tangent = jax.jvp(lambda x: f(x)[0], (x,), (jnp.ones_like(x),))
        >>> bool(abs(value) < 1e-6), bool(abs(tangent) < 1e-6)  # the content is its own target
        (True, True)
    """

    def f(x: Array) -> tuple[Array, dict[str, Any]]:
        return loss_terms(x, params, targets, weights, spec, preprocess, extra=extra)

    return f
