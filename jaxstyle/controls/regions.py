"""Spatial control (Gatys et al., CVPR 2017, section 4): masks to per-layer guides.

Internal: :func:`jaxstyle.controls.inputs.prepare` calls it for content and style masks.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import resize
from jaxstyle.loss import guides
from jaxstyle.loss.spec import Spec

Array = jax.Array


class MaskWarning(UserWarning):
    """A region's mask is empty at some layer: that layer's loss ignores the region."""


def masks_of(masks: Any, n: int, b: int, name: str) -> list[Array] | None:
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


def region_guides(mask: Array, hw: tuple[int, int], spec: Spec, what: str) -> dict[str, Array]:
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
