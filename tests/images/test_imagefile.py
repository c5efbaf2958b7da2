"""Reading (ICC profiles to sRGB against hand-computed colours, masks); the 16-bit encoders."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import png
import pytest
from PIL import Image, ImageCms

from jaxstyle.errors import ImageError
from jaxstyle.images import encode, read, write

#: A mixing of sRGB's primaries (rows sum to 1, so white stays white): linear sRGB = MIX @ linear.
MIX = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
GAMMA = 2.0  # exact in the curv tag's u8Fixed8
D50 = (0.9642, 1.0, 0.8249)


def _srgb_colorants() -> np.ndarray:
    """``(3, 3)`` XYZ (D50) of sRGB's red, green, blue (columns), from LittleCMS's sRGB."""
    data = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (count,) = struct.unpack(">I", data[128:132])
    tags = {}
    for i in range(count):
        sig, off, _ = struct.unpack(">4sII", data[132 + 12 * i : 144 + 12 * i])
        tags[sig] = np.array(struct.unpack(">3i", data[off + 8 : off + 20])) / 65536.0
    return np.stack([tags[b"rXYZ"], tags[b"gXYZ"], tags[b"bXYZ"]], axis=1)


def write_icc(colorants: np.ndarray, gamma: float, name: bytes = b"test RGB") -> bytes:
    """A minimal ICC v2 matrix/TRC RGB display profile (desc, wtpt, r/g/bXYZ, r/g/bTRC)."""

    def xyz(v) -> bytes:
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(c * 65536) for c in v))

    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name) + 1) + name + b"\0"
    desc += struct.pack(">IIHB", 0, 0, 0, 0) + b"\0" * 67
    tags = [(b"desc", desc), (b"wtpt", xyz(D50))]
    tags += [(s, xyz(colorants[:, i])) for i, s in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))]
    tags += [(s, curv) for s in (b"rTRC", b"gTRC", b"bTRC")]
    table, body, off = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += struct.pack(">4sII", sig, off + len(body), len(data))
        body += data
    size = off + len(body)
    header = struct.pack(
        ">I4sI4s4s4s12s4s4sI4s4sQI", size, b"\0" * 4, 0x02100000, b"mntr", b"RGB ", b"XYZ ",
        b"\0" * 12, b"acsp", b"\0" * 4, 0, b"\0" * 4, b"\0" * 4, 0, 0,
    )  # fmt: skip
    header += xyz(D50)[8:] + b"\0" * 48
    return header + struct.pack(">I", len(tags)) + table + body


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


@pytest.fixture(scope="module")
def mixed_icc() -> bytes:
    return write_icc(_srgb_colorants() @ MIX, GAMMA)


PIXELS = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[128, 128, 128], [200, 100, 50], [255, 255, 255]]],
    np.uint8,
)


@pytest.mark.parametrize(("suffix", "mode"), [(".png", "RGB"), (".png", "RGBA"), (".tif", "RGB")])
def test_profile_converted_to_srgb_on_load(tmp_path, mixed_icc, suffix, mode):
    pil = Image.fromarray(PIXELS).convert(mode)
    pil.save(tmp_path / f"in{suffix}", icc_profile=mixed_icc)
    got = read.load_image(tmp_path / f"in{suffix}")
    # By hand: decode the profile's gamma, mix into sRGB's primaries, sRGB-encode.
    want = srgb_encode(np.einsum("ij,hwj->hwi", MIX, (PIXELS / 255.0) ** GAMMA))
    np.testing.assert_allclose(got, want, atol=1 / 255)
    assert abs(got[0, 0] - [1, 0, 0]).max() > 0.1  # pure red in that space is not sRGB red
    assert read.icc_profile(tmp_path / f"in{suffix}") == mixed_icc


def test_no_or_broken_profile_reads_as_srgb(tmp_path):
    Image.fromarray(PIXELS).save(tmp_path / "plain.png")
    Image.fromarray(PIXELS).save(tmp_path / "broken.png", icc_profile=b"not a profile")
    for name in ("plain.png", "broken.png"):
        np.testing.assert_array_equal(encode.to_uint8(read.load_image(tmp_path / name)), PIXELS)
        assert read.icc_profile(tmp_path / name) is None


def test_gray_profile_is_not_offered_for_rgb_output(tmp_path):
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.fromarray(PIXELS).save(tmp_path / "lab.png", icc_profile=lab)
    assert read.icc_profile(tmp_path / "lab.png") is None
    assert read.load_image(tmp_path / "lab.png").shape == (2, 3, 3)  # mismatch: ignored


@pytest.mark.parametrize(
    ("arr", "want"),
    [
        (np.array([[0, 128, 255]], np.uint8), [[0, 128 / 255, 1]]),
        (np.array([[0, 32768, 65535]], np.uint16), [[0, 32768 / 65535, 1]]),
        (np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8), [[0.299, 0.587, 0.114]]),
        # RGBA: alpha composited on black (transparent = outside the region).
        (np.array([[[255, 255, 255, 255], [255, 255, 255, 0], [255, 255, 255, 51]]], np.uint8),
         [[1, 0, 0.2]]),
        (np.array([[True, False, True]]), [[1, 0, 1]]),
    ],
)  # fmt: skip
def test_mask_modes(tmp_path, arr, want):
    Image.fromarray(arr).save(tmp_path / "m.png")
    got = read.load_mask(tmp_path / "m.png")
    assert got.dtype == np.float32 and got.shape == (1, 3)
    np.testing.assert_allclose(got, want, atol=1 / 255)


@pytest.mark.parametrize("hw", [(4, 4), (3, 7), (16, 20), (1, 1)])
def test_mask_resizes_without_overshoot(tmp_path, hw):
    arr = np.zeros((8, 8), np.uint8)
    arr[:, :4] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    got = read.load_mask(tmp_path / "m.png", hw=hw)
    assert got.shape == hw and got.dtype == np.float32
    assert got.min() >= 0 and got.max() <= 1
    assert np.all(np.diff(got, axis=1) <= 1e-6)  # white on the left, fading right
    np.testing.assert_allclose(got.mean(), 0.5, atol=0.15)


def test_mask_exif_orientation(tmp_path):
    arr = np.zeros((2, 4), np.uint8)
    arr[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(tmp_path / "m.jpg", exif=exif, quality=100)
    got = read.load_mask(tmp_path / "m.jpg")
    assert got.shape == (4, 2) and got[0, 1] > 0.8


@pytest.mark.parametrize("hw", [(0, 3), (3,), (2.5, 3), (True, 3), (-1, 4)])
def test_mask_bad_size(tmp_path, hw):
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(ImageError, match="mask size"):
        read.load_mask(tmp_path / "m.png", hw=hw)


@pytest.mark.parametrize("make", [lambda p: p, lambda p: (p.write_text("no"), p)[1]])
def test_mask_bad_file(tmp_path, make):
    with pytest.raises(ImageError):
        read.load_mask(make(tmp_path / "m.png"))


def gradient(h: int = 32, w: int = 1024) -> np.ndarray:
    x = np.linspace(0.0, 1.0, w)[None, :] * np.ones((h, 1))
    ramp = np.linspace(0.0, 1.0, h * w).reshape(h, w)
    return np.stack([x, 1.0 - x, ramp], axis=-1).astype(np.float32)


def read_png16(path) -> np.ndarray:
    """pypng's decode of a 16-bit RGB PNG as ``(H, W, 3)`` uint16 (Pillow would cut to 8 bits)."""
    with open(path, "rb") as f:
        w, h, rows, info = png.Reader(file=f).asDirect()
        assert (info["bitdepth"], info["planes"]) == (16, 3)
        return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(h, w, 3)


def read_tiff(path) -> np.ndarray:
    """A reader independent of tifffile (Pillow cuts 16-bit RGB to 8): baseline strips,
    deflate or none, horizontal predictor; ``(H, W, 3)`` uint8 or uint16."""
    with open(path, "rb") as f:
        data = f.read()
    end = {b"II": "<", b"MM": ">"}[data[:2]]
    (ifd,) = struct.unpack(end + "I", data[4:8])
    (n,) = struct.unpack(end + "H", data[ifd : ifd + 2])
    tags = {}
    for i in range(n):
        tag, kind, count, raw = struct.unpack(
            end + "HHI4s", data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        )
        fmt = {3: "H", 4: "I"}.get(kind)
        if fmt is None:
            continue
        size = struct.calcsize(fmt) * count
        (off,) = struct.unpack(end + "I", raw)
        buf = raw[:size] if size <= 4 else data[off : off + size]
        tags[tag] = struct.unpack(end + fmt * count, buf)
    w, h, bits, spp = tags[256][0], tags[257][0], tags[258][0], tags[277][0]
    strips = [data[o : o + c] for o, c in zip(tags[273], tags[279], strict=True)]
    if tags[259][0] in (8, 32946):
        strips = [zlib.decompress(s) for s in strips]
    dtype = np.dtype(end + ("u1" if bits == 8 else "u2"))
    arr = np.frombuffer(b"".join(strips), dtype).reshape(h, w, spp)
    if tags.get(317, (1,))[0] == 2:
        arr = np.cumsum(arr, axis=1, dtype=dtype)  # wraps modulo 2**bits, as the predictor does
    return arr.astype(dtype.newbyteorder("="))


@pytest.mark.parametrize(("suffix", "decode"), [(".png", read_png16), (".tif", read_tiff)])
def test_sixteen_bit_output_read_by_another_decoder(tmp_path, suffix, decode):
    img = gradient()
    write.save_image(tmp_path / f"o{suffix}", img, bit_depth=16)
    got = decode(tmp_path / f"o{suffix}")
    assert got.dtype == np.uint16 and got.shape == img.shape
    np.testing.assert_array_equal(got, encode.quantize(img, 16))
    assert all(len(np.unique(got[..., c])) >= 1000 for c in range(3))


def test_eight_bit_tiff_read_by_pillow_and_by_hand(tmp_path):
    img = gradient(8, 300)
    write.save_image(tmp_path / "o.tif", img)
    np.testing.assert_array_equal(read_tiff(tmp_path / "o.tif"), encode.to_uint8(img))
    np.testing.assert_array_equal(
        encode.to_uint8(read.load_image(tmp_path / "o.tif")), encode.to_uint8(img)
    )
