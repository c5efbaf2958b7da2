"""Winograd F(2x2, 3x3): the convolution and its kernel transforms, against XLA's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rel_err

from jaxstyle.cpu import winograd
from jaxstyle.cpu.plugin import backward_kernel
from jaxstyle.model.conv import conv3x3

HIGHEST = jax.lax.Precision.HIGHEST


@pytest.mark.parametrize(
    ("n", "h", "w", "cin", "cout"),
    [
        (1, 8, 8, 3, 5),
        (2, 7, 9, 4, 6),
        (1, 1, 1, 2, 3),
        (1, 2, 3, 16, 8),
        (3, 5, 2, 3, 2),
        (1, 13, 10, 64, 32),
    ],
)
def test_conv_matches_xla_convolution(n, h, w, cin, cout):
    x = jax.random.normal(jax.random.key(0), (n, h, w, cin))
    k = jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
    want = conv3x3(x, k, HIGHEST)
    u = winograd.transform_kernel(k)
    assert len(u) == 16
    got = winograd.conv3x3(x, u, HIGHEST)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert rel_err(got, want) <= 1e-6
    # The input gradient's convolution, from the backward kernel's own transform.
    g = jax.random.normal(jax.random.key(2), (n, h, w, cout))
    want_t = conv3x3(g, backward_kernel(k), HIGHEST)
    got_own = winograd.conv3x3(g, winograd.transform_kernel(backward_kernel(k)), HIGHEST)
    assert got_own.shape == want_t.shape == x.shape
    assert rel_err(got_own, want_t) <= 1e-6
    # The same from the forward's 16 matrices, read transposed ...
    got_t = winograd.conv3x3_transposed(g, u, HIGHEST)
    assert got_t.shape == want_t.shape
    assert rel_err(got_t, want_t) <= 1e-6
    # ... and from those reflected and transposed.
    assert rel_err(winograd.conv3x3(g, winograd.backward_transform(u), HIGHEST), want_t) <= 1e-6


def test_matrices_compute_a_correlation():
    # Float64, one tile in 1-D: A^T [(G g) * (B^T d)] is the 'valid' correlation of d by g.
    rng = np.random.default_rng(2)
    for _ in range(5):
        d, k = rng.standard_normal(4), rng.standard_normal(3)
        want = np.array([d[i : i + 3] @ k for i in range(2)])
        got = winograd.AT @ ((winograd.G.astype(np.float64) @ k) * (winograd.BT @ d))
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_backward_transform_is_the_flipped_kernels_transform():
    k = jax.random.normal(jax.random.key(5), (3, 3, 4, 6))
    want = winograd.transform_kernel(backward_kernel(k))
    got = winograd.backward_transform(winograd.transform_kernel(k))
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape == (6, 4)
        assert rel_err(a, b) <= 1e-6
    # numpy in, numpy out (the plug-in transposes on the host).
    host = winograd.backward_transform(tuple(np.asarray(a) for a in winograd.transform_kernel(k)))
    assert all(isinstance(a, np.ndarray) for a in host)


def test_kernel_transform_is_g_g_gt():
    # Reference: the textbook matrices, in float64, one (input, output) pair at a time.
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    k = np.random.default_rng(0).standard_normal((3, 3, 2, 3))
    got = np.stack(winograd.transform_kernel(jnp.asarray(k, jnp.float32))).reshape(4, 4, 2, 3)
    for i in range(2):
        for o in range(3):
            assert np.allclose(got[:, :, i, o], g @ k[:, :, i, o] @ g.T, rtol=1e-6, atol=1e-6)
