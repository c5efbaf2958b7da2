"""Pixels to file contents: quantisation and the 16-bit PNG and TIFF encoders.

:func:`jaxstyle.images.write.save_image` picks one of these (or Pillow's) and writes atomically.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np


def quantize(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float in [0, 1] -> uint8 or uint16: ``floor(value * (2**bit_depth - 1) + 0.5)``, clipped.

    Example:
        >>> quantize(np.array([0.0, 0.5, 1.0, 2.0]), 16)
        array([    0, 32768, 65535, 65535], dtype=uint16)
    """
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    scaled = np.clip(np.asarray(image, np.float64), 0.0, 1.0) * (2.0**bit_depth - 1.0)
    return np.floor(scaled + 0.5).astype(dtype)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] -> uint8, rounding to nearest (``quantize(image, 8)``)."""
    return quantize(image, 8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png16(path: str, rgb: np.ndarray, icc: bytes | None) -> None:
    """Writes ``(H, W, 3)`` uint16 as a 16-bit RGB PNG (stdlib zlib, rows Sub-filtered)."""
    h, w, _ = rgb.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # depth 16, colour type 2 (RGB)
    z = zlib.compressobj(6)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr))
        if icc:
            f.write(_png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
        for top in range(0, h, 256):  # IDAT per block: bounded memory, chunks < 2**31
            raw = rgb[top : top + 256].astype(">u2").view(np.uint8).reshape(-1, w * 6)
            rows = np.empty((raw.shape[0], 1 + w * 6), np.uint8)
            rows[:, 0] = 1  # filter type Sub: each byte minus the one 6 bytes (a pixel) left
            rows[:, 1:7] = raw[:, :6]
            np.subtract(raw[:, 6:], raw[:, :-6], out=rows[:, 7:])
            f.write(_png_chunk(b"IDAT", z.compress(rows.tobytes())))
        f.write(_png_chunk(b"IDAT", z.flush()) + _png_chunk(b"IEND", b""))


def write_tiff(path: str, rgb: np.ndarray, icc: bytes | None) -> None:
    """Writes ``(H, W, 3)`` uint8 or uint16 as a zlib-compressed RGB TIFF (``tifffile``)."""
    import tifffile  # only TIFF outputs need it (and its import takes a while)

    tags = [(34675, 7, len(icc), icc, True)] if icc else []  # 34675: InterColorProfile
    tifffile.imwrite(
        path, rgb, photometric="rgb", compression="zlib", predictor=True, extratags=tags
    )
