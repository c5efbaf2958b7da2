"""The matrix-free matting Laplacian against a dense float64 construction of its formula.

The reference builds Levin et al.'s ``L`` (as the issue fixes it: 3x3 windows inside
the image, centred covariances, ``eps/9`` on their diagonal) by looping over windows in
numpy. Test images are random or smooth-plus-noise, so every window's covariance is
well conditioned and float32 is meaningful (see the module's conditioning note).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rel_err, smooth_image

from jaxstyle.loss.matting import MattingStats, laplacian_apply, matting_loss, matting_stats

EPS = 1e-7


def dense_laplacian(img: np.ndarray, eps: float = EPS) -> np.ndarray:
    """``L`` as an ``(H W, H W)`` float64 matrix, row-major pixels, one window at a time."""
    img = np.asarray(img, np.float64)
    h, w, _ = img.shape
    index = np.arange(h * w).reshape(h, w)
    lap = np.zeros((h * w, h * w))
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            colours = img[r - 1 : r + 2, c - 1 : c + 2].reshape(9, 3)
            ids = index[r - 1 : r + 2, c - 1 : c + 2].reshape(9)
            mu = colours.mean(axis=0)
            cov = (colours - mu).T @ (colours - mu) / 9.0
            inv = np.linalg.inv(cov + eps / 9.0 * np.eye(3))
            for i in range(9):
                for j in range(9):
                    di, dj = colours[i] - mu, colours[j] - mu
                    lap[ids[i], ids[j]] += float(i == j) - (1.0 + di @ inv @ dj) / 9.0
    return lap


def dense_loss(lap: np.ndarray, out: np.ndarray) -> float:
    o = np.asarray(out, np.float64).reshape(-1, 3)
    return float(sum(o[:, c] @ lap @ o[:, c] for c in range(3)))


def images(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "smooth":
        return smooth_image(rng, 8, 9)
    h, w = {"5x6": (5, 6), "7x7": (7, 7), "3x3": (3, 3)}[kind]
    return rng.uniform(size=(h, w, 3)).astype(np.float32)


KINDS = ["5x6", "7x7", "smooth", "3x3"]


@pytest.mark.parametrize("kind", KINDS)
def test_apply_matches_dense(rng, kind):
    img = images(rng, kind)
    lap = dense_laplacian(img)
    stats = matting_stats(jnp.asarray(img))
    for _ in range(3):
        v = rng.uniform(size=img.shape[:2]).astype(np.float32)
        got = laplacian_apply(jnp.asarray(v), stats)
        assert got.shape == v.shape and got.dtype == jnp.float32
        want = (lap @ v.astype(np.float64).reshape(-1)).reshape(v.shape)
        assert rel_err(got, want) <= 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_stats_match_numpy(rng, kind):
    img = images(rng, kind)
    stats = matting_stats(jnp.asarray(img))
    h, w = img.shape[0] - 2, img.shape[1] - 2
    assert stats.mean.shape == (h, w, 3) and stats.inv_cov.shape == (h, w, 3, 3)
    assert stats.mean.dtype == stats.inv_cov.dtype == jnp.float32
    x = img.astype(np.float64)
    for r in range(h):
        for c in range(w):
            colours = x[r : r + 3, c : c + 3].reshape(9, 3)
            mu = colours.mean(axis=0)
            inv = np.linalg.inv(np.cov(colours.T, bias=True) + EPS / 9.0 * np.eye(3))
            np.testing.assert_allclose(np.asarray(stats.mean[r, c]), mu, rtol=1e-6, atol=1e-7)
            assert rel_err(stats.inv_cov[r, c], inv) <= 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_loss_and_grad_match_dense(rng, kind):
    img = images(rng, kind)
    lap = dense_laplacian(img)
    stats = matting_stats(jnp.asarray(img))
    out = rng.uniform(size=img.shape).astype(np.float32)
    loss, grad = jax.value_and_grad(matting_loss)(jnp.asarray(out), stats)
    assert loss.shape == () and loss.dtype == jnp.float32
    want = dense_loss(lap, out)
    assert abs(float(loss) - want) <= 1e-5 * abs(want)
    o = out.astype(np.float64).reshape(-1, 3)
    want_grad = np.stack([2.0 * lap @ o[:, c] for c in range(3)], axis=-1).reshape(out.shape)
    assert grad.shape == out.shape and rel_err(grad, want_grad) <= 1e-4


def test_loss_accurate_near_its_minimum(rng):
    # A locally affine map of the content plus 1e-3 noise: v^T L v is ~1e-4 of |v|^2,
    # where the difference form sum v^2 - (s^2 + b^T A b)/9 would lose ~3 digits.
    img = images(rng, "7x7")
    lap = dense_laplacian(img)
    mix = rng.uniform(size=(3, 3)) * 0.3
    out = (img @ mix + 0.1 + 1e-3 * rng.standard_normal(img.shape)).astype(np.float32)
    want = dense_loss(lap, out)
    assert want < 1e-4 * float(np.sum(np.square(out.astype(np.float64))))
    assert abs(float(matting_loss(jnp.asarray(out), matting_stats(jnp.asarray(img)))) - want) <= (
        1e-5 * want
    )


def test_jvp_is_2_vT_L_t(rng):
    img = images(rng, "5x6")
    lap = dense_laplacian(img)
    out, tangent = (rng.uniform(size=img.shape).astype(np.float32) for _ in range(2))
    stats = matting_stats(jnp.asarray(img))
    primal, dot = jax.jvp(lambda o: matting_loss(o, stats), (jnp.asarray(out),), (tangent,))
    o, t = (np.asarray(a, np.float64).reshape(-1, 3) for a in (out, tangent))
    assert abs(float(primal) - dense_loss(lap, out)) <= 1e-5 * dense_loss(lap, out)
    want = sum(2.0 * t[:, c] @ lap @ o[:, c] for c in range(3))
    assert abs(float(dot) - want) <= 1e-4 * abs(want) + 1e-5


def test_dense_reference_is_symmetric_psd_with_constants_in_null_space(rng):
    for kind in KINDS:
        lap = dense_laplacian(images(rng, kind))
        np.testing.assert_allclose(lap, lap.T, atol=1e-9 * np.abs(lap).max())
        eig = np.linalg.eigvalsh(lap)
        assert eig.min() >= -1e-6 * eig.max()
        assert np.abs(lap @ np.ones(lap.shape[0])).max() <= 1e-9 * np.abs(lap).max()


def test_probed_operator_is_symmetric_psd_with_constants_in_null_space(rng):
    img = images(rng, "5x6")
    h, w = img.shape[:2]
    stats = matting_stats(jnp.asarray(img))
    basis = jnp.eye(h * w, dtype=jnp.float32).reshape(h * w, h, w)
    probed = np.asarray(jax.vmap(lambda e: laplacian_apply(e, stats))(basis), np.float64)
    probed = probed.reshape(h * w, h * w).T  # column j is L e_j
    scale = np.abs(probed).max()
    np.testing.assert_allclose(probed, probed.T, atol=1e-5 * scale)
    assert rel_err(probed, dense_laplacian(img)) <= 1e-4
    eig = np.linalg.eigvalsh((probed + probed.T) / 2.0)
    assert eig.min() >= -1e-6 * eig.max()
    ones = laplacian_apply(jnp.ones((h, w), jnp.float32), stats)
    assert float(jnp.max(jnp.abs(ones))) <= 1e-5 * scale


def test_vmap_over_a_batch(rng):
    contents = np.stack([images(rng, "5x6") for _ in range(3)])
    outs = rng.uniform(size=contents.shape).astype(np.float32)
    stats = jax.vmap(matting_stats)(jnp.asarray(contents))
    assert stats.mean.shape == (3, 3, 4, 3) and stats.inv_cov.shape == (3, 3, 4, 3, 3)
    losses = jax.vmap(matting_loss)(jnp.asarray(outs), stats)
    grads = jax.vmap(jax.grad(matting_loss))(jnp.asarray(outs), stats)
    applied = jax.vmap(laplacian_apply)(jnp.asarray(outs[..., 0]), stats)
    for b in range(3):
        lap = dense_laplacian(contents[b])
        want = dense_loss(lap, outs[b])
        assert abs(float(losses[b]) - want) <= 1e-5 * want
        o = outs[b].astype(np.float64).reshape(-1, 3)
        want_grad = np.stack([2.0 * lap @ o[:, c] for c in range(3)], -1)
        assert rel_err(grads[b], want_grad.reshape(outs[b].shape)) <= 1e-4
        assert rel_err(applied[b], (lap @ o[:, 0]).reshape(outs.shape[1:3])) <= 1e-4


def test_stats_are_a_pytree_for_jit(rng):
    img = jnp.asarray(images(rng, "5x6"))
    stats = jax.jit(matting_stats)(img)
    assert isinstance(stats, MattingStats) and stats.eps.dtype == jnp.float32
    assert float(stats.eps) == pytest.approx(EPS)
    loss = jax.jit(matting_loss)(img, stats)
    assert float(loss) < 1e-5  # O = I: every window's output is affine in its colours


@pytest.mark.parametrize("shape", [(2, 5, 3), (5, 2, 3), (5, 5), (5, 5, 4)])
def test_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"H, W >= 3"):
        matting_stats(jnp.zeros(shape, jnp.float32))


def _largest(jaxpr: jax.extend.core.Jaxpr) -> int:
    """The most elements of any value in ``jaxpr`` and the jaxprs inside it."""
    sizes = [
        int(np.prod(v.aval.shape)) for v in (*jaxpr.invars, *jaxpr.outvars) if hasattr(v, "aval")
    ]
    for eqn in jaxpr.eqns:
        sizes += [int(np.prod(v.aval.shape)) for v in eqn.outvars]
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    sizes.append(_largest(inner))
    return max(sizes)


def test_1024_squared_is_linear_in_size():
    n = 1024
    key_c, key_o = jax.random.split(jax.random.key(0))
    content = jax.random.uniform(key_c, (n, n, 3))
    out = jax.random.uniform(key_o, (n, n, 3))

    def run(content: jax.Array, out: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.value_and_grad(matting_loss)(out, matting_stats(content))

    largest = _largest(jax.make_jaxpr(run)(content, out).jaxpr)
    assert largest <= 9 * n * n
    compiled = jax.jit(run).lower(content, out).compile()
    start = time.perf_counter()
    loss, grad = jax.block_until_ready(compiled(content, out))
    assert time.perf_counter() - start < 5.0  # ~1 s on 2 busy CPU cores
    assert grad.shape == (n, n, 3) and bool(jnp.all(jnp.isfinite(grad)))
    # Random output on random content: each window's residual is ~(9 - 4) / 9 of v's
    # spread, so the loss is about 3 channels x windows x 5 x Var(U(0, 1)) = 5/4 N.
    assert 0.5 * n * n < float(loss) < 2.0 * n * n
