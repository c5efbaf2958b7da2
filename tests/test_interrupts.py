"""Interrupts: a signal ends a run between compiled calls and its result is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SLIM, smooth_image, write_weights
from PIL import Image

from jaxstyle.config import Config
from jaxstyle.interrupts import Interrupts
from jaxstyle.preprocess import TORCHVISION
from jaxstyle.stylize import stylize

ROOT = Path(__file__).resolve().parents[1]


def test_a_signal_is_deferred_and_the_handler_restored():
    before = signal.getsignal(signal.SIGINT)
    with Interrupts((signal.SIGINT, signal.SIGTERM)) as caught:
        signal.raise_signal(signal.SIGTERM)
        assert caught.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):  # a second one acts at once
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_hands_back_what_it_has(slim_params, rng, optimizer):
    content = jnp.asarray(smooth_image(rng, 24, 32))
    seen = []

    def interrupt(done, image, history):
        seen.append(done)
        signal.raise_signal(signal.SIGINT)

    config = Config(iterations=40, chunk_size=2, optimizer=optimizer)
    out = stylize(
        content,
        content,
        slim_params,
        TORCHVISION,
        config,
        key=jax.random.key(0),
        callback=interrupt,
    )
    assert out.stopped == "SIGINT" and seen == [2]
    # The next compiled call finishes; L-BFGS drops the iteration it was in.
    assert len(out.history.total) in (2, 3), len(out.history.total)
    assert out.image.shape == (24, 32, 3) and np.all(np.isfinite(out.image))
    assert np.all(np.isfinite(out.history.total))


def test_coarse_to_fine_stops_at_the_interrupted_stage(slim_params, rng):
    from jaxstyle.multiscale import coarse_to_fine

    content = jnp.asarray(smooth_image(rng, 48, 64))

    def interrupt(done, image, history):
        signal.raise_signal(signal.SIGINT)

    config = Config(iterations=4, chunk_size=2)
    outs = coarse_to_fine(
        content, content, slim_params, TORCHVISION, config, (32, 64), 4, key=jax.random.key(0)
    )
    assert [o.stopped for o in outs] == [None, None]
    outs = coarse_to_fine(
        *(content, content, slim_params, TORCHVISION, config, (32, 64), 4),
        key=jax.random.key(0),
        callback=interrupt,
    )
    assert [o.stopped for o in outs] == ["SIGINT"]
    assert outs[0].image.shape == (24, 32, 3)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_cli_writes_the_result_and_exits(tmp_path, sig):
    rng = np.random.default_rng(0)
    Image.fromarray((smooth_image(rng, 20, 24) * 255).astype(np.uint8)).save(tmp_path / "c.png")
    write_weights(tmp_path / "w.npz", SLIM, source="random")
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "jaxstyle", "stylize", str(tmp_path / "c.png")]
    cmd += [str(tmp_path / "c.png"), "-o", str(out), "--weights", str(tmp_path / "w.npz")]
    cmd += ["--size", "24", "--iterations", "100000", "--save-every", "1", "--quiet"]
    env = {**os.environ, "JAXSTYLE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "out_00002.png").exists():  # mid-run
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"jaxstyle: {sig.name} after "), err
    assert "Traceback" not in err and str(out) in lines[0]
    with Image.open(out) as im:
        assert im.size == (24, 20)
    assert not list(tmp_path.glob(".out.png.*"))  # no temporary file left
