"""The paper-figure specs, their batched runs, the grids, and `jaxstyle figures` end to end."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys

import numpy as np
import pytest
from conftest import SLIM, write_weights
from PIL import Image

from jaxstyle import cli, figures
from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.images.read import bundled

TINY = Config(iterations=2, optimizer="optax")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return write_weights(tmp_path_factory.mktemp("figw") / "w.npz", SLIM, source="random")


#: What a panel runs for the paper's alpha/beta: the value itself on the literal
#: equations; 6x it under the default weighting (its 6e-3 stands for the paper's 1e-3).
FACTOR = {"paper": 1.0, "authors": 6.0}


@pytest.mark.parametrize("weighting", ["authors", "paper"])
def test_fig3_uses_the_papers_ratios_and_a_public_domain_fifth_style(weighting):
    fig = figures.figure(3, dataclasses.replace(TINY, weighting=weighting))
    got = [(p.style, p.config.ratio) for p in fig.results]
    # Caption of Fig. 3: 1e-3 (B), 8e-4 (C), 5e-3 (D), 5e-4 (E, F); E is the Great Wave here.
    paper = [1e-3, 8e-4, 5e-3, 5e-4, 5e-4]
    assert [s for s, _ in got] == [
        "shipwreck.jpg",
        "starry_night.jpg",
        "the_scream.jpg",
        "great_wave.jpg",
        "composition_vii.jpg",
    ]
    assert [r for _, r in got] == pytest.approx([FACTOR[weighting] * r for r in paper])
    assert all(p.config.weighting == weighting for p in fig.results)
    assert all(p.config.iterations == 2 and p.config.optimizer == "optax" for p in fig.results)
    # Each panel is labelled with what it ran and, under the default, the paper's value.
    if weighting == "authors":
        assert "ratio 6e-3 (paper \u03b1/\u03b2 1e-3)" in fig.results[0].title
    else:
        assert fig.results[0].title.endswith("\u03b1/\u03b2 = 1e-3")


@pytest.mark.parametrize("weighting", ["authors", "paper"])
def test_fig4_is_layer_sets_by_ratios_with_equal_weights(weighting):
    fig = figures.figure(4, dataclasses.replace(TINY, weighting=weighting))
    assert fig.shape == (5, 4)
    cells = {(p.row, p.col): p.config for p in fig.results}
    assert len(cells) == 20
    for (row, col), config in cells.items():
        names = [k for k, _ in config.style_layers]
        assert names == [f"relu{b}_1" for b in range(1, row + 2)]
        assert sum(w for _, w in config.style_layers) == pytest.approx(1.0)
        assert len({w for _, w in config.style_layers}) == 1
        assert config.ratio == pytest.approx(FACTOR[weighting] * (1e-5, 1e-4, 1e-3, 1e-2)[col])
        assert config.content_layers == (("relu4_2", 1.0),)
    assert {p.style for p in fig.results} == {"composition_vii.jpg"}


def test_fig1_reconstructs_content_per_layer_and_style_per_layer_set():
    fig = figures.figure(1, TINY)
    assert fig.shape == (2, 6) and fig.row_labels == ("content", "style")
    top = [p.config for p in fig.results if p.row == 0]
    bottom = [p.config for p in fig.results if p.row == 1]
    assert [c.content_layers for c in top] == [((f"relu{b}_2", 1.0),) for b in range(1, 6)]
    assert all(c.style_layers == () and c.init == "noise" for c in top)
    assert all(c.content_layers == () and c.init == "noise" for c in bottom)
    for n, c in enumerate(bottom, start=1):
        assert [k for k, _ in c.style_layers] == [f"relu{b}_1" for b in range(1, n + 1)]
        assert [w for _, w in c.style_layers] == pytest.approx([1 / n] * n)
    assert figures.figure(1, TINY, blocks=3).shape == (2, 4)


def test_figures_of_the_first_blocks_move_the_layers_into_them():
    fig4 = figures.figure(4, TINY, blocks=3)
    assert fig4.shape == (3, 4)
    assert fig4.row_labels == ("relu1_1", "relu1_1 … relu2_1", "relu1_1 … relu3_1")
    assert {p.config.content_layers for p in fig4.results} == {(("relu3_2", 1.0),)}
    assert "content relu3_2, style relu1_1 … relu3_1" in fig4.note
    fig5 = figures.figure(5, TINY, blocks=3)
    assert [p.config.content_layers for p in fig5.results] == [
        (("relu2_2", 1.0),),
        (("relu3_2", 1.0),),
    ]
    for n in figures.FIGURES:
        for p in figures.figure(n, TINY, blocks=3).results:
            assert all(int(k[4]) <= 3 for k in p.config.layers), (n, p.name)


def test_fig5_to_7_specs():
    fig5 = figures.figure(5, TINY)
    assert [p.config.content_layers for p in fig5.results] == [
        (("relu2_2", 1.0),),
        (("relu4_2", 1.0),),
    ]
    assert [p.config.ratio for p in fig5.results] == pytest.approx([6e-3, 6e-3])
    assert {p.config.init for p in fig5.results} == {"content"}  # the default start
    fig6 = figures.figure(6, TINY)
    assert [(p.config.init, p.seed) for p in fig6.results] == [
        ("content", 0),
        ("style", 0),
        *[("noise", s) for s in range(4)],
    ]
    fig7, photoreal = figures.figure(7, TINY).results
    assert (fig7.style, fig7.config.init) == ("beach_city.jpg", "content")
    assert fig7.config.ratio == pytest.approx(FACTOR["authors"] * 1e-2)  # the paper's 1e-2
    assert (fig7.config.photorealism, photoreal.config.photorealism) == (0.0, 3.0)
    assert figures.figure(7).content == "golden_gate.jpg"


def test_unknown_figure_and_too_small_size_are_config_errors():
    with pytest.raises(ConfigError, match="one of 1, 3, 4, 5, 6, 7"):
        figures.figure(2)
    with pytest.raises(ConfigError, match=r"golden_gate.jpg becomes 30x14 px"):
        figures.check_size(figures.figure(7), 30)
    figures.check_size(figures.figure(7), figures.TINY["size"])
    assert figures.parse_numbers(["all"]) == figures.FIGURES


def test_every_bundled_image_is_credited_with_its_md5():
    notice = (bundled("NOTICE.md")).read_text()
    assets = sorted(bundled(".").glob("*.jpg"))
    assert {p.name for p in assets} >= {
        s for n in figures.FIGURES for s in figures.figure(n).styles
    }
    for path in assets:
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        entry = re.search(rf"`{re.escape(path.name)}`.*?md5\s+`([0-9a-f]{{32}})`", notice, re.S)
        assert entry, f"{path.name} is not in NOTICE.md"
        assert entry.group(1) == md5, path.name


def test_with_inset_pastes_a_bordered_thumbnail():
    image = np.zeros((40, 60, 3), np.float32)
    out = figures.with_inset(image, np.full((10, 10, 3), 0.5, np.float32), 0.25)
    assert out.shape == image.shape and not np.shares_memory(out, image)
    np.testing.assert_allclose(out[-10:, :15], 0.5, atol=1e-6)  # 25% of 40x60
    assert np.all(out[-11, :16] == 1.0) and np.all(out[-11:, 15] == 1.0)  # the border
    assert np.all(out[:-11] == 0.0) and np.all(out[:, 16:] == 0.0)


@pytest.fixture(scope="module")
def all_tiny(weights_file, tmp_path_factory):
    """`jaxstyle figures all --tiny` once, in process; the tests below read its outputs."""
    out = tmp_path_factory.mktemp("figs")
    args = ["figures", "all", "--tiny", "-o", str(out), "--weights", str(weights_file)]
    return out, cli.main([*args, "--quiet"])


def test_cli_all_figures_tiny(all_tiny, capsys):
    out, rc = all_tiny
    assert rc == 0
    for n in figures.FIGURES:
        fig = figures.figure(n)
        h, w = figures.load_inputs(fig, figures.TINY["size"])[0].shape[:2]
        with Image.open(out / f"fig{n}.png") as grid:
            assert grid.format == "PNG" and grid.width > 300
        for p in fig.results:
            with Image.open(out / f"fig{n}_{p.name}.png") as im:
                assert im.size == (w, h)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_cli_controls_gallery_tiny(weights_file, tmp_path):
    from jaxstyle.figures import controls

    out = tmp_path / "gallery"
    args = ["figures", "controls", "--tiny", "-o", str(out), "--weights", str(weights_file)]
    assert cli.main([*args, "--quiet"]) == 0
    h, w = figures.load_inputs(figures.figure(3), figures.TINY["size"])[0].shape[:2]
    names = [name for name, _, _ in controls.BATCHED] + [controls.REGIONS[0]]
    for name in names:
        with Image.open(out / f"controls_{name}.png") as im:
            assert im.size == (w, h)
    with Image.open(out / "controls.png") as grid:
        assert grid.width > 300


def test_each_noise_panel_gets_its_own_key(all_tiny):
    out, _ = all_tiny
    noise = [np.asarray(Image.open(out / f"fig6_init_noise{s}.png"), np.int16) for s in range(4)]
    assert all(np.abs(a - b).max() > 2 for i, a in enumerate(noise) for b in noise[i + 1 :])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["figures", "8"], "figure must be one of 1, 3, 4, 5, 6, 7 or all, got 8"),
        (["figures", "three"], "got 'three'"),
        (["figures", "7", "--size", "30"], "needs? at least 16 px"),
        (["figures", "7", "--weights", "nowhere.npz"], "weights file not found"),
        (["figures", "7", "--size", "0"], "--size: must be positive"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, argv, match):
    try:
        rc = cli.main([*argv, "-o", str(tmp_path / "out"), "--quiet"])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and re.search(match, err), err
    assert not (tmp_path / "out").exists()


def test_cli_without_matplotlib_is_one_line_exit_2(tmp_path, capsys, monkeypatch, weights_file):
    # A None entry makes `import matplotlib` raise ImportError, as if not installed.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "out"
    rc = cli.main(["figures", "7", "--tiny", "-o", str(out), "--weights", str(weights_file)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"jaxstyle: error: {figures.MATPLOTLIB_MISSING}\n"
    assert not out.exists()
