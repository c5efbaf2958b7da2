"""Optical flow's use in a clip: warping a frame, and where the warp can be trusted.

Flows are ``(H, W, 2)`` float arrays in pixels, Middlebury's ``(u, v)`` order (``u``
along the width, ``v`` along the height). ``backward`` is the flow from frame ``t`` to
frame ``t - 1`` on frame ``t``'s grid: the pixel ``x`` of frame ``t`` is the point
``x + backward(x)`` of frame ``t - 1``. ``forward`` is the flow from ``t - 1`` to ``t``
on frame ``t - 1``'s grid. Both functions are pure JAX (jit, vmap and both modes of
differentiation work).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

Array = jax.Array

#: The consistency check's coefficients (Ruder et al. 2016, Eqs. 5 and 6, after
#: Sundaram et al. 2010): relative and absolute (px²) tolerance of the round trip,
#: relative and absolute tolerance of the flow's gradient.
ROUND_TRIP = (0.01, 0.5)
BOUNDARY = (0.01, 0.002)
#: The reliability map is smoothed by a Gaussian of this std (px), cut at ceil(2 std) px, so that
#: an unreliable pixel also lowers its neighbours' weights.
SMOOTHING = 0.8


def _sample(channel: Array, ys: Array, xs: Array) -> Array:
    """Bilinear samples of ``(H, W)`` ``channel`` at ``(ys, xs)``, edges replicated."""
    return map_coordinates(channel, [ys, xs], order=1, mode="nearest")


def _grid(h: int, w: int) -> tuple[Array, Array]:
    ys, xs = jnp.meshgrid(
        jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
    )
    return ys, xs


def warp(image: Array, flow: Array) -> Array:
    """``image`` ``(H, W, C)`` (frame ``t - 1``) seen from frame ``t``: bilinear samples at
    ``x + flow(x)``, ``flow`` the backward flow ``(H, W, 2)``; outside the image the edge
    is repeated (:func:`flow_reliability` gives those pixels weight 0).

    Example:
        >>> img = jnp.arange(12.0).reshape(3, 4, 1)
        >>> shift = jnp.zeros((3, 4, 2)).at[..., 0].set(1.0)  # each pixel came from x + 1
        >>> warp(img, shift)[..., 0].tolist()[0]
        [1.0, 2.0, 3.0, 3.0]
    """
    ys, xs = _grid(*image.shape[:2])
    ys, xs = ys + flow[..., 1], xs + flow[..., 0]
    return jnp.stack([_sample(image[..., c], ys, xs) for c in range(image.shape[-1])], axis=-1)


def _gradient_sq(flow: Array) -> Array:
    """``|grad u|^2 + |grad v|^2`` by central differences, edges replicated."""
    padded = jnp.pad(flow, ((1, 1), (1, 1), (0, 0)), mode="edge")
    dx = 0.5 * (padded[1:-1, 2:] - padded[1:-1, :-2])
    dy = 0.5 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
    return jnp.sum(dx**2 + dy**2, axis=-1)


def _smooth(a: Array, std: float) -> Array:
    """``a`` ``(H, W)`` blurred by a normalised Gaussian of ``std``, cut at ``ceil(2 std)`` px, edges replicated."""
    radius = max(1, int(2 * std + 0.999))
    taps = jnp.exp(-(jnp.arange(-radius, radius + 1, dtype=jnp.float32) ** 2) / (2 * std**2))
    taps = taps / jnp.sum(taps)
    padded = jnp.pad(a, radius, mode="edge")
    h, w = a.shape
    rows = sum(taps[i] * padded[i : i + h, :] for i in range(2 * radius + 1))
    return sum(taps[i] * rows[:, i : i + w] for i in range(2 * radius + 1))


def flow_reliability(backward: Array, forward: Array) -> Array:
    """Where frame ``t - 1`` warped onto frame ``t`` can be trusted: ``(H, W)`` weights in [0, 1].

    Ruder et al. (2016), section 3.1: a pixel ``x`` of frame ``t`` is unreliable where
    its point ``b = x + backward(x)`` lies outside frame ``t - 1``; where it was
    disoccluded, the round trip ``b + forward(b)`` (forward sampled bilinearly) missing
    ``x`` by ``|.|^2 >= 0.01 (|backward(x)|^2 + |forward(b)|^2) + 0.5``; and on a motion
    boundary, ``|grad backward(x)|^2 > 0.01 |backward(x)|^2 + 0.002``. The map (1
    elsewhere, disocclusions -1 so that smoothing spreads them outwards) is smoothed
    by a Gaussian of std :data:`SMOOTHING` and clipped to [0, 1], as the authors'
    consistency checker does. (Their tool also drops the last row and column; here a
    point counts as inside on ``0 <= b <= size - 1``.)

    Args:
        backward: ``(H, W, 2)`` flow from frame ``t`` to ``t - 1``, pixels, ``(u, v)``.
        forward: ``(H, W, 2)`` flow from frame ``t - 1`` to ``t``.

    Example:
        >>> pan = jnp.zeros((8, 10, 2)).at[..., 0].set(2.0)  # t-1 moved 2 px left
        >>> c = flow_reliability(-pan, pan)
        >>> c.shape, float(c[4, 5]), round(float(c[4, 0]), 2)  # columns 0, 1 came from outside
        ((8, 10), 1.0, 0.02)
    """
    h, w = backward.shape[:2]
    ys, xs = _grid(h, w)
    by, bx = ys + backward[..., 1], xs + backward[..., 0]
    inside = (bx >= 0) & (bx <= w - 1) & (by >= 0) & (by <= h - 1)
    u, v = _sample(forward[..., 0], by, bx), _sample(forward[..., 1], by, bx)
    miss = (bx + u - xs) ** 2 + (by + v - ys) ** 2
    back_sq = jnp.sum(backward**2, axis=-1)
    rel, floor = ROUND_TRIP
    disoccluded = miss >= rel * (back_sq + u**2 + v**2) + floor
    rel, floor = BOUNDARY
    boundary = _gradient_sq(backward) > rel * back_sq + floor
    seed = jnp.where(disoccluded, -1.0, jnp.where(boundary, 0.0, 1.0))
    seed = jnp.where(inside, seed, 0.0).astype(jnp.float32)
    return jnp.clip(_smooth(seed, SMOOTHING), 0.0, 1.0)
