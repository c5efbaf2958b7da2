"""The Wasserstein style loss against float64 numpy/scipy computations of its own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxstyle.loss import wasserstein as w2

EPS = w2.WASSERSTEIN_EPS
#: (H, W, C): M > C, M == C, M < C (rank-deficient covariance), one position.
SHAPES = [(4, 5, 3), (2, 4, 8), (2, 3, 16), (3, 3, 32), (1, 1, 4)]


def _features(seed: int, shape, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """ReLU-like correlated features: non-negative, channels mixed."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    mix = rng.standard_normal((c, c)) / np.sqrt(c)
    f = rng.standard_normal((*shape[:-1], c)) @ mix * scale + loc + rng.uniform(0, 1, c)
    return np.maximum(f, 0.0).astype(np.float32)


def _ref_moments(f: np.ndarray):
    x = np.asarray(f, np.float64).reshape(-1, f.shape[-1])
    return x.mean(axis=0), np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])


def _ref_w2(mean1, cov1, mean2, cov2, eps: float) -> float:
    """Textbook W2^2 in float64 with scipy.linalg.sqrtm."""
    eye = np.eye(len(mean1))
    s1, s2 = cov1 + eps * eye, cov2 + eps * eye
    r2 = scipy.linalg.sqrtm(s2)
    cross = np.trace(scipy.linalg.sqrtm(r2 @ s1 @ r2)).real
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * cross)


def _scale(cov1, cov2) -> float:
    """The size of the terms that cancel: float32 error is relative to it."""
    return float(np.trace(cov1) + np.trace(cov2) + 2 * EPS * len(cov1))


def _random_psd(seed: int, c: int, rank: int) -> np.ndarray:
    b = np.random.default_rng(seed).standard_normal((c, rank))
    return b @ b.T


@pytest.mark.parametrize(
    ("c", "rank", "eps"), [(3, 3, 0.0), (8, 8, 0.0), (8, 3, EPS), (16, 1, 1.0)]
)
def test_sqrtm_psd_matches_scipy(c, rank, eps):
    a = _random_psd(c + rank, c, rank)
    got = np.asarray(w2.sqrtm_psd(jnp.asarray(a, jnp.float32), eps))
    want = scipy.linalg.sqrtm(a + eps * np.eye(c)).real
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, got.T, atol=1e-6 * np.abs(want).max())
    np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("repeated", [False, True])
def test_sqrtm_psd_jvp_solves_sylvester(repeated):
    # d(Y) for Y^2 = A solves Y dY + dY Y = dA (scipy.linalg.solve_sylvester), also where
    # eigenvalues repeat (eigh's own eigenvector derivative is infinite there).
    rng = np.random.default_rng(5)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    lam = np.array([1.0, 1.0, 1.0, 4.0]) if repeated else np.array([0.5, 1.0, 2.0, 4.0])
    a = (q * lam) @ q.T
    da = rng.standard_normal((4, 4))
    da = da + da.T
    y, dy = jax.jvp(w2.sqrtm_psd, (jnp.asarray(a, jnp.float32),), (jnp.asarray(da, jnp.float32),))
    ry = scipy.linalg.sqrtm(a).real
    np.testing.assert_allclose(y, ry, atol=1e-5)
    np.testing.assert_allclose(dy, scipy.linalg.solve_sylvester(ry, ry, da), atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_moments_match_numpy(shape, dtype):
    f = jnp.asarray(_features(0, shape, scale=3.0, loc=5.0), dtype)
    mean, cov = w2.moments(f)
    rmean, rcov = _ref_moments(np.asarray(f.astype(jnp.float32)))
    assert mean.dtype == cov.dtype == jnp.float32
    assert mean.shape == (shape[-1],) and cov.shape == (shape[-1],) * 2
    np.testing.assert_allclose(mean, rmean, rtol=1e-5)
    np.testing.assert_allclose(cov, rcov, atol=1e-5 * np.abs(rcov).max() + 1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_zero_for_identical_features(shape):
    f = _features(1, shape, scale=2.0)
    target = w2.style_moments(jnp.asarray(f))
    got = float(w2.wasserstein_layer_loss(jnp.asarray(f), target))
    _, cov = _ref_moments(f)
    assert abs(got) <= 1e-5 * _scale(cov, cov)
    mean, cov32 = w2.moments(jnp.asarray(f))
    assert abs(float(w2.wasserstein2(mean, cov32, mean, cov32))) <= 1e-5 * _scale(cov, cov)


@pytest.mark.parametrize("shape", SHAPES)
def test_wasserstein2_symmetric(shape):
    m1, c1 = w2.moments(jnp.asarray(_features(2, shape)))
    m2, c2 = w2.moments(jnp.asarray(_features(3, shape, loc=1.0, scale=3.0)))
    ab, ba = float(w2.wasserstein2(m1, c1, m2, c2)), float(w2.wasserstein2(m2, c2, m1, c1))
    assert abs(ab - ba) <= 1e-5 * _scale(np.asarray(c1), np.asarray(c2))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [EPS, 1e-2])
def test_matches_scipy(shape, eps):
    f, s = _features(4, shape), _features(5, (*shape[:-1], shape[-1]), loc=0.5, scale=2.0)
    rm1, rc1 = _ref_moments(f)
    rm2, rc2 = _ref_moments(s)
    want = _ref_w2(rm1, rc1, rm2, rc2, eps)
    tol = 2e-5 * (_scale(rc1, rc2) + abs(want))
    got = w2.wasserstein_layer_loss(jnp.asarray(f), w2.style_moments(jnp.asarray(s), eps), eps)
    assert got.shape == () and got.dtype == jnp.float32
    assert abs(float(got) - want) <= tol, (float(got), want)
    m1, c1 = w2.moments(jnp.asarray(f))
    m2, c2 = w2.moments(jnp.asarray(s))
    assert abs(float(w2.wasserstein2(m1, c1, m2, c2, eps)) - want) <= tol


def test_matches_closed_form_commuting():
    # Diagonal covariances: W2^2 = |dm|^2 + sum (sqrt(a_i + eps) - sqrt(b_i + eps))^2.
    a, b = np.array([1.0, 4.0, 0.0]), np.array([9.0, 1.0, 0.0])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    want = 5.0 + np.sum((np.sqrt(a + EPS) - np.sqrt(b + EPS)) ** 2)
    got = w2.wasserstein2(*(jnp.asarray(x, jnp.float32) for x in (m1, np.diag(a), m2, np.diag(b))))
    assert float(got) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("sizes", [(6, 6), (4, 4, 4), (3, 9), (1, 5, 10)])
def test_blend_moments_is_the_pooled_moments(sizes):
    c = 5
    sets = [_features(10 + i, (1, m, c), loc=float(i), scale=1.0 + i) for i, m in enumerate(sizes)]
    weights = [m / sum(sizes) for m in sizes]
    mean, cov = w2.blend_moments([w2.moments(jnp.asarray(s)) for s in sets], weights)
    rmean, rcov = _ref_moments(np.concatenate(sets, axis=1))
    np.testing.assert_allclose(mean, rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov, rcov, atol=2e-5 * np.abs(rcov).max())


def test_blend_moments_checks_weights():
    part = (jnp.zeros(2), jnp.eye(2))
    with pytest.raises(ValueError, match="sum to"):
        w2.blend_moments([part, part], [0.5, 0.6])
    with pytest.raises(ValueError, match="weights"):
        w2.blend_moments([part, part], [1.0])


@pytest.mark.parametrize(
    ("shape", "style_shape"), [((2, 3, 16), (2, 2, 16)), ((1, 2, 8), (4, 4, 8))]
)
def test_gradient_finite_and_right_when_fewer_positions_than_channels(shape, style_shape):
    # M < C: the covariance is singular, only eps keeps the square roots differentiable.
    # The gradient against central differences of the float64 scipy reference.
    f = _features(20, shape)
    target = w2.style_moments(jnp.asarray(_features(21, style_shape, loc=0.5)))
    rm2, rc2 = _ref_moments(_features(21, style_shape, loc=0.5))
    v = np.random.default_rng(22).standard_normal(shape)

    def loss(x):
        return w2.wasserstein_layer_loss(x, target)

    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(f)))
    _, tangent = jax.jit(lambda x, t: jax.jvp(loss, (x,), (t,)))(
        jnp.asarray(f), jnp.asarray(v, jnp.float32)
    )
    assert np.all(np.isfinite(grad)) and np.isfinite(float(tangent))

    def ref(x):
        return _ref_w2(*_ref_moments(x), rm2, rc2, EPS)

    h = 1e-6
    fd = (ref(f.astype(np.float64) + h * v) - ref(f.astype(np.float64) - h * v)) / (2 * h)
    assert float(np.sum(grad * v)) == pytest.approx(fd, rel=2e-3, abs=1e-3)
    assert float(tangent) == pytest.approx(fd, rel=2e-3, abs=1e-3)


def test_wasserstein2_gradient_in_both_covariances_when_singular():
    # Rank-1 and rank-2 covariances of 6 channels: finite, and the directional derivative
    # in cov2 agrees with float64 central differences (h well below eps). Both singular is
    # the worst case for float32: 1e-3 relative at eps = 1e-4 (4e-5 at eps = 1e-2).
    c = 6
    c1, c2 = _random_psd(30, c, 1), _random_psd(31, c, 2)
    m1, m2 = np.zeros(c), np.ones(c)
    d = _random_psd(32, c, c) / c
    args = [jnp.asarray(x, jnp.float32) for x in (m1, c1, m2, c2)]
    grads = jax.jit(jax.grad(w2.wasserstein2, argnums=(0, 1, 2, 3)))(*args)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    h = 1e-7
    fd = (_ref_w2(m1, c1, m2, c2 + h * d, EPS) - _ref_w2(m1, c1, m2, c2 - h * d, EPS)) / (2 * h)
    assert float(jnp.sum(grads[3] * d)) == pytest.approx(fd, rel=3e-3)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 2, 8)])
def test_vmap_over_batch(shape):
    batch = jnp.asarray(np.stack([_features(40 + i, shape) for i in range(3)]))
    styles = jax.vmap(w2.style_moments)(batch)
    assert styles.cov_sqrt.shape == (3, shape[-1], shape[-1])
    target = w2.style_moments(jnp.asarray(_features(50, shape, loc=1.0)))
    got = jax.jit(jax.vmap(w2.wasserstein_layer_loss, in_axes=(0, None)))(batch, target)
    pairs = jax.vmap(w2.wasserstein_layer_loss)(batch, styles)
    for i in range(3):
        want = w2.wasserstein_layer_loss(batch[i], target)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            styles.cov_sqrt[i], w2.style_moments(batch[i]).cov_sqrt, atol=1e-5
        )
    assert np.all(np.abs(np.asarray(pairs)) < 1e-4)
