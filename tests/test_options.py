"""Speed options (issue #4): line searches, host/device loops, precision, the XLA cache.

Speed itself is measured in benchmarks/, never here; these tests pin what each option
must not change (the result) and what it may change only within a stated tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle import optimize
from jaxstyle.errors import ConfigError
from jaxstyle.vgg import TORCHVISION


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(21)
    return smooth_image(rng, 32, 32), smooth_image(rng, 32, 40)


def _targets(params, pair, config):
    content, style = (jnp.asarray(a) for a in pair)
    static = optimize.static_config([config])
    style = optimize.resize(style, 32, 32)
    return static, optimize.make_targets(params, content, style, static, TORCHVISION)


@pytest.mark.parametrize(
    ("optimizer", "linesearch"),
    [(o, ls) for o, searches in optimize.LINESEARCHES.items() for ls in searches],
)
def test_every_linesearch_lowers_the_loss(slim_params, pair, optimizer, linesearch):
    config = optimize.Config(
        iterations=8, optimizer=optimizer, linesearch=linesearch, init="content"
    )
    result = optimize.stylize(*pair, slim_params, TORCHVISION, config)
    h = result.history
    assert np.all(np.isfinite(h.total)) and np.all(h.evaluations >= 1)
    if linesearch == "none":
        assert np.all(h.evaluations == 1)  # torch-like: exactly one evaluation each
    assert h.total[-1] < 0.5 * h.total[0], h.total


# Left out, because there rounding differences between the two compiled programs
# decide the path: jaxopt's zoom, which in float32 fails its Wolfe test on most early
# iterations (30 evaluations, no step), and unit steps with no line search, which on
# this objective raise the loss for a few iterations and amplify every difference.
@pytest.mark.parametrize(
    ("optimizer", "linesearch"),
    [("optax", "zoom"), ("jaxopt", "backtracking")],
)
def test_host_and_device_loops_agree(slim_params, pair, optimizer, linesearch):
    def run(loop: str) -> optimize.Result:
        config = optimize.Config(
            iterations=4, chunk_size=3, optimizer=optimizer, linesearch=linesearch, loop=loop
        )
        return optimize.stylize(*pair, slim_params, TORCHVISION, config, key=jax.random.key(2))

    # The two programs fuse differently, so they round differently.
    host, device = run("host"), run("device")
    np.testing.assert_allclose(host.image, device.image, atol=1e-3)
    np.testing.assert_allclose(host.history.total, device.history.total, rtol=1e-3)


def test_float32_and_tf32_agree_on_cpu(slim_params, pair):
    # On a CPU the backend default is float32, so "tf32" must change nothing here.
    x = TORCHVISION.apply(jnp.asarray(pair[0]))
    values = []
    for precision in ("float32", "tf32"):
        config = optimize.Config(precision=precision)
        static, targets = _targets(slim_params, pair, config)
        values.append(optimize.loss_terms(x, slim_params, targets, static, TORCHVISION)[0])
    if jax.default_backend() == "cpu":
        np.testing.assert_allclose(values[0], values[1], rtol=1e-6)


@pytest.mark.parametrize("size", [32, 48])
def test_bfloat16_loss_and_gradient_within_tolerance(slim_params, size):
    rng = np.random.default_rng(size)
    content, style = smooth_image(rng, size, size), smooth_image(rng, size, size)
    x = TORCHVISION.apply(jnp.asarray(smooth_image(rng, size, size)))
    out = {}
    for precision in ("float32", "bfloat16"):
        config = optimize.Config(precision=precision)
        static, targets = _targets(slim_params, (content, style), config)
        fun = optimize.objective(slim_params, targets, static, TORCHVISION)
        (value, _terms), grad = jax.jit(jax.value_and_grad(fun, has_aux=True))(x)
        assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
        out[precision] = (float(value), np.asarray(grad).ravel())
    (v32, g32), (v16, g16) = out["float32"], out["bfloat16"]
    # bf16 keeps 8 mantissa bits: a few per cent on the loss, nearly the same descent
    # direction (measured: cosine 0.98 at 48 px on the slim net).
    assert abs(v16 - v32) / v32 < 5e-2, (v16, v32)
    cosine = g16 @ g32 / (np.linalg.norm(g16) * np.linalg.norm(g32))
    assert cosine > 0.95, cosine


def test_bfloat16_stylize_reaches_a_comparable_loss(slim_params, pair):
    def final(precision: str) -> float:
        config = optimize.Config(iterations=20, precision=precision, init="content")
        h = optimize.stylize(*pair, slim_params, TORCHVISION, config).history
        return float(h.total[-1])

    f32, bf16 = final("float32"), final("bfloat16")
    assert bf16 < 1.5 * f32, (bf16, f32)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "jaxopt", "linesearch": "none"}, "offers linesearch"),
        ({"linesearch": "hager-zhang"}, "offers linesearch"),
        ({"precision": "float16"}, "precision must be"),
        ({"loop": "gpu"}, "loop must be"),
        ({"optimizer": "lbfgs", "loop": "device"}, "stepped from Python"),
        ({"optimizer": "lbfgs", "linesearch": "zoom"}, "offers linesearch"),
    ],
)
def test_option_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        optimize.Config(**kwargs)


def test_each_optimizer_defaults_to_its_first_linesearch():
    for optimizer, searches in optimize.LINESEARCHES.items():
        assert optimize.Config(optimizer=optimizer).linesearch == searches[0]


def test_lbfgs_has_no_compiled_step(slim_params, pair):
    config = optimize.Config(optimizer="lbfgs")
    static, targets = _targets(slim_params, pair, config)
    x0 = TORCHVISION.apply(jnp.asarray(pair[0]))
    with pytest.raises(ConfigError, match="stylize drives it"):
        optimize.init_state(x0, slim_params, targets, static, TORCHVISION)


def test_auto_loop_is_host_only_on_cpu():
    optax = {"optimizer": "optax"}
    assert optimize.host_loop(optimize.Config(loop="host", **optax))
    assert not optimize.host_loop(optimize.Config(loop="device", **optax))
    assert optimize.host_loop(optimize.Config(**optax)) == (jax.default_backend() == "cpu")


_PROBE = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import jaxstyle
    print(jax.config.jax_compilation_cache_dir)
    jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((8, 8))).block_until_ready()
    """
)


def _probe(tmp_path, **env) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("JAX", "JAXSTYLE"))}
    full.update(JAXSTYLE_HOME=str(tmp_path), JAX_PLATFORMS="cpu", **env)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=full, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_compilation_cache_is_on_by_default(tmp_path):
    assert _probe(tmp_path) == str(tmp_path / "xla")
    assert any((tmp_path / "xla").iterdir())


def test_compilation_cache_opt_out_and_user_choice(tmp_path):
    assert _probe(tmp_path, JAXSTYLE_COMPILATION_CACHE="0") == "None"
    assert not (tmp_path / "xla").exists()
    mine = tmp_path / "mine"
    assert _probe(tmp_path, JAX_COMPILATION_CACHE_DIR=str(mine)) == str(mine)
    assert not (tmp_path / "xla").exists()


_FLAGS_PROBE = textwrap.dedent(
    """
    import os, sys
    import jax, jax.numpy as jnp
    if sys.argv[1] == "late":
        jnp.ones(1).block_until_ready()  # a backend runs before jaxstyle is imported
    import jaxstyle
    x, k = jnp.ones((1, 8, 8, 64)), jnp.ones((3, 3, 64, 64))
    nhwc = ("NHWC", "HWIO", "NHWC")  # the VGG's layout
    conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=nhwc)
    hlo = jax.jit(conv).lower(x, k).compile()
    print("ynn_fusion" in hlo.as_text())
    print(os.environ.get("XLA_FLAGS", ""))
    """
)


def _flags_probe(when: str = "first", **env: str) -> tuple[str, bool]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("JAX", "XLA_FLAGS"))}
    full.update(JAX_PLATFORMS="cpu", JAXSTYLE_COMPILATION_CACHE="0", **env)
    out = subprocess.run(
        [sys.executable, "-c", _FLAGS_PROBE, when],
        env=full,
        capture_output=True,
        text=True,
        check=True,
    )
    ynn, flags = out.stdout.split("\n")[:2]
    return flags, ynn == "True"


_YNN = "--xla_cpu_experimental_ynn_fusion_type"
_NEW_JAXLIB = tuple(int(p) for p in jax.lib.__version__.split(".")[:2]) >= (0, 10)


@pytest.mark.skipif(not _NEW_JAXLIB, reason="the CPU flags apply from jaxlib 0.10")
def test_cpu_flags_keep_convolutions_off_ynnpack_by_default():
    flags, ynn = _flags_probe()
    assert flags == _YNN + "="
    assert not ynn


@pytest.mark.skipif(not _NEW_JAXLIB, reason="the CPU flags apply from jaxlib 0.10")
def test_cpu_flags_opt_out_user_choice_and_late_import():
    flags, ynn = _flags_probe(JAXSTYLE_XLA_FLAGS="0")
    assert flags == ""
    # XLA's own default: if this fails, jaxlib stopped using YNNPACK for convolutions
    # and CPU_FLAGS may no longer be needed.
    assert ynn
    mine = _YNN + "=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"
    flags, ynn = _flags_probe(XLA_FLAGS=mine)
    assert flags == mine
    assert ynn  # the user's flag reached XLA, ours did not override it
    assert _flags_probe("late")[0] == ""
    other = "--xla_cpu_enable_fast_math=false"
    assert _flags_probe(XLA_FLAGS=other)[0] == other + " " + _YNN + "="
