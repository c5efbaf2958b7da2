"""The memory plan against XLA's own memory analysis; refusals before any resize or compile."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, cpu_only, rel_err, smooth_image, write_weights, xla_bytes
from PIL import Image

from jaxstyle import cli
from jaxstyle.config import Config, resolve
from jaxstyle.cpu import plugin as cpu
from jaxstyle.loss.evaluate import Evaluation
from jaxstyle.loss.objective import Loss, make_targets, spec_of, weights_of
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import features
from jaxstyle.run.plan import plan
from jaxstyle.run.stylize import stylize
from jaxstyle.scale import capacity, memory

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"


@cpu_only("the estimate's factor is XLA:CPU's")
@pytest.mark.parametrize(
    "hw, batch, style, content, history, convolution",
    [
        ((128, 128), 1, DEFAULT, "relu4_2", 100, "auto"),
        ((192, 256), 1, DEFAULT, "relu4_2", 5, "auto"),
        ((256, 256), 2, DEFAULT, "relu4_2", 10, "direct"),
        ((160, 224), 1, "relu1_1,relu2_1,relu3_1", "relu3_2", 50, "direct"),
        ((96, 128), 3, "relu1_1,relu2_1,relu3_1", "relu2_2", 20, "auto"),
    ],
)
def test_estimate_within_25_percent_of_xla(
    full_params, hw, batch, style, content, history, convolution
):
    config = resolve(
        Config(
            style_layers=style,
            content_layers=content,
            history_size=history,
            optimizer="lbfgs",
            convolution=convolution,
        ),
        "cpu",
    )
    want = xla_bytes(full_params, hw, config, batch, convolution)
    got = plan(hw, config, batch=batch, budget=None).memory.total
    assert abs(got / want - 1) <= 0.25, (got / 2**20, want / 2**20)


@pytest.mark.parametrize("plugin", [False, True])
def test_remat_changes_nothing_but_memory(slim_params, rng, plugin):
    x = jnp.asarray(smooth_image(rng, 40, 48))
    spec = spec_of(Config())
    targets = make_targets(slim_params, x, x[::-1], spec, TORCHVISION)
    w = weights_of(Config(), spec)
    kernels = cpu.choose("auto", "cpu", spec.layers, (40, 48)) if plugin else None
    prepared = None if kernels is None else kernels.prepare(slim_params)
    z = TORCHVISION.apply(jnp.asarray(smooth_image(rng, 40, 48)))
    out = []
    for remat in (False, True):
        loss = Loss(dataclasses.replace(spec, remat=remat, kernels=kernels), TORCHVISION)
        f = lambda z, loss=loss: loss(z, (slim_params, prepared), (targets, w))[0]  # noqa: E731
        out.append(jax.jit(jax.value_and_grad(f))(z))
    assert rel_err(out[1][0], out[0][0]) < 1e-6
    assert rel_err(out[1][1], out[0][1]) < 1e-5


def test_remat_features_equal(slim_params, rng):
    x = jnp.asarray(smooth_image(rng, 32, 32))
    layers = ["relu1_1", "conv2_2", "pool2", "relu3_1", "relu5_1"]
    plain, remat = (
        features(slim_params, x, layers, visitor=Evaluation(remat=r)) for r in (False, True)
    )
    assert list(plain) == list(remat) == layers
    for k in layers:
        np.testing.assert_array_equal(np.asarray(plain[k]), np.asarray(remat[k]))


def test_auto_shortens_history_fixed_refuses():
    c = Config(optimizer="lbfgs", convolution="direct")
    budget = 12 * 2**30
    auto = plan((2048, 2048), c, budget=budget)
    assert auto.fits and capacity.MIN_HISTORY <= auto.history_size < 100
    fixed = dataclasses.replace(c, memory="fixed", history_size=100)
    p = plan((2048, 2048), fixed, budget=budget)
    assert not p.fits and p.history_size == 100
    with pytest.raises(capacity.MemoryPlanError, match=r"largest size that fits is 1[0-9]{3} px"):
        p.checked()


def test_plan_parts_scale():
    c = Config(optimizer="adam")
    one, two = (plan((512, 512), c, batch=b, budget=None).memory for b in (1, 2))
    assert two.parts["activations"] == 2 * one.parts["activations"]
    assert two.parts["kernels"] == one.parts["kernels"]
    assert one.history_size == 0 and one.parts["optimizer"] == 2 * 512 * 512 * 3 * 4
    split = memory.estimate((512, 512), spec_of(c), optimizer="adam", history=0, batch=8, devices=4)
    assert split.parts["activations"] == two.parts["activations"]


def test_each_rule_is_decided_by_the_plan_alone():
    """The plug-in, the history size and the tiles are the plan's, in its one spec."""
    p = plan((512, 512), Config(optimizer="lbfgs"), budget=None, backend="cpu")
    assert p.spec.kernels is not None and p.spec.kernels.winograd  # lbfgs from 128**2
    assert p.history_size == 100 and p.spec.tiles == 0 and p.spec.height is None
    assert plan((512, 512), Config(optimizer="adam"), backend="gpu").spec.kernels is None


def test_stylize_refuses_before_resizing(slim_params, rng, monkeypatch):
    monkeypatch.setattr(capacity, "available", lambda backend: 2**10)

    def no_prepare(*a, **k):
        raise AssertionError("resized after all")

    monkeypatch.setattr("jaxstyle.run.stylize.prepare", no_prepare)
    img = smooth_image(rng, 32, 32)
    with pytest.raises(capacity.MemoryPlanError, match="GiB is available"):
        stylize(img, img, slim_params, TORCHVISION, Config(iterations=1))
    with pytest.raises(AssertionError, match="resized"):  # off: no plan, no check
        stylize(img, img, slim_params, TORCHVISION, Config(iterations=1, memory="off"))


def test_image_size_reads_exif_orientation(tmp_path):
    im = Image.new("RGB", (30, 20))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif)
    from jaxstyle.images.read import image_size, load_image

    assert image_size(tmp_path / "r.jpg") == load_image(tmp_path / "r.jpg").shape[:2] == (30, 20)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    rng = np.random.default_rng(0)
    for name, (h, w) in (("c.png", (30, 40)), ("s.png", (30, 30))):
        Image.fromarray((smooth_image(rng, h, w) * 255).astype(np.uint8)).save(d / name)
    write_weights(d / "w.npz", TINY, source="random")
    return d


def test_dry_run_prints_the_plan(pair, capsys):
    out = pair / "out.png"
    args = [str(pair / "c.png"), str(pair / "s.png"), "-o", str(out), "--weights", "missing.npz"]
    assert cli.main(["stylize", *args, "--size", "2048", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("plan: 2048x1536 px, batch 1") and "GiB" in printed
    assert not out.exists()  # and the weights were never opened


def test_too_big_is_one_line_exit_2_in_seconds(pair):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXSTYLE_HOME": str(pair / "home")}
    out = pair / "big.png"
    start = time.perf_counter()
    files = [str(pair / "c.png"), str(pair / "s.png"), "--weights", str(pair / "w.npz")]
    proc = subprocess.run(
        [sys.executable, "-m", "jaxstyle", "stylize", *files, "-o", str(out), "--size", "60000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxstyle: error: this run needs about")
    assert "largest size that fits is" in lines[0]
    assert time.perf_counter() - start < 60 and not out.exists()
