"""The jaxstyle command end to end, on tiny images and a tiny random weights file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import SLIM, smooth_image, write_weights
from PIL import Image

from jaxstyle import cli
from jaxstyle import config as cfg
from jaxstyle.model.preprocess import CAFFE
from jaxstyle.model.vgg import init_params
from jaxstyle.weights import store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    Image.fromarray((smooth_image(rng, 20, 24) * 255).astype(np.uint8)).save(d / "content.png")
    Image.fromarray((smooth_image(rng, 30, 30) * 255).astype(np.uint8)).save(d / "style.jpg")
    write_weights(d / "w.npz", SLIM, source="random")
    bad = {
        f"{k}/{leaf}": np.asarray(v)
        for k, dd in init_params(jax.random.key(0), SLIM).items()
        for leaf, v in dd.items()
    }
    bad["conv2_1/kernel"] = np.zeros((3, 3, 7, 16), np.float32)
    bad["__meta__"] = np.frombuffer(store.WeightsMeta("random", CAFFE).to_json().encode(), np.uint8)
    np.savez(d / "bad.npz", **bad)
    write_weights(d / "three.npz", SLIM[:3], source="random")
    (d / "empty.png").write_bytes(b"")
    (d / "text.jpg").write_text("hello")
    return d


def _run(files, *extra, content="content.png", style="style.jpg", out="out.png"):
    args = ["stylize"]
    args += [str(files / content), str(files / style)] if content else []
    args += ["-o", str(files / out), "--weights", str(files / "w.npz"), "--quiet"]
    return cli.main([*args, "--iterations", "3", "--size", "24", *extra])


def test_end_to_end(files, capsys):
    out = files / "out.png"
    out.unlink(missing_ok=True)
    assert _run(files) == 0
    with Image.open(out) as im:
        assert im.size == (24, 20)
    assert capsys.readouterr().err == ""


def test_weights_of_the_first_blocks(files, capsys):
    """Three blocks: layers within them stylise; `weights info` says what the file holds."""
    three = ("--weights", str(files / "three.npz"))
    layers = ("--content-layers", "relu3_2", "--style-layers", "relu1_1,relu2_1,relu3_1")
    assert _run(files, *layers, *three, out="three.png") == 0
    assert (files / "three.png").is_file()
    assert cli.main(["weights", "info", str(files / "three.npz")]) == 0
    out = capsys.readouterr().out
    assert "blocks:        1-3 of 5 (conv1_1 ... conv3_4; layers up to relu3_4 and pool3)" in out
    assert cli.main(["weights", "info", str(files / "w.npz")]) == 0
    assert "blocks:        1-5 of 5 (conv1_1 ... conv5_4;" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("every", "iterations", "saved"),
    [(2, 5, (2, 4)), (1, 3, (1, 2)), (70, 150, (70, 140)), (9, 5, ())],
)
def test_save_every_writes_intermediates(files, every, iterations, saved):
    out = f"run{every}.jpg"
    args = ("--save-every", str(every), "--iterations", str(iterations))
    assert _run(files, *args, out=out) == 0
    assert (files / out).exists()
    got = sorted(p.name for p in files.glob(f"run{every}_*.jpg"))
    assert got == [f"run{every}_{i:05d}.jpg" for i in saved]


@pytest.mark.parametrize(
    ("kwargs", "extra", "match"),
    [
        ({"content": "missing.png"}, (), "image not found"),
        ({"content": "empty.png"}, (), "cannot read image"),
        ({"style": "text.jpg"}, (), "cannot read image"),
        ({}, ("--style-layers", "relu1_1,relu9_1"), "unknown VGG19 layer 'relu9_1'"),
        ({}, ("--content-layers", "fc7"), "unknown VGG19 layer 'fc7'"),
        ({}, ("--weights", "BAD"), r"conv2_1 kernel has shape"),
        ({}, ("--weights", "nowhere.npz"), "weights file not found"),
        ({}, ("--size", "0"), "--size: must be positive"),
        ({}, ("--size", "-3"), "--size: must be positive"),
        ({}, ("--size", "8"), "needs at least 16 px"),
        ({}, ("--iterations", "0"), "--iterations: must be positive"),
        ({}, ("--iterations", "many"), "expected a whole number"),
        ({}, ("--ratio", "-1"), "--ratio"),
        ({"out": "out.gif"}, (), r"must end in \.png"),
        ({"out": "content.png"}, (), "refusing to overwrite the input"),
        ({"style": None}, (), "give both CONTENT and STYLE"),
        ({}, ("--optimizer", "jaxopt", "--linesearch", "none"), "offers linesearch"),
        ({}, ("--precision", "fp8"), "--precision: invalid choice"),
        ({}, ("--convolution", "fft"), "--convolution: invalid choice"),
        ({}, ("--convolution", "winograd", "--precision", "bfloat16"), "float32 only"),
        ({}, ("--history-size", "0"), "history_size must be positive"),
        ({}, ("--optimizer", "lbfgs", "--linesearch", "zoom"), "offers linesearch"),
        ({}, ("--optimizer", "jaxopt", "--precondition", "spectral"), "offers precondition"),
        ({}, ("--weighting", "mean"), "--weighting: invalid choice"),
        ({}, ("--weights", "THREE"), "layer relu4_1 needs block 4 of VGG19, but these weights"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, kwargs, extra, match):
    names = {"BAD": "bad.npz", "THREE": "three.npz"}
    extra = tuple(str(files / names[e]) if e in names else e for e in extra)
    if kwargs.get("style", "x") is None:
        args = ["stylize", str(files / "content.png"), "-o", str(files / "x.png"), "--quiet"]
        rc = cli.main(args)
    else:
        out = files / kwargs.get("out", "fresh.png")
        before = out.read_bytes() if out.exists() else None
        try:
            rc = _run(files, *extra, **{**kwargs, "out": out.name})
        except SystemExit as e:  # argparse's own errors
            rc = e.code
        after = out.read_bytes() if out.exists() else None
        assert after == before, "output written or input changed"
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    import re

    assert re.search(match, err), err


def test_subprocess_no_traceback(files):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXSTYLE_HOME": str(files / "home")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxstyle",
            "stylize",
            str(files / "missing.png"),
            str(files / "style.jpg"),
            "-o",
            str(files / "y.png"),
            "--weights",
            str(files / "w.npz"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"jaxstyle: error: image not found: {files / 'missing.png'}"
    assert not (files / "y.png").exists()


def test_help_lists_stylize(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "stylize" in capsys.readouterr().out


def _choice_flags(parser) -> list[tuple[str, object, tuple]]:
    """(subcommand path, default, choices) of every choice flag, subcommands included."""
    out = []
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):  # subcommands
            for name, sub in action.choices.items():
                out += [(f"{name} {d}", v, c) for d, v, c in _choice_flags(sub)]
        elif action.choices and action.option_strings:
            out.append((action.dest, action.default, tuple(action.choices)))
    return out


def test_choice_defaults_are_the_configs():
    """Each choice flag named as a Config field defaults to that field (and offers it)."""
    checked = 0
    for where, default, choices in _choice_flags(cli.build_parser()):
        field = where.rsplit(" ", 1)[-1]
        if hasattr(cfg.Config, field):
            assert default == getattr(cfg.Config, field), where
            assert default is None or default in choices, where  # None: chosen later
            checked += 1
    assert checked >= 12


def test_source_name_offline_says_where_to_put_the_file(files, capsys, monkeypatch, tmp_path):
    import dataclasses

    from jaxstyle.weights import fetch

    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path))
    refused = dataclasses.replace(fetch.ORIGINALS["keras"], urls=("http://127.0.0.1:1/vgg19.h5",))
    monkeypatch.setitem(fetch.ORIGINALS, "keras", refused)
    args = [str(files / "content.png"), str(files / "style.jpg"), "-o", str(tmp_path / "o.png")]
    assert cli.main(["stylize", *args, "--weights", "keras", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"put it at {tmp_path / refused.filename}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
