"""Warping and the flow consistency check against loops written from the paper (numpy)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import flow_reliability, warp


def _bilinear(a: np.ndarray, y: float, x: float) -> float:
    h, w = a.shape
    y, x = min(max(y, 0.0), h - 1.0), min(max(x, 0.0), w - 1.0)
    y0, x0 = math.floor(y), math.floor(x)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ay, ax = y - y0, x - x0
    top = (1 - ax) * a[y0, x0] + ax * a[y0, x1]
    bottom = (1 - ax) * a[y1, x0] + ax * a[y1, x1]
    return (1 - ay) * top + ay * bottom


def _reference(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al. 2016, section 3.1, pixel by pixel in float64."""
    h, w, _ = backward.shape
    at = lambda f, y, x: f[min(max(y, 0), h - 1), min(max(x, 0), w - 1)]  # noqa: E731
    seed = np.ones((h, w))
    for y in range(h):
        for x in range(w):
            bu, bv = backward[y, x]
            by, bx = y + bv, x + bu
            if not (0 <= bx <= w - 1 and 0 <= by <= h - 1):
                seed[y, x] = 0.0
                continue
            u, v = _bilinear(forward[..., 0], by, bx), _bilinear(forward[..., 1], by, bx)
            miss = (bx + u - x) ** 2 + (by + v - y) ** 2
            if miss >= 0.01 * (bu * bu + bv * bv + u * u + v * v) + 0.5:
                seed[y, x] = -1.0
                continue
            grad = 0.0
            for c in range(2):
                dx = 0.5 * (at(backward, y, x + 1)[c] - at(backward, y, x - 1)[c])
                dy = 0.5 * (at(backward, y + 1, x)[c] - at(backward, y - 1, x)[c])
                grad += dx * dx + dy * dy
            if grad > 0.01 * (bu * bu + bv * bv) + 0.002:
                seed[y, x] = 0.0
    taps = np.exp(-(np.arange(-2, 3) ** 2) / (2 * 0.8**2))
    taps /= taps.sum()
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            out[y, x] = sum(
                taps[i + 2] * taps[j + 2] * at(seed, y + i, x + j)
                for i in range(-2, 3)
                for j in range(-2, 3)
            )
    return np.clip(out, 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reliability_equals_the_papers_check(seed):
    rng = np.random.default_rng(seed)
    h, w = 9, 11
    y, x = np.mgrid[0:h, 0:w]
    slope = rng.uniform(-0.03, 0.03, 2)  # gentle: under the boundary test's 0.002 floor
    smooth = np.stack([0.7 + slope[0] * x, -0.4 + slope[1] * y], -1)
    smooth[:, w // 2 :, 0] += 1.0  # a motion boundary down the middle
    backward = smooth.astype(np.float32)
    noise = rng.normal(scale=1.0, size=smooth.shape) * (rng.uniform(size=(h, w, 1)) < 0.3)
    forward = (-smooth + noise).astype(np.float32)  # wrong where the noise is: disocclusions
    got = np.asarray(flow_reliability(jnp.asarray(backward), jnp.asarray(forward)))
    want = _reference(backward.astype(np.float64), forward.astype(np.float64))
    assert 0.1 < np.mean(want) < 0.99  # every branch is taken somewhere
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_a_known_pan_is_reliable_except_where_it_enters():
    pan = np.zeros((12, 16, 2), np.float32)
    pan[..., 0] = 3.0  # frame t-1 moved 3 px left: frame t's column x was t-1's x - 3
    c = np.asarray(flow_reliability(jnp.asarray(-pan), jnp.asarray(pan)))
    assert np.all(c[:, 6:] == 1.0) and np.all(c[:, :2] < 0.1)  # columns 0-2 came from outside
    inconsistent = np.asarray(flow_reliability(jnp.asarray(-pan), jnp.zeros_like(jnp.asarray(pan))))
    assert np.all(inconsistent[:, 6:] == 0.0)  # the round trip misses by 3 px


def test_warp_moves_pixels_along_the_backward_flow():
    rng = np.random.default_rng(0)
    img = rng.uniform(size=(6, 7, 3)).astype(np.float32)
    flow = np.zeros((6, 7, 2), np.float32)
    flow[..., 1] = 1.0  # each pixel came from the row below
    out = np.asarray(warp(jnp.asarray(img), jnp.asarray(flow)))
    np.testing.assert_array_equal(out[:-1], img[1:])
    flow[..., 1] = 0.5
    half = np.asarray(warp(jnp.asarray(img), jnp.asarray(flow)))
    np.testing.assert_allclose(half[:-1], 0.5 * (img[:-1] + img[1:]), atol=1e-6)


def test_both_are_differentiable_and_jit():
    img = jnp.linspace(0.0, 1.0, 5 * 6 * 3).reshape(5, 6, 3)
    flow = jnp.full((5, 6, 2), 0.3)
    g = jax.grad(lambda f: jnp.sum(jax.jit(warp)(img, f)))(flow)
    assert g.shape == flow.shape and bool(jnp.all(jnp.isfinite(g)))
    jvp = jax.jvp(lambda f: jnp.sum(warp(img, f)), (flow,), (jnp.ones_like(flow),))[1]
    assert bool(jnp.isfinite(jvp))
    assert jax.jit(flow_reliability)(flow, -flow).shape == (5, 6)
