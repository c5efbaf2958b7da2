"""``jaxstyle stylize``'s control flags end to end at tiny size, and their one-line errors."""

from __future__ import annotations

import numpy as np
import png
import pytest
from conftest import TINY, smooth_image, write_weights
from PIL import Image

from jaxstyle import cli


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_controls")
    rng = np.random.default_rng(5)
    for name, (h, w) in {"content.png": (20, 24), "a.jpg": (30, 30), "b.png": (26, 34)}.items():
        Image.fromarray((smooth_image(rng, h, w) * 255).astype(np.uint8)).save(d / name)
    top = np.zeros((40, 48), np.uint8)
    top[:20] = 255
    Image.fromarray(top).save(d / "top.png")  # another size than the content: resized
    Image.fromarray(255 - top).save(d / "bottom.png")
    write_weights(d / "w.npz", TINY, source="random")
    return d


def _files(d, text):
    """``a.png,b.png`` -> the same files in ``d``; other values unchanged."""
    if not text.endswith((".png", ".jpg")):
        return text
    return ",".join(str(d / t) for t in text.split(","))


def _run(d, *extra, style="a.jpg", out="out.png"):
    styles = _files(d, style)
    extra = [_files(d, e) for e in extra]
    args = ["stylize", str(d / "content.png"), styles, "-o", str(d / out)]
    args += ["--weights", str(d / "w.npz"), "--quiet", "--iterations", "2", "--size", "24"]
    return cli.main([*args, *extra])


@pytest.mark.parametrize(
    ("flags", "style"),
    [
        (("--colors", "luminance"), "a.jpg"),
        (("--colors", "match", "--color-match", "chol"), "a.jpg"),
        (("--colors", "swap"), "a.jpg"),
        (("--style-blend-weights", "3,1"), "a.jpg,b.png"),
        (("--masks", "top.png,bottom.png", "--mask-mode", "inside"), "a.jpg,b.png"),
        (("--masks", "top.png,bottom.png", "--style-masks", "top.png,bottom.png"), "a.jpg,b.png"),
        (("--style-layers", "relu1_1:0.5,relu3_1:0.5", "--content-layers", "relu2_2:1"), "a.jpg"),
        (("--init", "image", "--init-image", "b.png"), "a.jpg"),
        (("--optimizer", "adam", "--learning-rate", "0.05"), "a.jpg"),
        (("--style-loss", "wasserstein"), "a.jpg"),
        (("--photorealism", "10"), "a.jpg"),
    ],
)
def test_every_control_flag_runs(d, capsys, flags, style):
    out = d / "out.png"
    out.unlink(missing_ok=True)
    assert _run(d, *flags, style=style) == 0, capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (24, 20)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_output(d, suffix):
    out = d / f"deep{suffix}"
    assert _run(d, "--bit-depth", "16", out=out.name) == 0
    if suffix == ".png":
        with open(out, "rb") as f:
            w, h, rows, info = png.Reader(file=f).asDirect()
            levels = np.vstack(list(rows))
        assert levels.max() > 255
        assert (w, h, info["bitdepth"], info["planes"]) == (24, 20, 16, 3)
    else:
        import tifffile

        a = tifffile.imread(out)
        assert a.dtype == np.uint16 and a.shape == (20, 24, 3)


@pytest.mark.parametrize(
    ("flags", "style", "message"),
    [
        (("--masks", "top.png"), "a.jpg,b.png", "1 masks for 2 style image"),
        (("--style-blend-weights", "1,-1"), "a.jpg,b.png", "blend weights must be finite"),
        (("--style-blend-weights", "1,2,3"), "a.jpg,b.png", "3 style blend weights for 2"),
        (("--style-layers", "relu1_1:x"), "a.jpg", "must be a number"),
        (("--init", "image"), "a.jpg", "init='image' needs an init_image"),
        (("--masks", "missing.png"), "a.jpg", "not found"),
        (("--bit-depth", "16"), "a.jpg", "JPEG holds 8 bits only"),
        (("--jpeg-quality", "101"), "a.jpg", "JPEG quality must be 1..100"),
        (("--learning-rate", "3"), "a.jpg", "learning_rate must be in"),
    ],
)
def test_bad_control_values_are_one_line(d, capsys, flags, style, message):
    out = "bad.jpg" if "--bit-depth" in flags or "--jpeg-quality" in flags else "bad.png"
    assert _run(d, *flags, style=style, out=out) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (d / out).exists()


def test_an_empty_region_is_one_warning_line(d, capsys):
    dot = np.zeros((20, 24), np.uint8)
    dot[9:11, 9:11] = 255
    Image.fromarray(dot).save(d / "dot.png")
    assert _run(d, "--masks", "dot.png", "--mask-mode", "inside", style="a.jpg") == 0
    err = capsys.readouterr().err
    assert err.startswith("jaxstyle: warning: mask 1 is empty at") and err.count("\n") == 1, err
