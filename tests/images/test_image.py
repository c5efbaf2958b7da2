"""Image loading (modes, EXIF), resizing, and atomic, input-safe saving (8/16-bit, ICC)."""

from __future__ import annotations

import builtins
import io
import os

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms
from test_imagefile import MIX, gradient, read_png16, read_tiff, write_icc

from jaxstyle.errors import ImageError
from jaxstyle.images import encode, read, write

#: (suffix, bit depth) of every kind of file save_image writes.
KINDS = [(".png", 8), (".jpg", 8), (".tif", 8), (".png", 16), (".tif", 16)]


def _write(path, arr, mode=None, **save):
    Image.fromarray(arr, mode).save(path, **save) if mode else Image.fromarray(arr).save(
        path, **save
    )
    return path


def test_rgb_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = _write(tmp_path / "a.png", arr)
    got = read.load_image(path)
    assert got.dtype == np.float32 and got.shape == (5, 7, 3)
    np.testing.assert_array_equal(encode.to_uint8(got), arr)


def test_grayscale_becomes_rgb(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    got = read.load_image(_write(tmp_path / "g.png", arr))
    assert got.shape == (3, 4, 3)
    np.testing.assert_allclose(got[..., 0], arr / 255.0)
    np.testing.assert_array_equal(got[..., 0], got[..., 2])


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[1, 1] = (0, 0, 0, 0)  # fully transparent
    got = read.load_image(_write(tmp_path / "t.png", arr))
    np.testing.assert_allclose(got[0, 0], [1, 0, 0])
    np.testing.assert_allclose(got[1, 1], [1, 1, 1])


def test_palette_image(tmp_path):
    pil = Image.new("P", (3, 2))
    pil.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    pil.putpixel((1, 1), 1)
    pil.save(tmp_path / "p.png")
    got = read.load_image(tmp_path / "p.png")
    np.testing.assert_allclose(got[1, 1], [1.0, 128 / 255, 0.0])


def test_sixteen_bit_png(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], np.uint16)
    Image.fromarray(arr).save(tmp_path / "s.png")
    got = read.load_image(tmp_path / "s.png")
    np.testing.assert_allclose(got[..., 0], arr / 65535.0, atol=1e-6)


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((2, 4, 3), np.uint8)
    arr[0, 0] = 255  # top-left white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(tmp_path / "e.jpg", exif=exif, quality=100)
    got = read.load_image(tmp_path / "e.jpg")
    assert got.shape == (4, 2, 3)
    assert got[0, 1].mean() > 0.8  # the white corner is now top-right


@pytest.mark.parametrize(("size", "want"), [(64, (48, 64)), (10, (8, 10)), (300, (225, 300))])
def test_resize_long_side(size, want):
    img = np.random.default_rng(0).uniform(size=(150, 200, 3)).astype(np.float32)
    out = read.resize_long_side(img, size)
    assert out.shape == (*want, 3) and out.min() >= 0 and out.max() <= 1


def test_bundled_images_load():
    assert read.load_image(read.bundled("tubingen.jpg"), 64).shape == (48, 64, 3)
    assert read.load_image(read.bundled("starry_night.jpg"), 64).shape == (40, 64, 3)


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
        read.load_image(make(tmp_path / "x.png"))


def test_truncated_jpeg(tmp_path):
    path = _write(tmp_path / "t.jpg", np.zeros((64, 64, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ImageError):
        read.load_image(path)


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    out = tmp_path / "sub" / "o.png"
    write.save_image(out, np.full((4, 5, 3), 0.5, np.float32))
    with Image.open(out) as im:
        assert im.size == (5, 4)
    assert os.listdir(out.parent) == ["o.png"]


def test_refuses_to_overwrite_input(tmp_path):
    src = _write(tmp_path / "in.png", np.zeros((2, 2, 3), np.uint8))
    before = src.read_bytes()
    with pytest.raises(ImageError, match="overwrite the input"):
        write.save_image(src, np.ones((2, 2, 3), np.float32), protect=(src,))
    assert src.read_bytes() == before


def test_bad_suffix(tmp_path):
    with pytest.raises(ImageError, match=r"\.png"):
        write.save_image(tmp_path / "o.gif", np.zeros((2, 2, 3), np.float32))


def _read_pillow(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _embedded(path) -> bytes | None:
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get(34675)
            return None if tag is None else bytes(tag.value)
    with Image.open(path) as img:
        return img.info.get("icc_profile")


@pytest.mark.parametrize(("suffix", "bits"), KINDS)
def test_icc_profile_embedded(tmp_path, suffix, bits):
    from test_imagefile import _srgb_colorants, srgb_encode

    icc = write_icc(_srgb_colorants() @ MIX, 2.0)
    # Smooth colours inside that (narrower) space: its values t, shown as sRGB.
    y, x = np.mgrid[0:16, 0:64] / 63.0
    t = 0.2 + 0.6 * np.stack([x, 1.0 - x, y], axis=-1)
    srgb = srgb_encode(np.einsum("ij,hwj->hwi", MIX, t**2.0))
    out = tmp_path / f"o{suffix}"
    write.save_image(out, srgb, icc_profile=icc, bit_depth=bits)
    srgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    embedded = _embedded(out)
    if bits == 8:
        assert embedded == icc
    else:  # LittleCMS's sRGB (the 128-byte header holds the time it was made)
        assert embedded is not None and embedded[128:] == srgb_icc[128:]
    readers = {".tif": read_tiff, ".png": read_png16 if bits == 16 else _read_pillow}
    stored = readers.get(suffix, _read_pillow)(out) / (2**bits - 1)
    atol = 5 / 255 if suffix == ".jpg" else 2 / 255
    # 8-bit: the pixels are in the profile's space; 16-bit: still sRGB (and say so).
    np.testing.assert_allclose(stored, t if bits == 8 else srgb, atol=atol if bits == 8 else 1e-4)
    np.testing.assert_allclose(read.load_image(out), srgb, atol=atol)  # back to sRGB on load


@pytest.mark.parametrize(
    ("kwargs", "suffix", "match"),
    [
        ({"jpeg_quality": 0}, ".jpg", "quality"),
        ({"jpeg_quality": 101}, ".jpg", "quality"),
        ({"jpeg_quality": 90.5}, ".jpg", "quality"),
        ({"jpeg_quality": True}, ".jpg", "quality"),
        ({"bit_depth": 16}, ".jpg", "JPEG holds 8 bits"),
        ({"bit_depth": 12}, ".png", "bit depth"),
        ({"icc_profile": b"junk"}, ".png", "ICC"),
        ({"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()},
         ".tif", "RGB ICC"),
    ],
)  # fmt: skip
def test_bad_save_options(tmp_path, kwargs, suffix, match):
    out = tmp_path / f"o{suffix}"
    with pytest.raises(ImageError, match=match) as err:
        write.save_image(out, np.zeros((2, 2, 3), np.float32), **kwargs)
    assert "\n" not in str(err.value) and not out.exists()


def test_jpeg_quality(tmp_path):
    img = gradient(64, 64)
    sizes, errors = [], []
    for quality in (1, 50, 95, 100):
        write.save_image(tmp_path / "o.jpg", img, jpeg_quality=quality)
        sizes.append((tmp_path / "o.jpg").stat().st_size)
        errors.append(np.abs(read.load_image(tmp_path / "o.jpg") - img).mean())
    assert sizes == sorted(sizes) and errors == sorted(errors, reverse=True)
    assert errors[2] < 1 / 255  # 95, full-resolution colour (4:4:4)


@pytest.mark.parametrize("shape", [(4, 4), (4, 4, 4), (0, 4, 3)])
def test_bad_shape(tmp_path, shape):
    with pytest.raises(ImageError, match=r"\(H, W, 3\)"):
        write.save_image(tmp_path / "o.png", np.zeros(shape, np.float32))


@pytest.mark.parametrize("bits", [8, 16])
def test_quantize_rounds_half_up_and_clips(bits):
    peak = 2**bits - 1
    values = np.array([-1.0, 0.0, 0.49 / peak, 0.5 / peak, 1.49 / peak, 0.5, 1.0, 2.0])
    want = [0, 0, 0, 1, 1, (peak + 1) // 2, peak, peak]
    np.testing.assert_array_equal(encode.quantize(values, bits), want)


@pytest.mark.parametrize(("suffix", "bits"), KINDS)
def test_failed_save_keeps_old_file(tmp_path, monkeypatch, suffix, bits):
    """The disk fills after 64 bytes, inside each real encoder: the old file stays, no temp."""
    out = tmp_path / f"o{suffix}"
    out.write_bytes(b"old")

    class FullDisk(io.FileIO):
        def write(self, b) -> int:
            if self.tell() + len(b) > 64:
                raise OSError(28, "No space left on device")
            return super().write(b)

        def fileno(self) -> int:  # so Pillow writes through write(), not straight to the fd
            raise io.UnsupportedOperation("fileno")

    real_open = builtins.open

    def fake_open(file, mode="r", *args, **kwargs):
        if ".tmp" in str(file) and "b" in mode and ("w" in mode or "+" in mode):
            return FullDisk(file, mode.replace("b", "").replace("+", "") + "+")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.raises(ImageError, match="No space left"):
        write.save_image(out, gradient(16, 64), bit_depth=bits)
    monkeypatch.undo()
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == [out.name]
