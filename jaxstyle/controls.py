"""The controls of Gatys et al. (CVPR 2017) on a batch's inputs: styles, colours, masks.

:func:`gather` checks what a user gives :func:`jaxstyle.stylize` and broadcasts it to
one batch; :func:`prepare` turns that (a content batch,
one or several style images, content and style masks, a config per item) into what
the targets are computed from: the styles resized by the style-scale rule and
colour-prepared, the regions' normalised guides per layer and the blend weights.
:func:`finish` puts the colour mode's colours back on the results. Everything here
runs once per stylisation, outside the compiled loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle import color, guides
from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.image import resize, style_size
from jaxstyle.spec import Spec

Array = jax.Array


class MaskWarning(UserWarning):
    """A region's mask is empty at some layer: that layer's loss ignores the region."""


class Batch(NamedTuple):
    """What a user handed :func:`jaxstyle.stylize`, checked and broadcast to ``B`` items.

    Attributes:
        size: ``B``, or ``None`` when nothing was batched (a batch of one, unbatched).
        content: ``(B, H, W, 3)`` float32.
        styles: ``S`` style images, each ``(H', W', 3)`` or ``(B, H', W', 3)``.
        start: ``(B, H, W, 3)`` start image, or ``None``.
        configs: ``B`` configs.
        keys: ``B`` PRNG keys (or ``None``s).
    """

    size: int | None
    content: Array
    styles: list[Array]
    start: Array | None
    configs: list[Config]
    keys: list[Array | None]


def _image(a: Any, name: str) -> Array:
    a = jnp.asarray(a, jnp.float32)
    if a.ndim not in (3, 4) or a.shape[-1] != 3 or min(a.shape[-3:-1]) < 1:
        raise ConfigError(f"{name} image must have shape (H, W, 3), got {a.shape}")
    return a


def _is_key_batch(key: Array) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.ndim == 1
    return key.ndim == 2  # raw uint32 keys: (2,) is one key, (B, 2) a batch


def gather(content: Any, style: Any, init_image: Any, config: Any, key: Any) -> Batch:
    """:func:`jaxstyle.stylize`'s arguments as one :class:`Batch`, every size checked.

    A batch is given by any of a ``(B, H, W, 3)`` content, style or start, ``B``
    configs or ``B`` stacked keys; the rest is shared by every item.

    Raises:
        ConfigError: a wrong shape, disagreeing batch sizes, a start of another size
            than the content, or ``init="image"`` without a start.
    """
    config = Config() if config is None else config
    content = _image(content, "content")
    several = isinstance(style, list | tuple)
    if several and not style:
        raise ConfigError("give at least one style image")
    styles = [_image(s, "style") for s in style] if several else [_image(style, "style")]
    start = None if init_image is None else _image(init_image, "init_image")
    if not isinstance(config, Config) and (
        not config or not all(isinstance(c, Config) for c in config)
    ):
        raise ConfigError("config must be a Config or a non-empty sequence of Configs")
    arrays = (("content", content), ("init_image", start), *(("style", s) for s in styles))
    sizes = {n: a.shape[0] for n, a in arrays if a is not None and a.ndim == 4}
    if not isinstance(config, Config):
        sizes["config"] = len(config)
    if key is not None and _is_key_batch(key):
        sizes["key"] = key.shape[0]
    if len(set(sizes.values())) > 1:
        raise ConfigError(
            "batch sizes disagree: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
        )
    n = next(iter(sizes.values()), None)
    b = n or 1
    configs = [config] * b if isinstance(config, Config) else list(config)
    hw = content.shape[-3:-1]
    if start is not None and start.shape[-3:-1] != hw:
        raise ConfigError(f"init_image must have the content's size {hw}, got {start.shape[-3:-1]}")
    if start is None and any(c.init == "image" for c in configs):
        raise ConfigError("init='image' needs an init_image")

    def each(a: Array | None) -> Array | None:
        return a if a is None or a.ndim == 4 else jnp.broadcast_to(a, (b, *a.shape))

    keys = [None if key is None else (key[i] if _is_key_batch(key) else key) for i in range(b)]
    return Batch(n, each(content), styles, each(start), configs, keys)


class Inputs(NamedTuple):
    """A batch's inputs to :func:`jaxstyle.targets.make_targets`, every leaf ``(B, ...)``.

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


def _masks(masks: Any, n: int, b: int, name: str) -> list[Array] | None:
    """``n`` masks, each ``(B, H, W)`` float32 in [0, 1], from a sequence or an array."""
    if masks is None:
        return None
    items = list(masks) if not hasattr(masks, "ndim") else None
    if items is None:  # one array: (S, H, W) or (B, S, H, W)
        a = jnp.asarray(masks, jnp.float32)
        if a.ndim not in (3, 4):
            raise ConfigError(f"{name} must be S masks (H, W): an (S, H, W) or (B, S, H, W) array")
        items = [a[:, s] if a.ndim == 4 else a[s] for s in range(a.shape[-3])]
    if len(items) != n:
        raise ConfigError(f"{len(items)} {name} for {n} style image(s): give one per style")
    out = []
    for m in items:
        m = jnp.asarray(m, jnp.float32)
        if m.ndim not in (2, 3) or min(m.shape[-2:]) < 1:
            raise ConfigError(f"each of the {name} must be (H, W) or (B, H, W), got {m.shape}")
        out.append(jnp.clip(jnp.broadcast_to(m, (b, *m.shape[-2:])), 0.0, 1.0))
    return out


def _resized(m: Array, hw: tuple[int, int]) -> Array:
    return resize(m[..., None], *hw)[..., 0]


def _guides(mask: Array, hw: tuple[int, int], spec: Spec, what: str) -> dict[str, Array]:
    """Normalised ``(B, H_l, W_l)`` guides of a ``(B, H, W)`` mask resized to ``hw``."""
    mode = spec.mask_mode
    g = jax.vmap(lambda m: guides.guides(m, spec.style_layers, mode, spec.pooling))(
        _resized(mask, hw)
    )
    empty = guides.empty_layers(g)
    if empty:
        warnings.warn(
            f"{what} is empty at {', '.join(empty)} ({mode} mode): that region gets no style there",
            MaskWarning,
            stacklevel=4,
        )
    return g


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
        spec: the batch's :class:`~jaxstyle.spec.Spec` (layers, mask mode, pooling).
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
    content_masks = _masks(masks, n, b, "masks")
    style_masks = _masks(style_masks, n, b, "style masks")
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
    blend = jnp.asarray([c.style_blend_weights or (1.0 / n,) * n for c in configs], jnp.float32)
    content_guides = style_guides = None
    if content_masks is not None:
        regions = [_guides(m, hw, spec, f"mask {r + 1}") for r, m in enumerate(content_masks)]
        content_guides = {k: jnp.stack([g[k] for g in regions], axis=1) for k in spec.style_layers}
    if style_masks is not None:
        style_guides = tuple(
            _guides(m, s.shape[1:3], spec, f"style mask {i + 1}")
            for i, (m, s) in enumerate(zip(style_masks, sized, strict=True))
        )
    return Inputs(new_content, new_styles, blend, content_guides, style_guides)


def start(images: Array, configs: Sequence[Config]) -> Array:
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
