"""Images as float32 RGB arrays in [0, 1], shape ``(H, W, 3)``: files, resizing, the start."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxstyle.cache import atomic_write
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.preprocess import Preprocess

Array = jax.Array

#: File suffix -> Pillow format for :func:`save_image`.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def bundled(name: str) -> Path:
    """Path of a bundled image, e.g. ``"tubingen.jpg"`` (the list is in ``assets/NOTICE.md``)."""
    return Path(str(resources.files("jaxstyle") / "assets" / name))


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
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels become white, as an image viewer shows them.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), np.float32) / 255.0


def load_image(path: str | os.PathLike[str], size: int | None = None) -> np.ndarray:
    """Reads an image as ``(H, W, 3)`` float32 RGB in [0, 1].

    EXIF orientation is applied; grayscale, palette, RGBA (composited on white),
    CMYK and 16-bit images are converted.

    Args:
        path: image file.
        size: if given, resize so the long side is ``size`` pixels (aspect kept).

    Raises:
        ImageError: missing, unreadable, not an image, or zero-size.

    Example:
        >>> load_image(bundled("tubingen.jpg"), size=64).shape
        (48, 64, 3)
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image not found: {path}")
    if not path.is_file():
        raise ImageError(f"not a file: {path}")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.width == 0 or img.height == 0:
                raise ImageError(f"image has zero size: {path}")
            arr = _to_rgb_float(img)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"cannot read image {path}: {e}") from None
    if arr.size == 0:
        raise ImageError(f"image has zero size: {path}")
    return resize_long_side(arr, size) if size is not None else arr


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resizes ``(H, W, 3)`` so that ``max(H, W) == size`` (Lanczos, aspect kept)."""
    if size <= 0:
        raise ImageError(f"size must be a positive number of pixels, got {size}")
    h, w = image.shape[:2]
    if max(h, w) == size:
        return image
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32), "F").resize(
                (new_w, new_h), Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] -> uint8, rounding to nearest."""
    return (np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    protect: tuple[str | os.PathLike[str], ...] = (),
) -> None:
    """Writes ``(H, W, 3)`` float [0, 1] as PNG or JPEG (by suffix), atomically.

    Args:
        path: output file; ``.png``, ``.jpg`` or ``.jpeg``.
        image: the image.
        protect: input files that must never be overwritten; writing onto one of
            them raises :class:`ImageError` before anything is written.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"output must end in .png, .jpg or .jpeg: {path}")
    for other in protect:
        other = Path(other)
        if other.exists() and path.exists() and path.resolve() == other.resolve():
            raise ImageError(f"refusing to overwrite the input image {other}")
    if path.is_dir():
        raise ImageError(f"output path is a directory: {path}")
    pil = Image.fromarray(to_uint8(image), "RGB")

    def write(tmp: str) -> None:
        pil.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))

    try:
        atomic_write(path, write, path.suffix)
    except OSError as e:
        raise ImageError(f"cannot write {path}: {e.strerror or e}") from None


def resize(image: Array, height: int, width: int) -> Array:
    """Antialiased bilinear resize of ``(..., H, W, C)`` images (identity at the same size).

    Example:
        >>> resize(jnp.ones((8, 6, 3)), 4, 3).shape
        (4, 3, 3)
    """
    if image.shape[-3:-1] == (height, width):
        return image
    shape = (*image.shape[:-3], height, width, image.shape[-1])
    return jax.image.resize(image, shape, "linear", antialias=True)


def style_size(
    content_hw: tuple[int, int], style_hw: tuple[int, int], scale: float | None
) -> tuple[int, int]:
    """The size the style image is resized to (see ``Config.style_scale``).

    Example:
        >>> style_size((96, 128), (300, 200), None), style_size((96, 128), (300, 200), 0.5)
        ((96, 128), (64, 43))
    """
    if scale is None:
        return content_hw
    long_side = max(1, round(max(content_hw) * scale))
    h, w = style_hw
    factor = long_side / max(h, w)
    return max(1, round(h * factor)), max(1, round(w * factor))


def initial_image(
    content: Array,
    style: Array,
    init: str,
    preprocess: Preprocess,
    key: Array | None,
    noise_std: float = 0.1,
) -> Array:
    """The starting image in network-input space, ``content``'s ``(H, W, 3)`` shape.

    ``init="noise"``: white Gaussian noise of std ``noise_std`` around the
    preprocessing's mean colour, drawn from ``key``; ``"content"``: the photo;
    ``"style"``: the painting resized to the photo.
    """
    if init == "content":
        rgb = content
    elif init == "style":
        rgb = resize(style, *content.shape[:2])
    else:
        if key is None:
            raise ConfigError("init='noise' needs a PRNG key, e.g. key=jax.random.key(0)")
        mean_rgb = preprocess.invert(jnp.zeros((1, 1, 3), jnp.float32))
        rgb = mean_rgb + noise_std * jax.random.normal(key, content.shape, jnp.float32)
    return preprocess.apply(rgb.astype(jnp.float32))
