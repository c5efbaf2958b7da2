"""Winograd F(2x2, 3x3) and F(4x4, 3x3): the convolution, its kernels, how stylize chooses it."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle import losses, optimize, vgg, winograd
from jaxstyle.errors import ConfigError

HIGHEST = jax.lax.Precision.HIGHEST


def rel_err(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


#: Max error over the largest value, float32, against XLA's direct convolution. F(4x4)'s
#: transforms hold 4, 5 and 8 (F(2x2)'s only 0, +-1, +-1/2): ~1e-5 at VGG19's widths.
TOLERANCE = {2: 1e-6, 4: 3e-5}


@pytest.mark.parametrize("tile", [2, 4])
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
def test_conv_matches_xla_convolution(n, h, w, cin, cout, tile):
    x = jax.random.normal(jax.random.key(0), (n, h, w, cin))
    k = jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
    want = vgg._conv(x, k, HIGHEST)
    u = winograd.transform_kernel(k, tile)
    assert len(u) == (tile + 2) ** 2
    got = winograd.conv3x3(x, u, HIGHEST)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert rel_err(got, want) <= TOLERANCE[tile]
    # The input gradient's convolution, from the backward kernel's own transform.
    g = jax.random.normal(jax.random.key(2), (n, h, w, cout))
    want_t = vgg._conv(g, vgg.backward_kernel(k), HIGHEST)
    own = winograd.transform_kernel(vgg.backward_kernel(k), tile)
    got_own = winograd.conv3x3(g, own, HIGHEST)
    assert got_own.shape == want_t.shape == x.shape
    assert rel_err(got_own, want_t) <= TOLERANCE[tile]
    if tile == 4:
        return
    # F(2x2): the same from the forward's 16 matrices, read transposed ...
    got_t = winograd.conv3x3_transposed(g, u, HIGHEST)
    assert got_t.shape == want_t.shape
    assert rel_err(got_t, want_t) <= 1e-6
    # ... and from those reflected and transposed.
    assert rel_err(winograd.conv3x3(g, winograd.backward_transform(u), HIGHEST), want_t) <= 1e-6


@pytest.mark.parametrize("tile", sorted(winograd.MATRICES))
def test_matrices_compute_a_correlation(tile):
    # Float64, one tile in 1-D: A^T [(G g) * (B^T d)] is the 'valid' correlation of d by g.
    bt, g, at = winograd.MATRICES[tile]
    assert (
        bt.shape == (tile + 2, tile + 2)
        and g.shape == (tile + 2, 3)
        and at.shape == (tile, tile + 2)
    )
    rng = np.random.default_rng(tile)
    for _ in range(5):
        d, k = rng.standard_normal(tile + 2), rng.standard_normal(3)
        want = np.array([d[i : i + 3] @ k for i in range(tile)])
        assert np.allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


def test_f4_has_no_reflected_shortcut():
    u = winograd.transform_kernel(jnp.ones((3, 3, 2, 3)), tile=4)
    with pytest.raises(ValueError, match="not closed under reflection"):
        winograd.backward_transform(u)
    with pytest.raises(ValueError, match="F\\(2x2, 3x3\\)'s 16 matrices"):
        winograd.conv3x3_transposed(jnp.ones((1, 4, 4, 3)), u)
    with pytest.raises(ValueError, match="tiles are \\[2, 4\\] pixels wide"):
        winograd.transform_kernel(jnp.ones((3, 3, 2, 3)), tile=3)


def test_backward_transform_is_the_flipped_kernels_transform():
    k = jax.random.normal(jax.random.key(5), (3, 3, 4, 6))
    want = winograd.transform_kernel(vgg.backward_kernel(k))
    got = winograd.backward_transform(winograd.transform_kernel(k))
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape == (6, 4)
        assert rel_err(a, b) <= 1e-6
    # numpy in, numpy out (optimize.prepare_params transposes on the host).
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


@pytest.mark.parametrize(
    ("tile", "backward"), [(2, "winograd_t"), (2, "transposed"), (4, "winograd_t")]
)
@pytest.mark.parametrize(("h", "w"), [(21, 34), (16, 16)])
def test_winograd_params_change_no_value_or_gradient(h, w, tile, backward):
    params = vgg.init_params(jax.random.key(3), (4, 8, 8, 8, 8))
    x = jax.random.normal(jax.random.key(4), (h, w, 3))
    layers = ("relu1_2", "relu3_1", "pool3", "relu5_1")

    def loss(p, x):
        out = vgg.features(p, x, layers)
        return sum(jnp.sum(jnp.sin(v)) for v in out.values())

    def prepared(p):
        layers = vgg.WINOGRAD_LAYERS if tile == 2 else vgg.WINOGRAD4_LAYERS
        q = vgg.with_backward_kernels(p, winograd=layers, tile=tile)
        if backward == "transposed":  # the input gradient reads "winograd" transposed
            q = {n: {k: v for k, v in leaf.items() if k != "winograd_t"} for n, leaf in q.items()}
        return q

    assert "winograd" in prepared(params)["conv4_2"] and "kernel_t" in prepared(params)["conv1_2"]
    assert ("winograd" in prepared(params)["conv2_1"]) == (tile == 4)
    assert len(prepared(params)["conv4_2"]["winograd"]) == (tile + 2) ** 2
    assert ("winograd_t" in prepared(params)["conv4_2"]) == (backward == "winograd_t")
    value, grads = jax.value_and_grad(loss, argnums=(0, 1))(params, x)
    value_w, grads_w = jax.value_and_grad(lambda p, x: loss(prepared(p), x), argnums=(0, 1))(
        params, x
    )
    assert rel_err(value_w, value) <= TOLERANCE[tile]
    # The input gradient runs through Winograd too; the kernels' gradient is the exact one.
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_w), strict=True):
        assert rel_err(b, a) <= 10 * TOLERANCE[tile]


def test_winograd_needs_float32():
    params = vgg.with_backward_kernels(
        vgg.init_params(jax.random.key(0), (4, 8, 8, 8, 8)), winograd=("conv3_1",)
    )
    with pytest.raises(ValueError, match="Winograd kernels are for float32"):
        vgg.features(params, jnp.zeros((8, 8, 3)), ("relu3_1",), dtype=jnp.bfloat16)


REACHED = vgg.WINOGRAD_LAYERS[:9]  # conv3_1 .. conv5_1, the paper's loss


@pytest.mark.parametrize(
    ("fields", "shape", "expect"),
    [
        ({}, (128, 128), REACHED),  # auto on a CPU, from 128² pixels up
        ({}, (100, 200), REACHED),
        ({}, (127, 128), ()),
        (
            {"style_layers": "relu1_1,relu3_1", "content_layers": "relu2_2"},
            (256, 256),
            ("conv3_1",),
        ),
        ({"convolution": "direct"}, (512, 512), ()),
        ({"precision": "bfloat16"}, (512, 512), ()),
        ({"optimizer": "optax"}, (512, 512), ()),
        ({"convolution": "winograd", "optimizer": "jaxopt"}, (16, 16), REACHED),
        ({"convolution": "winograd", "precision": "tf32"}, (16, 16), REACHED),
        ({"convolution": "winograd4"}, (16, 16), vgg.WINOGRAD4_LAYERS[:11]),
        ({"convolution": "winograd4", "optimizer": "optax"}, (16, 16), vgg.WINOGRAD4_LAYERS[:11]),
    ],
)
def test_which_layers(fields, shape, expect):
    assert jax.default_backend() == "cpu"
    assert optimize.winograd_layers(optimize.Config(**fields), shape) == expect


def test_config_checks_convolution():
    with pytest.raises(ConfigError, match="convolution must be one of"):
        optimize.Config(convolution="fft")
    with pytest.raises(ConfigError, match="float32 only"):
        optimize.Config(convolution="winograd", precision="bfloat16")
    with pytest.raises(ConfigError, match="'winograd4' is float32 only"):
        optimize.Config(convolution="winograd4", precision="bfloat16")


@pytest.mark.parametrize("convolution", ["winograd", "winograd4", "direct"])
def test_prepare_params_is_with_backward_kernels(slim_params, convolution):
    config = optimize.Config(convolution=convolution)
    got = optimize.prepare_params(slim_params, config, (32, 32))
    want = vgg.with_backward_kernels(
        slim_params,
        layers=vgg.convs_reached(config.layers),
        winograd=optimize.winograd_layers(config, (32, 32)),
        tile=optimize.winograd_tile(config),
    )
    assert ("winograd" in got["conv4_1"]) == (convolution != "direct")
    assert ("winograd" in got["conv2_2"]) == (convolution == "winograd4")
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.allclose(a, b, rtol=1e-6, atol=1e-6)
    # Layers past relu5_1 are left as they were: nothing reaches them.
    assert sorted(got["conv5_2"]) == ["bias", "kernel"]


def test_targets_in_one_pass_equal_two(slim_params, rng):
    # make_targets runs content and style through the network together when their
    # shapes match; the result must not depend on that.
    config = optimize.Config()
    content = jnp.asarray(smooth_image(rng, 32, 40))
    style = jnp.asarray(smooth_image(rng, 32, 40))
    pre = optimize.Preprocess()
    got = optimize.make_targets(slim_params, content, style, config, pre)
    fc = vgg.features(slim_params, content, ("relu4_2",))
    fs = vgg.features(slim_params, style, [k for k, _ in config.style_layers])
    assert rel_err(got.content["relu4_2"], fc["relu4_2"]) <= 1e-6
    for k, _ in config.style_layers:
        assert rel_err(got.style[k], jax.jit(losses.gram)(fs[k])) <= 1e-5
    batch = optimize.make_targets(
        slim_params, jnp.stack([content, style]), jnp.stack([style, content]), config, pre
    )
    assert rel_err(batch.content["relu4_2"][0], got.content["relu4_2"]) <= 1e-6
    assert (
        rel_err(
            batch.style["relu1_1"][1],
            jax.jit(losses.gram)(vgg.features(slim_params, content, ("relu1_1",))["relu1_1"]),
        )
        <= 1e-5
    )


def test_stylize_runs_the_chosen_convolution(slim_params, rng, monkeypatch):
    # Whole runs cannot be compared step by step: on a slim random network L-BFGS's
    # curvature pairs turn rounding-level gradient differences into ~1 % after a step.
    # So: the right code runs, the first loss agrees, and the run makes progress.
    traced = []

    def spy(real):
        def traced_call(x, u, precision=None):
            traced.append(x.shape)
            return real(x, u, precision)

        return traced_call

    for name in ("conv3x3", "conv3x3_transposed"):
        monkeypatch.setattr(winograd, name, spy(getattr(winograd, name)))
    content = smooth_image(rng, 32, 32)
    style = smooth_image(rng, 32, 32)
    base = optimize.Config(iterations=3, init="content", ratio=1e-2, linesearch="none")
    totals, calls = {}, {}
    for c in ("direct", "winograd"):
        jax.clear_caches()  # count traces, not cache hits
        traced.clear()
        config = dataclasses.replace(base, convolution=c)
        result = optimize.stylize(content, style, slim_params, optimize.Preprocess(), config)
        totals[c], calls[c] = result.history.total, len(traced)
    assert calls["direct"] == 0
    assert calls["winograd"] >= 18  # conv3_1 .. conv5_1, forward and input gradient
    # With linesearch "none", entry 0 is the loss at the content image itself.
    assert abs(totals["winograd"][0] - totals["direct"][0]) <= 1e-5 * totals["direct"][0]
    assert totals["winograd"][-1] < totals["winograd"][0]
