"""The loss of one image: Eq. 7 of the paper on the network's input.

What shapes the compiled program (:class:`~jaxstyle.loss.spec.Spec`, static) and what only
feeds it (:class:`~jaxstyle.loss.spec.Weights`, traced) are the types of
:mod:`jaxstyle.loss.spec`, re-exported here. The image being optimised lives in the
network's input space (after :class:`~jaxstyle.model.preprocess.Preprocess`), as in Gatys'
and jcjohnson's code, so the loss the optimiser sees is exactly Eq. 7 on the
network's input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.loss import equations, matting, temporal, tiling
from jaxstyle.loss.evaluate import Evaluation, Pass
from jaxstyle.loss.spec import Spec, Weights, spec_of, weights_of
from jaxstyle.loss.targets import Targets, make_targets
from jaxstyle.loss.terms import LayerTerms
from jaxstyle.model.layers import layer_hw
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, features

__all__ = [
    "ExtraLoss",
    "Loss",
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
    (+ photo * L_m / (H W)) (+ temporal * L_t) (+ extra)``, ``f = 1`` for ``spec.weighting="paper"`` and
    the authors' factors (:func:`~jaxstyle.loss.equations.authors_content_factor`,
    :func:`~jaxstyle.loss.equations.authors_style_factor`, or
    :func:`~jaxstyle.loss.wasserstein.authors_factor` for the Wasserstein loss) for
    ``"authors"``. With regions, ``E_l`` is the mean over the ``R`` regions of Eq. 4
    on the guided Grams ``(F o T_r)(F o T_r)^T`` (Gatys et al. 2017); ``L_m`` is the
    matting Laplacian's quadratic form on the RGB image (:mod:`jaxstyle.loss.matting`);
    ``L_t`` a video frame's temporal loss (:mod:`jaxstyle.loss.temporal`).

    Args:
        prepared: the arrays ``spec.kernels.prepare(params)`` made, when it has kernels.
        extra: an :data:`ExtraLoss`, added unweighted.

    Returns:
        ``(total, terms)`` with ``terms = {"content": L_content, "style": {layer: E_l},
        "tv": TV, "photo": L_m / (H W), "temporal": L_t, "extra": extra term}``, every
        entry a float32 scalar, none weighted.
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
    total = equations.total_loss(content_term, style, weights.alpha, weights.beta)
    rgb = preprocess.invert(x)
    tv = equations.tv_loss(rgb) if spec.tv else zero
    photo = zero
    if spec.photorealism:
        photo = matting.matting_loss(rgb, targets.matting) / float(x.shape[0] * x.shape[1])
    steady = temporal.temporal_loss(rgb, targets.temporal) if spec.temporal else zero
    feats = {k: v["features"] for k, v in per.items() if "features" in v}
    added = jnp.asarray(extra(rgb, feats), jnp.float32) if extra else zero
    total = total + weights.tv * tv + weights.photo * photo + weights.temporal * steady + added
    per_layer = {k: per[k]["style"] for k in spec.style_layers}
    terms = {"content": content, "style": per_layer, "tv": tv, "photo": photo}
    terms.update({"temporal": steady, "extra": added})
    return total, terms


def _layer_terms(
    params: Params,
    x: Array,
    context: dict[str, Any],
    spec: Spec,
    reduce: LayerTerms,
    prepared: Any,
) -> dict[str, dict[str, Array]]:
    """Every layer's :class:`~jaxstyle.loss.terms.LayerTerms`, inside the blocks or by strips."""
    if not spec.tiles:
        visitor = Evaluation(reduce, height=spec.height, remat=spec.remat)
        return features(
            params,
            x,
            spec.layers,
            **spec.network(),
            kernels=spec.kernels,
            prepared=prepared,
            visitor=visitor,
            state=Pass(context),
        )
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
        >>> from jaxstyle.config import Config
        >>> from jaxstyle.model.preprocess import TORCHVISION
        >>> from jaxstyle.model.vgg import init_params
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


@dataclasses.dataclass(frozen=True)
class Loss:
    """Eq. 7 as a solver's :data:`~jaxstyle.solve.common.Fun`: ``(x, (params, prepared), (targets, weights))``."""

    spec: Spec
    preprocess: Preprocess
    extra: ExtraLoss | None = None

    def __call__(self, x: Array, shared: Any, item: Any) -> tuple[Array, dict[str, Any]]:
        (params, prepared), (targets, weights) = shared, item
        return loss_terms(
            x,
            params,
            targets,
            weights,
            self.spec,
            self.preprocess,
            prepared=prepared,
            extra=self.extra,
        )
