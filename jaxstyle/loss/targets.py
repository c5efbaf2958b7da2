"""What the generated image is pulled towards: the content's responses and the style statistics.

Computed once per stylisation from the (already resized and colour-prepared) images,
for one item; :func:`jaxstyle.stylize` vmaps it over a batch. Three kinds of style
target, chosen by the static spec:

- one style, the paper: the Gram matrix ``A`` of each style layer (Eq. 3);
- several styles: the blended Grams ``sum_s w_s A_s`` (jcjohnson's
  ``-style_blend_weights``), or for the Wasserstein loss the moments of the mixture;
- regions (Gatys et al. 2017, spatial control): one guided Gram per region,
  ``(F_s o T_s)(F_s o T_s)^T`` of region ``r``'s style with its style guide.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.loss import equations, matting, tiling, wasserstein
from jaxstyle.loss.guides import guided_gram
from jaxstyle.loss.spec import Spec
from jaxstyle.loss.temporal import Temporal
from jaxstyle.model.layers import layer_hw
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, features
from jaxstyle.options import blend_weights

Array = jax.Array


class Targets(NamedTuple):
    """The targets of one item (a batch adds a leading ``(B,)`` axis to every leaf).

    Attributes:
        content: layer -> ``(H, W, C)`` response ``P`` of the content image.
        style: layer -> the style target: a ``(C, C)`` Gram ``A`` per position of the
            content's (see :func:`make_targets`); ``(R, C, C)``, one per region, when
            the spec has regions; a :class:`~jaxstyle.loss.wasserstein.StyleMoments` for the
            Wasserstein loss.
        guides: layer -> ``(R, H_l, W_l)`` normalised content guides of the regions
            (:func:`jaxstyle.loss.guides.guides`), or ``None`` without regions.
        matting: the content's :class:`~jaxstyle.loss.matting.MattingStats` for the
            photorealism term, or ``None``.
        temporal: a video frame's :class:`~jaxstyle.loss.temporal.Temporal` references,
            or ``None`` (``spec.temporal`` 0).
    """

    content: dict[str, Array]
    style: dict[str, Any]
    guides: dict[str, Array] | None = None
    matting: matting.MattingStats | None = None
    temporal: Temporal | None = None


def _as_styles(style: Array | Sequence[Array]) -> tuple[Array, ...]:
    return (jnp.asarray(style),) if hasattr(style, "ndim") else tuple(map(jnp.asarray, style))


def make_targets(
    params: Params,
    content: Array,
    style: Array | Sequence[Array],
    spec: Spec,
    preprocess: Preprocess,
    *,
    blend: Array | None = None,
    content_guides: Mapping[str, Array] | None = None,
    style_guides: Sequence[Mapping[str, Array] | None] | None = None,
    prepared: Any = None,
) -> Targets:
    """Targets of one item from RGB images in [0, 1].

    Args:
        params: VGG19 params.
        content: ``(H, W, 3)``.
        style: one ``(H', W', 3)`` style image, or a sequence of ``S`` of them (each
            its own size), already resized.
        spec: the :class:`~jaxstyle.loss.spec.Spec` (static).
        preprocess: the params' input convention.
        blend: ``(S,)`` float32 weights summing to 1 for several styles (default
            equal); unused with regions, where region ``r`` takes style ``r``.
        content_guides: layer -> ``(R, H_l, W_l)`` normalised guides of the ``R = S``
            regions in the content, when ``spec.regions``.
        style_guides: per style, layer -> ``(H'_l, W'_l)`` normalised guide of where
            its statistics are taken from, or ``None`` for the whole image.
        prepared: what ``spec.kernels.prepare(params)`` made, when the spec has a
            plug-in (made here when not given): the targets are computed as the
            objective computes the image's features.

    Returns:
        :class:`Targets`. Grams are compared per position: a style of another size
        than the content has its Gram scaled by ``M_l / M'_l`` (the content's
        positions at that layer over the style's), so the target asks for the style's
        statistics, not for activations of another scale. One style at the content's
        size, unguided, gives exactly the paper's ``A``.

    Example:
        >>> from jaxstyle.loss.spec import Spec
        >>> from jaxstyle.model.preprocess import TORCHVISION
        >>> from jaxstyle.model.vgg import init_params
        >>> p, img = init_params(jax.random.key(0), (4, 8, 8, 8, 8)), jnp.full((32, 32, 3), 0.5)
        >>> t = make_targets(p, img, [img, img[:16]], Spec(), TORCHVISION, blend=jnp.array([0.75, 0.25]))
        >>> t.style["relu1_1"].shape, t.guides is None
        ((4, 4), True)
    """
    styles = _as_styles(style)
    if spec.kernels is not None and prepared is None:
        prepared = spec.kernels.prepare(params)
    net = {**spec.network(), "kernels": spec.kernels, "prepared": prepared}
    guides = [None] * len(styles) if style_guides is None else list(style_guides)
    if spec.tiles:  # strip by strip, as the objective (jaxstyle.loss.tiling): plain Grams
        tiled = functools.partial(tiling.evaluate, params, spec=spec, prepared=prepared)
        parts = tiled(preprocess.apply(content), rows=spec.content_layers)
        fc = {k: parts[k]["rows"] for k in spec.content_layers}
        raw = [tiled(preprocess.apply(s), grams=spec.style_layers) for s in styles]
        raw_gram = lambda k, s: raw[s][k]["gram"]  # noqa: E731
    else:
        if len(styles) == 1 and content.shape == styles[0].shape:  # one pass: half the compile
            both = features(
                params, preprocess.apply(jnp.stack([content, styles[0]])), spec.layers, **net
            )
            fc = {k: both[k][0] for k in spec.content_layers}
            fs = [{k: both[k][1] for k in spec.style_layers}]
        else:
            fc = features(params, preprocess.apply(content), spec.content_layers, **net)
            fs = [features(params, preprocess.apply(s), spec.style_layers, **net) for s in styles]

        def raw_gram(k: str, s: int) -> Array:
            f, g = fs[s][k], guides[s]
            return equations.gram(f) if g is None else guided_gram(f, g[k])

    def gram(k: str, s: int) -> Array:
        m = math.prod(layer_hw(content.shape[:2], k))
        m_style = math.prod(layer_hw(styles[s].shape[:2], k))
        a = raw_gram(k, s)
        return a if m == m_style else a * jnp.float32(m / m_style)

    def blended(parts: list[Array]) -> Array:
        if len(parts) == 1:  # one style: exactly its Gram, no product with a weight 1
            return parts[0]
        w = _weights(blend, len(parts))
        return sum((w[i] * a for i, a in enumerate(parts[1:], 1)), w[0] * parts[0])

    style_targets: dict[str, Any] = {}
    for k in spec.style_layers:
        if spec.style_loss == "wasserstein":
            parts = [wasserstein.moments(f[k]) for f in fs]
            mixture = (
                parts[0]
                if len(parts) == 1
                else wasserstein.blend_moments(parts, _weights(blend, len(parts)))
            )
            style_targets[k] = wasserstein.style_target(*mixture)
        elif spec.regions:
            style_targets[k] = jnp.stack([gram(k, s) for s in range(len(styles))])
        else:
            style_targets[k] = blended([gram(k, s) for s in range(len(styles))])
    stats = matting.matting_stats(content) if spec.photorealism else None
    return Targets(
        {k: fc[k] for k in spec.content_layers},
        style_targets,
        None if not spec.regions else dict(content_guides or {}),
        stats,
    )


def _weights(blend: Array | None, n: int) -> Array:
    return jnp.asarray(blend_weights(None, n), jnp.float32) if blend is None else blend
