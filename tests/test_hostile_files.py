"""Odd and hostile image files: each reads correctly or is one ImageError, in bounded time."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from jaxstyle import cli
from jaxstyle.errors import ImageError
from jaxstyle.images.read import image_size, load_image, load_mask


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)


@pytest.fixture
def source() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8))


@pytest.mark.parametrize("read", [load_image, image_size, load_mask])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, read):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(40_000, 40_000) + _chunk(b"IEND", b""))  # 1.6 Gpx
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        read(path)
    assert time.perf_counter() - start < 5


def test_a_bomb_is_one_line_from_the_cli(tmp_path, capsys):
    (tmp_path / "bomb.png").write_bytes(_png_header(40_000, 40_000) + _chunk(b"IEND", b""))
    argv = ["stylize", str(tmp_path / "bomb.png"), str(tmp_path / "bomb.png")]
    assert cli.main([*argv, "-o", str(tmp_path / "o.png"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxstyle: error: image too large"), err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("read", [load_image, load_mask])
def test_a_tiff_whose_strip_offsets_are_text_is_one_error(tmp_path, source, read):
    """Pillow seeks to the offset as given: a text one raises TypeError (found by the fuzz)."""
    out = io.BytesIO()
    source.save(out, "TIFF")
    data = bytearray(out.getvalue())
    at = data.index(struct.pack("<HH", 0x0111, 4))  # StripOffsets, LONG
    data[at + 2] = 2  # ASCII
    path = tmp_path / "x.tif"
    path.write_bytes(bytes(data))
    assert image_size(path) == (12, 16)  # the header alone is sound
    with pytest.raises(ImageError, match=r"^cannot read image .*x\.tif: "):
        read(path)


def test_a_large_image_below_the_limit_reads_without_a_warning(tmp_path):
    # 100 Mpx: over Pillow's warning threshold (89 Mpx), under its refusal (179 Mpx).
    path = tmp_path / "big.png"
    path.write_bytes(_png_header(10_000, 10_000) + _chunk(b"IEND", b""))
    assert image_size(path) == (10_000, 10_000)  # warnings are errors in this suite


# mode -> (format, the mode's image from the RGB source, tolerance in levels)
MODES = {
    "1": "PNG",
    "L": "PNG",
    "LA": "PNG",
    "P": "PNG",
    "PA": "TIFF",
    "RGBA": "PNG",
    "CMYK": "TIFF",
    "YCbCr": "TIFF",
    "LAB": "TIFF",
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_reads_as_pillows_rgb(tmp_path, source, mode):
    img = source.convert(mode)
    path = tmp_path / f"x.{MODES[mode].lower()}"
    img.save(path, MODES[mode])
    want = np.asarray(img.convert("RGB"), np.float32) / 255  # opaque: no compositing
    got = load_image(path)
    assert got.dtype == np.float32 and got.shape == (12, 16, 3)
    np.testing.assert_allclose(got, want, atol=1.5 / 255)
    # Real colour conversions, not channel copies, land near the source (8-bit Lab
    # rounds saturated colours by up to 24 levels).
    near = {"CMYK": 1, "YCbCr": 12, "LAB": 24}
    if mode in near:
        np.testing.assert_allclose(got, np.asarray(source) / 255, atol=(near[mode] + 0.5) / 255)


@pytest.mark.parametrize(
    ("mode", "scale"), [("I;16", 257), ("I", 1), ("F", 1 / 255)], ids=["I;16", "I", "F"]
)
def test_integer_and_float_modes_read_as_their_levels(tmp_path, source, mode, scale):
    gray = np.asarray(source.convert("L"), np.float64)
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    img = Image.fromarray((gray * scale).astype(dtype))
    assert img.mode == mode
    path = tmp_path / ("x.png" if mode == "I;16" else "x.tif")
    img.save(path)
    got = load_image(path)
    np.testing.assert_allclose(got, np.repeat(gray[..., None] / 255, 3, -1), atol=1e-6)


def test_an_animated_image_reads_its_first_frame(tmp_path, source):
    frames = [source, source.transpose(Image.Transpose.ROTATE_180)]
    frames = [f.convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], loop=0)
    want = np.asarray(frames[0].convert("RGB"), np.float32) / 255
    np.testing.assert_allclose(load_image(tmp_path / "a.gif"), want, atol=1 / 255)


def test_an_adobe_cmyk_jpeg_reads_in_its_colours(tmp_path, source):
    # Pillow writes CMYK JPEGs with the Adobe marker, inverted as Photoshop does.
    source.convert("CMYK").save(tmp_path / "c.jpg", quality=100, subsampling=0)
    with open(tmp_path / "c.jpg", "rb") as f:
        assert b"Adobe" in f.read()
    np.testing.assert_allclose(load_image(tmp_path / "c.jpg"), np.asarray(source) / 255, atol=0.1)


# Orientation -> what a viewer does to the stored pixels (EXIF 2.3, tag 0x0112).
SHOW = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
STORE = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}  # the inverses


@pytest.mark.parametrize("orientation", sorted(SHOW))
def test_every_exif_orientation_shows_upright(tmp_path, source, orientation):
    undo = STORE.get(orientation, SHOW[orientation])
    stored = source if undo is None else source.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "o.png", exif=exif)
    assert image_size(tmp_path / "o.png") == (12, 16)
    np.testing.assert_array_equal(
        load_image(tmp_path / "o.png"), np.asarray(source) / np.float32(255)
    )
    assert load_mask(tmp_path / "o.png").shape == (12, 16)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "GIF", "BMP", "WEBP"])
@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_a_truncated_file_reads_or_is_one_image_error(tmp_path, source, fmt, keep):
    path = tmp_path / f"t.{fmt.lower()}"
    source.save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    start = time.perf_counter()
    try:
        got = load_image(path)
    except ImageError as e:
        assert str(path) in str(e)
    else:
        assert got.shape == (12, 16, 3) and np.all(np.isfinite(got))
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "data", [_png_header(0, 5) + _chunk(b"IEND", b""), b"GIF89a\0\0\0\0\0\0\0;"], ids=["png", "gif"]
)
def test_a_zero_size_image_is_one_image_error(tmp_path, data):
    path = tmp_path / "z.img"
    path.write_bytes(data)
    with pytest.raises(ImageError):
        load_image(path)


def test_hsv_is_read_as_its_rgb_colours():
    """No format Pillow writes holds HSV (each refuses it or stores RGB), so HSV only
    arrives as an image in memory: it converts to the colours colorsys computes."""
    import colorsys

    from jaxstyle.images.read import _to_rgb_float

    hsv = np.array([[[0, 255, 255], [85, 255, 128], [170, 128, 255], [40, 0, 200]]], np.uint8)
    got = _to_rgb_float(Image.fromarray(hsv, "HSV"))
    want = [colorsys.hsv_to_rgb(*(p / 255.0)) for p in hsv[0].astype(np.float64)]
    np.testing.assert_allclose(got[0], want, atol=1.5 / 255)
