"""Writing images: float32 RGB arrays in [0, 1], ``(H, W, 3)``, to PNG, JPEG or TIFF files.

Internal: the public names are re-exported by :mod:`jaxstyle`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jax
import numpy as np
from PIL import Image, ImageCms

from jaxstyle.cache import atomic_write
from jaxstyle.errors import ImageError
from jaxstyle.images.encode import quantize, write_png16, write_tiff
from jaxstyle.images.read import (
    CMS_ERRORS,
    read_profile,
    srgb_profile,
)

Array = jax.Array

#: File suffix -> format written by :func:`save_image`.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


@functools.cache
def _srgb_bytes() -> bytes:
    return srgb_profile().tobytes()


def check_output(
    path: str | os.PathLike[str],
    *,
    bit_depth: int = 8,
    icc_profile: bytes | None = None,
    jpeg_quality: int = 95,
) -> str:
    """The format :func:`save_image` writes ``path`` in, after checking its options.

    The CLI calls it before a run, so bad options fail in seconds, not after it.

    Raises:
        ImageError: unknown suffix, bit depth not 8 or 16 (or 16 for JPEG), JPEG
            quality not an integer in 1..100, or ``icc_profile`` not an RGB profile.

    Example:
        >>> check_output("out.tiff", bit_depth=16)
        'TIFF'
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"output must end in .png, .jpg, .jpeg, .tif or .tiff: {path}")
    if isinstance(bit_depth, bool) or bit_depth not in (8, 16):
        raise ImageError(f"bit depth must be 8 or 16, got {bit_depth!r}")
    if fmt == "JPEG" and bit_depth != 8:
        raise ImageError(f"JPEG holds 8 bits only; write .png or .tif for 16: {path}")
    if isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, int | np.integer):
        raise ImageError(f"JPEG quality must be an integer, got {jpeg_quality!r}")
    if not 1 <= jpeg_quality <= 100:
        raise ImageError(f"JPEG quality must be 1..100 (95 is the useful top), got {jpeg_quality}")
    prof = read_profile(icc_profile) if icc_profile is not None else None
    if icc_profile is not None and (prof is None or prof.profile.xcolor_space != "RGB "):
        raise ImageError("icc_profile is not a readable RGB ICC profile")
    return fmt


def save_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    protect: tuple[str | os.PathLike[str], ...] = (),
    bit_depth: int = 8,
    icc_profile: bytes | None = None,
    jpeg_quality: int = 95,
) -> None:
    """Writes ``(H, W, 3)`` float sRGB in [0, 1] as PNG, JPEG or TIFF (by suffix), atomically.

    Levels are ``floor(value * (2**bit_depth - 1) + 0.5)``, clipped (:func:`quantize`).
    8-bit PNG and JPEG are Pillow's; TIFF (8 or 16 bits, deflate with a horizontal
    predictor) is ``tifffile``'s, since Pillow cannot hold 16-bit RGB; 16-bit PNG is a
    small encoder here (numpy for the rows, zlib for the rest, ~10x pypng's speed,
    which matters at 4096²).

    ``icc_profile`` (e.g. :func:`icc_profile` of the content) is embedded. At 8 bits
    the pixels are first converted from sRGB to it (LittleCMS); LittleCMS in Pillow
    cannot convert 16-bit RGB, so 16-bit files keep their sRGB pixels and embed
    the sRGB profile instead, which describes them exactly.

    Args:
        path: output file; ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff``.
        image: the image, ``(H, W, 3)`` float.
        protect: input files that must never be overwritten; writing onto one of
            them raises :class:`ImageError` before anything is written.
        bit_depth: 8, or 16 for PNG and TIFF.
        icc_profile: an RGB ICC profile to embed, or ``None``.
        jpeg_quality: 1..100 (above 95 the files grow for almost nothing); colour
            is kept at full resolution (4:4:4), as textures' colour edges need.

    Raises:
        ImageError: bad options (:func:`check_output`) or shape, an input in the
            way, or the write failed (the old file, if any, is kept).

    Example:
        >>> import tempfile
        >>> from jaxstyle.images.read import load_image
        >>> with tempfile.TemporaryDirectory() as d:
        ...     save_image(f"{d}/o.png", np.full((2, 3, 3), 0.5), bit_depth=16)
        ...     load_image(f"{d}/o.png").shape
        (2, 3, 3)
    """
    path = Path(path)
    fmt = check_output(
        path, bit_depth=bit_depth, icc_profile=icc_profile, jpeg_quality=jpeg_quality
    )
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise ImageError(f"image must be (H, W, 3) with H, W > 0, got shape {image.shape}")
    for other in protect:
        other = Path(other)
        if other.exists() and path.exists() and path.resolve() == other.resolve():
            raise ImageError(f"refusing to overwrite the input image {other}")
    if path.is_dir():
        raise ImageError(f"output path is a directory: {path}")
    if bit_depth == 16:
        icc = None if icc_profile is None else _srgb_bytes()
        encode = write_png16 if fmt == "PNG" else write_tiff
        write = functools.partial(encode, rgb=quantize(image, 16), icc=icc)
    else:
        pil = Image.fromarray(quantize(image, 8))
        if icc_profile is not None:
            try:
                pil = ImageCms.profileToProfile(pil, srgb_profile(), read_profile(icc_profile))
            except CMS_ERRORS as e:
                raise ImageError(f"cannot convert to the ICC profile: {e}") from None
        opts = {"quality": jpeg_quality, "subsampling": 0} if fmt == "JPEG" else {}
        opts |= {"icc_profile": icc_profile} if icc_profile is not None else {}
        write = functools.partial(pil.save, format=fmt, **opts)
        if fmt == "TIFF":
            write = functools.partial(write_tiff, rgb=np.asarray(pil), icc=icc_profile)

    try:
        atomic_write(path, write, path.suffix)
    except OSError as e:
        raise ImageError(f"cannot write {path}: {e.strerror or e}") from None
