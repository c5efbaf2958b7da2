"""Image files: reading as colour-managed sRGB floats, ICC profiles, masks.

:mod:`jaxstyle.images.write` re-exports the readers; the encoders are :mod:`jaxstyle.images.encode`.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from jaxstyle.errors import ImageError

T = TypeVar("T")
#: What Pillow's lcms binding raises on a profile it cannot read or apply.
#: What Pillow's LittleCMS binding raises on a profile it cannot read or apply.
CMS_ERRORS = (OSError, ValueError, TypeError, ImageCms.PyCMSError)


def bundled(name: str) -> Path:
    """Path of a bundled image, e.g. ``"tubingen.jpg"`` (the list is in ``assets/NOTICE.md``)."""
    return Path(str(resources.files("jaxstyle") / "assets" / name))


@functools.cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """The sRGB profile (made once)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def read_profile(data: bytes | None) -> ImageCms.ImageCmsProfile | None:
    """The ICC profile in ``data``; ``None`` if absent or unreadable."""
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(data)) if data else None
    except CMS_ERRORS:
        return None


def _to_srgb(img: Image.Image) -> Image.Image:
    """``img`` converted from its embedded RGB, gray or CMYK profile to sRGB (alpha kept)."""
    src = read_profile(img.info.get("icc_profile"))
    if src is None:
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    colour = {"RGB": ("RGB", "RGBA"), "GRAY": ("L", "LA"), "CMYK": ("CMYK",)}
    modes = colour.get(src.profile.xcolor_space.strip(), ())
    if img.mode not in modes:
        return img  # a profile that does not describe these pixels: taken as sRGB
    alpha = img.getchannel("A") if img.mode.endswith("A") else None
    base = img.convert(modes[0])
    try:
        out = ImageCms.profileToProfile(base, src, srgb_profile(), outputMode="RGB")
    except CMS_ERRORS:
        return img  # lcms cannot apply it: taken as sRGB, as viewers do
    if alpha is not None:
        out.putalpha(alpha)
    return out


def _to_rgb_float(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.repeat(np.asarray(img, np.float32)[..., None] / 65535.0, 3, axis=-1)
    if img.mode == "I":
        arr = np.asarray(img, np.float32)
        # 16-bit PNGs decode as mode "I" holding 0..65535.
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return np.repeat(np.clip(arr / peak, 0, 1)[..., None], 3, axis=-1)
    if img.mode == "F":
        return np.repeat(np.clip(np.asarray(img, np.float32), 0, 1)[..., None], 3, axis=-1)
    img = _to_srgb(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels become white, as an image viewer shows them.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), np.float32) / 255.0


def _to_gray_float(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _to_rgb_float(img)[..., 0]
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        la = np.asarray(img.convert("RGBA").convert("LA"), np.float32) / 255.0
        return la[..., 0] * la[..., 1]  # composited on black: transparent = outside
    return np.asarray(img.convert("RGB").convert("L"), np.float32) / 255.0


def _read(
    path: str | os.PathLike[str], get: Callable[[Image.Image], T], transpose: bool = True
) -> T:
    """``get(image)`` of the file at ``path``, EXIF orientation applied; errors -> ImageError.

    A file whose header declares more than Pillow's decompression-bomb limit (twice
    ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels: 13,000 px square) is
    refused from its header, before any pixel is decoded; below it, Pillow's warning
    is not raised (jaxstyle's own memory plan judges the size). Pillow's warnings
    about damaged metadata (``Corrupt EXIF data``, odd TIFF tags) are not shown
    either: the pixels it decodes are used, and bad pixels are an error.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image not found: {path}")
    if not path.is_file():
        raise ImageError(f"not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img) if transpose else img
                if img.width == 0 or img.height == 0:
                    raise ImageError(f"image has zero size: {path}")
                return get(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"image too large to read: {path}: {e}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, TypeError) as e:
        # TypeError: Pillow's decoders take some tags as given, e.g. a TIFF's text
        # StripOffsets, which it seeks to.
        raise ImageError(f"cannot read image {path}: {e}") from None


def _orientation(img: Image.Image) -> int:
    """The EXIF Orientation (tag 0x0112) from the header: 1 without one.

    A PNG's eXIf chunk placed after its pixels (the PNG spec puts it before) is
    read by :func:`load_image` only, which decodes the pixels anyway.
    """
    if img.format == "PNG":  # its getexif() decodes every pixel, looking past the IDAT
        data = img.info.get("exif")
        exif = Image.Exif()
        if data:
            exif.load(data)
        return int(exif.get(0x0112, 1))
    return int(img.getexif().get(0x0112, 1))


def load_image(path: str | os.PathLike[str], size: int | None = None) -> np.ndarray:
    """Reads an image as ``(H, W, 3)`` float32 sRGB in [0, 1].

    EXIF orientation is applied; grayscale, palette, RGBA (composited on white),
    CMYK and 16-bit grayscale images are converted. An embedded ICC profile
    (RGB, gray or CMYK, matching the pixels) is converted to sRGB with LittleCMS
    (``PIL.ImageCms``), so a style stored in Adobe RGB or ProPhoto is not misread;
    a profile that cannot be read is ignored (pixels taken as sRGB, as viewers do).

    Args:
        path: image file.
        size: if given, resize so the long side is ``size`` pixels (aspect kept).

    Raises:
        ImageError: missing, unreadable, not an image, or zero-size.

    Example:
        >>> load_image(bundled("tubingen.jpg"), size=64).shape
        (48, 64, 3)
    """
    arr = _read(path, _to_rgb_float)
    return resize_long_side(arr, size) if size is not None else arr


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(H, W)`` of an image file, EXIF orientation applied, from its header only.

    Example:
        >>> image_size(bundled("tubingen.jpg"))
        (768, 1024)
    """

    def size(img: Image.Image) -> tuple[int, int]:
        rotated = _orientation(img) in (5, 6, 7, 8)
        return (img.width, img.height) if rotated else (img.height, img.width)

    return _read(path, size, transpose=False)


def icc_profile(path: str | os.PathLike[str]) -> bytes | None:
    """The RGB ICC profile embedded in an image file, for ``save_image(icc_profile=...)``.

    ``None`` without one, or if it is unreadable or not RGB (a gray or CMYK
    profile cannot describe the RGB output).

    Example:
        >>> icc_profile(bundled("tubingen.jpg")) is None
        True
    """
    data = _read(path, lambda img: img.info.get("icc_profile"))
    prof = read_profile(data)
    return data if prof is not None and prof.profile.xcolor_space == "RGB " else None


def load_mask(path: str | os.PathLike[str], hw: tuple[int, int] | None = None) -> np.ndarray:
    """Reads a region mask as ``(H, W)`` float32 weights in [0, 1]: white = in the region.

    Grey levels are weights as stored (128 -> 0.502, not linearised); RGB and
    palette masks use their Rec. 601 luma (Pillow's ``convert("L")``), 1-bit and
    16-bit masks their levels. Alpha is composited on black: transparent = outside
    the region. EXIF orientation is applied; ICC profiles are ignored (weights,
    not colours).

    Args:
        path: image file.
        hw: if given, ``(H, W)`` to resize to with Pillow's bilinear filter, which
            is antialiased when shrinking and, unlike Lanczos, never overshoots.

    Raises:
        ImageError: as :func:`load_image`, or ``hw`` is not two positive ints.

    Example:
        >>> load_mask(bundled("tubingen.jpg"), hw=(3, 4)).shape
        (3, 4)
    """
    if hw is not None and (
        len(hw) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in hw)
    ):
        raise ImageError(f"mask size must be (height, width) in pixels, got {hw!r}")
    if hw is not None and min(hw) <= 0:
        raise ImageError(f"mask size must be positive, got {hw!r}")
    arr = _read(path, _to_gray_float)
    if hw is not None and arr.shape != tuple(hw):
        resized = Image.fromarray(arr).resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(resized, np.float32)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def long_side_shape(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """``(H, W)`` resized so that its long side is ``size`` (:func:`resize_long_side`'s).

    Example:
        >>> long_side_shape((150, 200), 64)
        (48, 64)
    """
    h, w = hw
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resizes ``(H, W, 3)`` so that ``max(H, W) == size`` (Lanczos, aspect kept).

    Example:
        >>> resize_long_side(np.zeros((150, 200, 3), np.float32), 64).shape
        (48, 64, 3)
    """
    if size <= 0:
        raise ImageError(f"size must be a positive number of pixels, got {size}")
    if max(image.shape[:2]) == size:
        return image
    new_h, new_w = long_side_shape(image.shape[:2], size)
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32)).resize(
                (new_w, new_h), Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)
