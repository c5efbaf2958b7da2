"""A batch's inputs under the controls of Gatys et al. (CVPR 2017): styles, colours, masks.

:func:`prepare` turns a gathered batch (:mod:`jaxstyle.controls.batching`: a content
batch, one or several style images, content and style masks, a config per item) into
what the targets are computed from: the styles resized by the style-scale rule and
colour-prepared, the regions' normalised guides per layer and the blend weights.
:func:`finish` puts the colour mode's colours back on the results. Everything here
runs once per stylisation, outside the compiled loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.config import Config
from jaxstyle.controls import color
from jaxstyle.controls.regions import masks_of, region_guides
from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import resize, style_size
from jaxstyle.loss.spec import Spec
from jaxstyle.options import blend_weights

Array = jax.Array


class Inputs(NamedTuple):
    """A batch's inputs to :func:`jaxstyle.loss.targets.make_targets`, every leaf ``(B, ...)``.

    Attributes:
        content: ``(B, H, W, 3)`` colour-prepared content.
        styles: ``S`` arrays ``(B, H'_s, W'_s, 3)``, resized and colour-prepared.
        blend: ``(B, S)`` float32 blend weights summing to 1.
        content_guides: layer -> ``(B, R, H_l, W_l)`` normalised guides, or ``None``.
        style_guides: per style, layer -> ``(B, H'_l, W'_l)`` guides, or ``None``.
    """

    content: Array
    styles: tuple[Array, ...]
    blend: Array
    content_guides: dict[str, Array] | None
    style_guides: tuple[dict[str, Array], ...] | None


def prepare(
    content: Array,
    styles: Sequence[Array],
    configs: Sequence[Config],
    spec: Spec,
    masks: Any = None,
    style_masks: Any = None,
) -> Inputs:
    """A batch's inputs, checked, resized, colour-prepared and guided.

    Args:
        content: ``(B, H, W, 3)``.
        styles: ``S`` style images, each ``(H', W', 3)`` or ``(B, H', W', 3)``.
        configs: ``B`` configs (colours, colour match, blend weights, style scale).
        spec: the batch's :class:`~jaxstyle.loss.spec.Spec` (layers, mask mode, pooling).
        masks: ``S`` content masks ``(H, W)`` or ``(B, H, W)`` in [0, 1], one per style
            (white = the region that style paints), or ``None``.
        style_masks: ``S`` masks of the style images (where each style's statistics are
            taken from), or ``None`` for the whole of each.

    Raises:
        ConfigError: a count that does not match the styles, blend weights of the wrong
            length, masks with regions and the Wasserstein loss.
    """
    b, hw = content.shape[0], content.shape[1:3]
    n = len(styles)
    for c in configs:
        if c.style_blend_weights is not None and len(c.style_blend_weights) != n:
            raise ConfigError(
                f"{len(c.style_blend_weights)} style blend weights for {n} style image(s)"
            )
    if masks is None and style_masks is not None:
        raise ConfigError("style masks need content masks (one per style)")
    content_masks = masks_of(masks, n, b, "masks")
    style_masks = masks_of(style_masks, n, b, "style masks")
    if content_masks is not None and any(c.style_blend_weights is not None for c in configs):
        raise ConfigError("with masks each region takes its own style: drop the blend weights")
    if content_masks is not None and spec.style_loss != "gram":
        raise ConfigError("masks work with the Gram style loss; use style_loss='gram'")

    def each(a: Array) -> Array:
        return a if a.ndim == 4 else jnp.broadcast_to(a, (b, *a.shape))

    scale = configs[0].style_scale
    sized = [each(resize(s, *style_size(hw, s.shape[-3:-1], scale))) for s in styles]
    prepared = [
        [color.prepare(content[i], s[i], c.colors, c.color_match) for s in sized]
        for i, c in enumerate(configs)
    ]
    new_content = jnp.stack([p[0][0] for p in prepared])
    new_styles = tuple(jnp.stack([p[s][1] for p in prepared]) for s in range(n))
    blend = jnp.asarray([blend_weights(c.style_blend_weights, n) for c in configs], jnp.float32)
    content_guides = style_guides = None
    if content_masks is not None:
        regions = [region_guides(m, hw, spec, f"mask {r + 1}") for r, m in enumerate(content_masks)]
        content_guides = {k: jnp.stack([g[k] for g in regions], axis=1) for k in spec.style_layers}
    if style_masks is not None:
        style_guides = tuple(
            region_guides(m, s.shape[1:3], spec, f"style mask {i + 1}")
            for i, (m, s) in enumerate(zip(style_masks, sized, strict=True))
        )
    return Inputs(new_content, new_styles, blend, content_guides, style_guides)


def start_in_colors(images: Array, configs: Sequence[Config]) -> Array:
    """Given ``(B, H, W, 3)`` starts in each item's colour space: a luminance run's is grey.

    A luminance-only transfer optimises a grey image, so a start in colour (a coarser
    stage's result, a user's image) becomes its luminance, replicated.
    """
    out = [
        color.grey(x) if c.colors == "luminance" else x
        for x, c in zip(images, configs, strict=True)
    ]
    return jnp.stack(out)


def finish(images: Array, content: Array, configs: Sequence[Config]) -> Array:
    """The ``(B, H, W, 3)`` results in each item's colour mode, clipped to [0, 1].

    ``content`` is the original ``(B, H, W, 3)`` content (before :func:`prepare`).
    """
    out = [color.finish(images[i], content[i], c.colors) for i, c in enumerate(configs)]
    return jnp.clip(jnp.stack(out), 0.0, 1.0)
