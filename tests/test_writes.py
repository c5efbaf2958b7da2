"""Write faults at every write site: one named error, no partial file, older files intact."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, write_weights

from jaxstyle import cache, cli
from jaxstyle.errors import CheckpointError, ImageError, JaxstyleError, WeightsError
from jaxstyle.images.write import save_image
from jaxstyle.run import checkpoint
from jaxstyle.weights.store import load_weights, save_weights


def _full(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _read_only(*_: object) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


FAULTS = {
    # where: the flush (a full disk shows when the data reaches it) or the rename
    "disk-full": ("fsync", _full, "No space left"),
    "read-only": ("replace", _read_only, "Read-only"),
    "vanished": ("fsync", "vanish", "No such file"),
}


def _inject(monkeypatch, fault: str, directory: Path) -> str:
    where, action, words = FAULTS[fault]
    real = os.fsync
    if action == "vanish":

        def action(fd: int) -> None:
            real(fd)
            shutil.rmtree(directory)  # the target directory disappears mid-write

    monkeypatch.setattr(cache.os, where, action)
    return words


def _image_site(path: Path) -> tuple[type[JaxstyleError], object]:
    return ImageError, lambda: save_image(path, np.full((4, 5, 3), 0.25))


SITES = {
    "png": lambda d: _image_site(d / "o.png"),
    "png16": lambda d: (
        ImageError,
        lambda: save_image(d / "o.png", np.zeros((4, 5, 3)), bit_depth=16),
    ),
    "jpeg": lambda d: _image_site(d / "o.jpg"),
    "tiff": lambda d: _image_site(d / "o.tif"),
    "weights": lambda d: (
        WeightsError,
        lambda: save_weights(d / "w.npz", *load_weights(d.parent / "src.npz")),
    ),
    "checkpoint": lambda d: (
        CheckpointError,
        lambda: checkpoint.save(
            checkpoint.Checkpoint(d / "o.checkpoint.npz"), {"a": "1"}, np.ones(3), {}, 3
        ),
    ),
}


@pytest.fixture
def target(tmp_path) -> Path:
    write_weights(tmp_path / "src.npz", TINY, source="random")
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("site", sorted(SITES))
def test_a_failed_write_is_one_error_and_leaves_nothing(monkeypatch, target, site, fault):
    kind, write = SITES[site](target)
    write()  # an earlier, good file
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    words = _inject(monkeypatch, fault, target)
    with pytest.raises(kind) as e:
        write()
    msg = str(e.value)
    assert "\n" not in msg and words in msg, msg
    if fault == "vanished":
        assert not target.exists() or not any(target.iterdir())
    else:
        assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # no temp, old kept


def test_a_new_file_gets_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_image(tmp_path / "o.png", np.zeros((2, 2, 3)))
    finally:
        os.umask(old)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


def test_a_damaged_cached_conversion_is_rebuilt(monkeypatch, tmp_path):
    from jaxstyle.weights import resolve

    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    made = []

    # The conversion itself is tested in test_convert.
    def fake_convert(source, path, out, state_dict=None):
        write_weights(out, TINY, source="random")
        made.append(out)

    monkeypatch.setattr(resolve, "convert", fake_convert)
    original = tmp_path / "vgg19.h5"
    original.write_bytes(b"stands for an original checkpoint")
    monkeypatch.setattr(resolve, "guess_source", lambda p, state_dict=None: "keras")
    out = Path(resolve.resolve_weights(str(original)))
    assert made == [out] and cache.sealed(out)
    assert resolve.resolve_weights(str(original)) == str(out) and len(made) == 1  # reused
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit on disk
    out.write_bytes(bytes(data))
    assert not cache.sealed(out)
    resolve.resolve_weights(str(original))
    assert len(made) == 2 and cache.sealed(out)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_cli_says_one_line_and_exits_2(monkeypatch, tmp_path, capsys, fault):
    from PIL import Image

    Image.new("RGB", (24, 20), (90, 120, 200)).save(tmp_path / "c.png")
    write_weights(tmp_path / "w.npz", TINY, source="random")
    target = tmp_path / "out"
    target.mkdir()
    _inject(monkeypatch, fault, target)
    argv = [
        "stylize",
        str(tmp_path / "c.png"),
        str(tmp_path / "c.png"),
        "-o",
        str(target / "o.png"),
    ]
    argv += ["--weights", str(tmp_path / "w.npz"), "--size", "24", "--iterations", "1", "--quiet"]
    argv += ["--style-layers", "relu1_1", "--content-layers", "relu2_1"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxstyle: error: cannot write"), err
    assert not target.exists() or not list(target.iterdir())
