"""The spectral preconditioner: its filter by hand, its algebra, and what it buys L-BFGS."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.solve import lbfgs
from jaxstyle.solve.precondition import (
    CYCLES,
    OPERATORS,
    Precondition,
    spectral,
    spectral_weights,
)


@pytest.mark.parametrize(("h", "w", "ky", "kx"), [(12, 16, 0, 1), (12, 16, 3, 2), (9, 7, 2, 3)])
def test_a_cosine_is_scaled_by_its_frequencys_weight(h, w, ky, kx):
    # P's eigenvectors are the plane waves; the weight computed here from the formula.
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    wave = np.cos(2 * np.pi * (ky * yy / h + kx * xx / w))
    f = np.hypot(ky / h, kx / w)
    n = max(h, w)
    expected = (1 + (CYCLES / n / max(f, 1 / n)) ** 2) * wave
    q = jnp.asarray(np.stack([wave, 2 * wave, -wave], -1), jnp.float32)
    got = np.asarray(spectral(q))
    np.testing.assert_allclose(got[..., 0], expected, atol=1e-4)
    np.testing.assert_allclose(got[..., 1], 2 * expected, atol=1e-4)


def test_weights_are_one_at_fine_detail_and_grow_to_the_mean_colour():
    wt = np.asarray(spectral_weights(64, 48))
    assert wt.shape == (64, 25) and wt.min() >= 1.0
    assert wt[0, 0] == pytest.approx(1 + CYCLES**2)  # DC: f clamped at 1/N
    assert wt[32, 24] == pytest.approx(1 + (CYCLES / 64 / np.hypot(0.5, 0.5)) ** 2)


def test_p_is_symmetric_positive_definite():
    a, b = (jax.random.normal(k, (2, 10, 14, 3)) for k in jax.random.split(jax.random.key(0)))
    for x, y in zip(a, b, strict=True):
        assert float(jnp.vdot(x, spectral(y))) == pytest.approx(
            float(jnp.vdot(spectral(x), y)), rel=1e-4
        )
        assert float(jnp.vdot(x, spectral(x))) > float(jnp.vdot(x, x))  # w >= 1


def _inverse_p_quadratic(x):
    # f(x) = 1/2 (x - 3)' P^-1 (x - 3): badly conditioned (1 to 5) in the pixels, its
    # Newton step is -P g, so preconditioned L-BFGS should solve it almost at once.
    h, w = x.shape[-3:-1]
    r = x - 3.0
    spectrum = jnp.fft.rfft2(r, axes=(-3, -2))
    spectrum = spectrum / spectral_weights(h, w)[None, :, :, None].astype(spectrum.dtype)
    pr = jnp.fft.irfft2(spectrum, s=(h, w), axes=(-3, -2))
    return 0.5 * jnp.sum(r * pr, axis=(1, 2, 3))


def _probe(x, d, t):
    xt = x + t[:, None, None, None] * d
    g = jax.grad(lambda v: jnp.sum(_inverse_p_quadratic(v)))(xt)
    return xt, _inverse_p_quadratic(xt), g, jnp.sum(g * d, axis=(1, 2, 3)), None


@pytest.mark.parametrize("search", lbfgs.LINESEARCHES)
def test_spectral_lbfgs_solves_the_quadratic_whose_hessian_is_p_inverse(search):
    x0 = jax.random.uniform(jax.random.key(1), (2, 12, 16, 3))
    start = float(jnp.sum(_inverse_p_quadratic(x0)))
    final = {}
    for name in OPERATORS:
        run = list(lbfgs.steps(_probe, x0, 4, linesearch=search, precondition=name))
        final[name] = float(jnp.sum(run[-1].value)) / start
    assert final["spectral"] < 1e-6, final
    assert final["none"] > 100 * final["spectral"], final


def test_a_padded_item_is_filtered_as_its_image_alone():
    # A row split pads an item's rows below the image: P must not see (or fill) them.
    q = jax.random.normal(jax.random.key(2), (10, 14, 3))
    padded = jnp.concatenate([q, jnp.full((3, 14, 3), 7.0)])
    got = Precondition("spectral", (10, 14))(padded)
    np.testing.assert_allclose(got[:10], spectral(q), rtol=1e-5, atol=1e-5)
    assert float(jnp.max(jnp.abs(got[10:]))) == 0.0
    np.testing.assert_array_equal(Precondition("spectral", (10, 14))(q), spectral(q))
