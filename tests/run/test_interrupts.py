"""Interrupts: a signal ends a run between compiled calls and its result is kept."""

from __future__ import annotations

import functools
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
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.run.interrupts import Interrupts
from jaxstyle.run.stylize import stylize

ROOT = Path(__file__).resolve().parents[2]


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
    from jaxstyle.run.multiscale import coarse_to_fine

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


def _cli(tmp_path: Path, *flags: str) -> list[str]:
    c, w = tmp_path / "c.png", tmp_path / "w.npz"
    if not c.exists():
        rng = np.random.default_rng(0)
        Image.fromarray((smooth_image(rng, 20, 24) * 255).astype(np.uint8)).save(c)
        write_weights(w, SLIM, source="random")
    cmd = [sys.executable, "-m", "jaxstyle", "stylize", str(c), str(c), "--weights", str(w)]
    return [*cmd, "--size", "24", "--quiet", "--bit-depth", "16", *flags]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "JAXSTYLE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_cli_writes_the_result_and_exits(tmp_path, sig):
    out = tmp_path / "out.png"
    cmd = _cli(tmp_path, "-o", str(out), "--iterations", "100000", "--save-every", "1")
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
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
    ckpt = tmp_path / "out.checkpoint.npz"
    assert f"state to {ckpt}; add --resume" in lines[0] and ckpt.is_file()
    with Image.open(out) as im:
        assert im.size == (24, 20)
    assert not list(tmp_path.glob(".out*"))  # no temporary file left
    if sig != signal.SIGINT:
        return
    # Resumed to a few more iterations, it ends where an uninterrupted run does.
    done = int(lines[0].split(" after ")[1].split()[0])
    more = ["--iterations", str(done + 3)]
    run = functools.partial(subprocess.run, env=_env(tmp_path), capture_output=True, text=True)
    resumed = run([*_cli(tmp_path, "-o", str(out), "--resume"), *more], timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    whole = run([*_cli(tmp_path, "-o", str(tmp_path / "whole.png")), *more], timeout=120)
    assert whole.returncode == 0, whole.stderr
    with Image.open(out) as a, Image.open(tmp_path / "whole.png") as b:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=2)  # of 65535
    # Anything but --iterations changed is refused in one line.
    other = run([*_cli(tmp_path, "-o", str(out), "--resume", "--ratio", "0.5"), *more], timeout=120)
    assert other.returncode == 2 and "changed: ratio" in other.stderr, other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
