"""The CPU plug-in: same values and gradients as plain JAX, chosen by the config only."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import pytest
from conftest import cpu_only, rel_err, smooth_image

from jaxstyle.config import Config, resolve
from jaxstyle.cpu import plugin, winograd
from jaxstyle.errors import ConfigError
from jaxstyle.loss import equations
from jaxstyle.model.conv import conv3x3
from jaxstyle.model.layers import CONV_LAYERS, convs_reached
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import features, init_params
from jaxstyle.run.stylize import stylize
from jaxstyle.solve import host

HIGHEST = jax.lax.Precision.HIGHEST
REACHED = plugin.WINOGRAD_LAYERS[:9]  # conv3_1 .. conv5_1, the paper's loss
ALL_BACKWARD = plugin.CpuKernels(backward=CONV_LAYERS)
WINOGRAD = plugin.CpuKernels(
    backward=tuple(c for c in CONV_LAYERS if c not in plugin.WINOGRAD_LAYERS),
    winograd=plugin.WINOGRAD_LAYERS,
)


@pytest.mark.parametrize(
    ("plugin", "dtype", "h", "w"),
    [
        (ALL_BACKWARD, None, 21, 34),
        pytest.param(ALL_BACKWARD, jnp.bfloat16, 16, 16, marks=pytest.mark.heavy),
        (WINOGRAD, None, 21, 34),
        (WINOGRAD, None, 16, 16),
    ],
    ids=["backward", "backward-bf16", "winograd-ragged", "winograd"],
)
def test_plugin_changes_no_value_or_gradient(plugin, dtype, h, w):
    params = init_params(jax.random.key(3), (4, 8, 8, 8, 8))
    x = jax.random.normal(jax.random.key(4), (h, w, 3))
    layers = ("relu1_2", "relu3_1", "pool3", "relu5_1")

    def loss(p, x, k=None, prepared=None):
        out = features(p, x, layers, dtype=dtype, kernels=k, prepared=prepared)
        return sum(jnp.sum(jnp.sin(v.astype(jnp.float32))) for v in out.values())

    # Prepared once, outside (host-sliced, not traceable); the kernels' own gradient
    # still flows through the plug-in's VJP.
    prepared = plugin.prepare(params)
    plain = jax.value_and_grad(loss, argnums=(0, 1))(params, x)
    given = jax.value_and_grad(lambda p, x: loss(p, x, plugin, prepared), argnums=(0, 1))(params, x)
    tol = 1e-5 if dtype is None else 1e-2
    assert rel_err(given[0], plain[0]) <= tol
    # The input gradient runs through the plug-in; the kernels' gradient is the exact one.
    for a, b in zip(jax.tree.leaves(plain[1]), jax.tree.leaves(given[1]), strict=True):
        assert rel_err(b, a) <= 10 * tol


def test_backward_kernel_is_the_input_gradient():
    k = jax.random.normal(jax.random.key(5), (3, 3, 4, 6))
    x = jax.random.normal(jax.random.key(6), (1, 7, 9, 4))
    g = jax.random.normal(jax.random.key(7), (1, 7, 9, 6))
    _, vjp = jax.vjp(lambda x: conv3x3(x, k, HIGHEST), x)
    got = conv3x3(g, plugin.backward_kernel(k), HIGHEST)
    assert rel_err(got, vjp(g)[0]) <= 1e-5


def test_gram_vjp_is_autodiffs():
    f = jax.random.normal(jax.random.key(8), (5, 7, 6))
    t = jax.random.normal(jax.random.key(9), (6, 6))
    plain = jax.grad(lambda f: jnp.sum(jnp.sin(equations.gram(f)) * t))(f)
    fast = jax.grad(lambda f: jnp.sum(jnp.sin(plugin.gram(f)) * t))(f)
    assert rel_err(fast, plain) <= 1e-5


def test_winograd_needs_float32():
    params = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
    k = plugin.CpuKernels(
        winograd=("conv3_1",), backward=("conv1_1", "conv1_2", "conv2_1", "conv2_2")
    )
    with pytest.raises(ValueError, match="float32 only"):
        features(
            params,
            jnp.zeros((8, 8, 3)),
            ("relu3_1",),
            dtype=jnp.bfloat16,
            kernels=k,
            prepared=k.prepare(params),
        )


@pytest.mark.parametrize(
    ("fields", "backend", "shape", "expect"),
    [
        ({}, "cpu", (128, 128), REACHED),  # auto on a CPU, from 128² pixels up
        ({}, "cpu", (100, 200), REACHED),
        ({}, "cpu", (127, 128), ()),
        (
            {"style_layers": "relu1_1,relu3_1", "content_layers": "relu2_2"},
            "cpu",
            (256, 256),
            ("conv3_1",),
        ),
        ({"precision": "bfloat16"}, "cpu", (512, 512), ()),
        ({"optimizer": "optax"}, "cpu", (512, 512), ()),
        ({"convolution": "winograd", "optimizer": "jaxopt"}, "cpu", (16, 16), REACHED),
        ({"convolution": "winograd", "precision": "tf32"}, "cpu", (16, 16), REACHED),
    ],
)
def test_which_layers_run_in_winograd(fields, backend, shape, expect):
    c = resolve(Config(**fields), backend)
    k = plugin.choose(
        c.convolution, backend, c.layers, shape, precision=c.precision, optimizer=c.optimizer
    )
    assert k.winograd == expect
    assert set(k.layers) == set(convs_reached(c.layers))


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_no_cpu_kernel_runs_off_a_cpu(backend):
    c = resolve(Config(), backend)
    assert (
        plugin.choose(c.convolution, backend, c.layers, (512, 512), optimizer=c.optimizer) is None
    )
    assert plugin.choose("direct", "cpu", c.layers, (512, 512)) is None
    with pytest.raises(ConfigError, match="'winograd' is a CPU kernel"):
        resolve(Config(convolution="winograd"), backend)


@cpu_only("counts the Winograd convolutions stylize traces on a CPU")
def test_stylize_runs_the_chosen_convolution(slim_params, rng, monkeypatch):
    traced = []
    real = winograd.conv3x3

    def spy(x, u, precision=None):
        traced.append(x.shape)
        return real(x, u, precision)

    monkeypatch.setattr(winograd, "conv3x3", spy)
    content, style = smooth_image(rng, 32, 32), smooth_image(rng, 32, 32)
    base = Config(iterations=3, init="content", ratio=1e-2, linesearch="none")
    totals, calls = {}, {}
    for c in ("direct", "winograd"):
        jax.clear_caches()  # count traces, not cache hits
        traced.clear()
        result = stylize(
            content, style, slim_params, TORCHVISION, dataclasses.replace(base, convolution=c)
        )
        totals[c], calls[c] = result.history.total, len(traced)
    assert calls["direct"] == 0
    assert calls["winograd"] >= 18  # conv3_1 .. conv5_1, forward and input gradient
    # With linesearch "none", entry 0 is the loss at the content image itself.
    assert abs(totals["winograd"][0] - totals["direct"][0]) <= 1e-5 * totals["direct"][0]
    assert totals["winograd"][-1] < totals["winograd"][0]


@cpu_only("Winograd's host-sliced kernels are committed to the CPU device")
@pytest.mark.parametrize(
    ("convolution", "commit"), [("direct", True), ("winograd", False), ("winograd", True)]
)
def test_every_evaluation_runs_one_program(slim_params, rng, monkeypatch, convolution, commit):
    # jit compiles a committed and an uncommitted argument into two programs, and its
    # outputs are committed when any input is: the first evaluation takes x0, every
    # later one a probe's output. Held twice, the program cost its memory twice.
    content, style = smooth_image(rng, 32, 32), smooth_image(rng, 32, 32)
    real, seen = host.probe, []

    def spy(x, d, t, **kwargs):
        seen.append((x.committed, d.committed, t.committed))
        return real(x, d, t, **kwargs)

    monkeypatch.setattr(host, "probe", spy)
    params = jax.device_put(slim_params, jax.devices()[0]) if commit else slim_params
    stylize(
        content,
        style,
        params,
        TORCHVISION,
        Config(iterations=3, init="content", convolution=convolution),
    )
    assert len(seen) >= 4 and len(set(seen)) == 1, seen
