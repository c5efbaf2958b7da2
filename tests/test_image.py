"""Image loading (modes, EXIF), resizing, and atomic, input-safe saving."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from jaxstyle import image
from jaxstyle.errors import ImageError


def _write(path, arr, mode=None, **save):
    Image.fromarray(arr, mode).save(path, **save) if mode else Image.fromarray(arr).save(
        path, **save
    )
    return path


def test_rgb_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = _write(tmp_path / "a.png", arr)
    got = image.load_image(path)
    assert got.dtype == np.float32 and got.shape == (5, 7, 3)
    np.testing.assert_array_equal(image.to_uint8(got), arr)


def test_grayscale_becomes_rgb(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    got = image.load_image(_write(tmp_path / "g.png", arr))
    assert got.shape == (3, 4, 3)
    np.testing.assert_allclose(got[..., 0], arr / 255.0)
    np.testing.assert_array_equal(got[..., 0], got[..., 2])


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[1, 1] = (0, 0, 0, 0)  # fully transparent
    got = image.load_image(_write(tmp_path / "t.png", arr))
    np.testing.assert_allclose(got[0, 0], [1, 0, 0])
    np.testing.assert_allclose(got[1, 1], [1, 1, 1])


def test_palette_image(tmp_path):
    pil = Image.new("P", (3, 2))
    pil.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    pil.putpixel((1, 1), 1)
    pil.save(tmp_path / "p.png")
    got = image.load_image(tmp_path / "p.png")
    np.testing.assert_allclose(got[1, 1], [1.0, 128 / 255, 0.0])


def test_sixteen_bit_png(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], np.uint16)
    Image.fromarray(arr).save(tmp_path / "s.png")
    got = image.load_image(tmp_path / "s.png")
    np.testing.assert_allclose(got[..., 0], arr / 65535.0, atol=1e-6)


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((2, 4, 3), np.uint8)
    arr[0, 0] = 255  # top-left white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(tmp_path / "e.jpg", exif=exif, quality=100)
    got = image.load_image(tmp_path / "e.jpg")
    assert got.shape == (4, 2, 3)
    assert got[0, 1].mean() > 0.8  # the white corner is now top-right


@pytest.mark.parametrize(("size", "want"), [(64, (48, 64)), (10, (8, 10)), (300, (225, 300))])
def test_resize_long_side(size, want):
    img = np.random.default_rng(0).uniform(size=(150, 200, 3)).astype(np.float32)
    out = image.resize_long_side(img, size)
    assert out.shape == (*want, 3) and out.min() >= 0 and out.max() <= 1


def test_bundled_images_load():
    assert image.load_image(image.bundled("tubingen.jpg"), 64).shape == (48, 64, 3)
    assert image.load_image(image.bundled("starry_night.jpg"), 64).shape == (40, 64, 3)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p, "not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "cannot read image"),
        (lambda p: (p.write_text("not an image"), p)[1], "cannot read image"),
        (lambda p: (p.mkdir(), p)[1], "not a file"),
    ],
)
def test_bad_inputs(tmp_path, make, match):
    with pytest.raises(ImageError, match=match):
        image.load_image(make(tmp_path / "x.png"))


def test_truncated_jpeg(tmp_path):
    path = _write(tmp_path / "t.jpg", np.zeros((64, 64, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ImageError):
        image.load_image(path)


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    out = tmp_path / "sub" / "o.png"
    image.save_image(out, np.full((4, 5, 3), 0.5, np.float32))
    with Image.open(out) as im:
        assert im.size == (5, 4)
    assert os.listdir(out.parent) == ["o.png"]


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "o.png"
    out.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(ImageError, match="No space left"):
        image.save_image(out, np.zeros((2, 2, 3), np.float32))
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["o.png"]


def test_refuses_to_overwrite_input(tmp_path):
    src = _write(tmp_path / "in.png", np.zeros((2, 2, 3), np.uint8))
    before = src.read_bytes()
    with pytest.raises(ImageError, match="overwrite the input"):
        image.save_image(src, np.ones((2, 2, 3), np.float32), protect=(src,))
    assert src.read_bytes() == before


def test_bad_suffix(tmp_path):
    with pytest.raises(ImageError, match=r"\.png"):
        image.save_image(tmp_path / "o.gif", np.zeros((2, 2, 3), np.float32))
