"""The paper's losses on cases small enough to work out by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.loss import equations


def test_gram_by_hand():
    # H=1, W=2, C=2: positions (1, 2) and (3, 4); F (N x M) = [[1, 3], [2, 4]].
    f = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])
    # G = F F^T = [[1+9, 2+12], [2+12, 4+16]].
    np.testing.assert_array_equal(np.asarray(equations.gram(f)), [[10.0, 14.0], [14.0, 20.0]])


def test_style_layer_loss_by_hand():
    f = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])
    a = jnp.array([[9.0, 14.0], [14.0, 18.0]])
    # G - A = [[1, 0], [0, 2]] -> sum of squares 5; N = 2, M = 2: 4 N^2 M^2 = 64.
    assert float(equations.style_layer_loss(f, a)) == pytest.approx(5.0 / 64.0, rel=1e-7)


def test_style_layer_loss_zero_target_by_hand():
    f = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])
    # sum G^2 = 100 + 196 + 196 + 400 = 892.
    assert float(equations.style_layer_loss(f, jnp.zeros((2, 2)))) == pytest.approx(892.0 / 64.0)


def test_content_loss_by_hand():
    f = jnp.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    p = jnp.array([[[0.0], [2.0]], [[5.0], [4.0]]])
    # 1/2 (1 + 0 + 4 + 0) = 2.5
    assert float(equations.content_loss(f, p)) == 2.5


def test_style_loss_weights_layers():
    f = {"a": jnp.array([[[1.0, 2.0], [3.0, 4.0]]]), "b": jnp.ones((2, 2, 1))}
    a = {"a": jnp.zeros((2, 2)), "b": jnp.zeros((1, 1))}
    # E_b: G = [[4]], N = 1, M = 4 -> 16 / (4 * 1 * 16) = 0.25.
    got = equations.style_loss(f, a, {"a": 0.5, "b": 2.0})
    assert float(got) == pytest.approx(0.5 * 892.0 / 64.0 + 2.0 * 0.25)


def test_tv_loss_by_hand():
    x = jnp.array([[[0.0], [1.0]], [[3.0], [1.0]]])
    # vertical: (3-0)^2 + (1-1)^2 = 9; horizontal: (1-0)^2 + (1-3)^2 = 5.
    assert float(equations.tv_loss(x)) == 14.0


def test_total_loss():
    assert float(
        equations.total_loss(jnp.float32(2.0), jnp.float32(3.0), 1e-3, 1.0)
    ) == pytest.approx(3.002)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 7, 2), (6, 6, 8)])
def test_losses_vmap_over_batch(shape):
    rng = np.random.default_rng(0)
    batch = jnp.asarray(rng.standard_normal((3, *shape)), jnp.float32)
    target = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    a = equations.gram(target)
    grams = jax.vmap(equations.gram)(batch)
    e = jax.vmap(equations.style_layer_loss, in_axes=(0, None))(batch, a)
    c = jax.vmap(equations.content_loss, in_axes=(0, None))(batch, target)
    for i in range(3):
        np.testing.assert_allclose(grams[i], equations.gram(batch[i]), rtol=1e-6)
        np.testing.assert_allclose(e[i], equations.style_layer_loss(batch[i], a), rtol=1e-6)
        np.testing.assert_allclose(c[i], equations.content_loss(batch[i], target), rtol=1e-6)


def test_gram_matches_numpy():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((5, 6, 7)).astype(np.float32)
    flat = f.reshape(-1, 7).T  # N x M, as the paper writes F
    np.testing.assert_allclose(np.asarray(equations.gram(jnp.asarray(f))), flat @ flat.T, rtol=1e-5)


def _einsum_gram(features: jax.Array) -> jax.Array:
    f = features.reshape(-1, features.shape[-1])
    return jnp.einsum("mi,mj->ij", f, f, preferred_element_type=jnp.float32)


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 5), (8, 2, 16), (16, 16, 3)])
def test_gram_vjp_matches_autodiff(shape):
    # The hand-written VJP against autodiff of the same einsum, for a cotangent that is
    # not symmetric (the VJP must not assume it is).
    rng = np.random.default_rng(2)
    f = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    g = jnp.asarray(rng.standard_normal((shape[-1], shape[-1])), jnp.float32)
    got = jax.vjp(equations.gram, f)[1](g)[0]
    want = jax.vjp(_einsum_gram, f)[1](g)[0]
    assert got.shape == f.shape and got.dtype == f.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gram_vjp_bfloat16_keeps_dtype():
    rng = np.random.default_rng(3)
    f = jnp.asarray(rng.standard_normal((4, 4, 8)), jnp.bfloat16)
    g = jnp.asarray(rng.standard_normal((8, 8)), jnp.float32)
    got = jax.vjp(equations.gram, f)[1](g)[0]
    want = jax.vjp(_einsum_gram, f.astype(jnp.float32))[1](g)[0]
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(got.astype(jnp.float32), want, rtol=2e-2, atol=5e-2)


def test_style_loss_hessian_vector_product():
    # Forward-over-reverse goes through the custom VJP's own (differentiable) rules.
    rng = np.random.default_rng(4)
    f = jnp.asarray(rng.standard_normal((3, 5, 4)), jnp.float32)
    v = jnp.asarray(rng.standard_normal(f.shape), jnp.float32)
    a = _einsum_gram(jnp.asarray(rng.standard_normal((3, 5, 4)), jnp.float32))

    def hvp(gram_fn):
        def loss(x):
            d = gram_fn(x) - a
            return jnp.sum(d * d)

        return jax.jvp(jax.grad(loss), (f,), (v,))[1]

    np.testing.assert_allclose(hvp(equations.gram), hvp(_einsum_gram), rtol=1e-4, atol=1e-4)


def test_gram_forward_mode_is_the_product_rule():
    f = jax.random.normal(jax.random.key(0), (3, 4, 5))
    df = jax.random.normal(jax.random.key(1), (3, 4, 5))
    _, tangent = jax.jvp(equations.gram, (f,), (df,))
    a, b = f.reshape(-1, 5), df.reshape(-1, 5)
    assert jnp.allclose(tangent, b.T @ a + a.T @ b, rtol=1e-5, atol=1e-5)
