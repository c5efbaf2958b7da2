"""Draws jaxstyle/assets/tubingen_sky.png, the sky/town mask of the bundled photo.

Sky: blue-dominant pixels connected to the top edge, holes filled, edges smoothed,
at the photo's full size (white = sky). Run once; the PNG is what the gallery uses.
Needs scipy (the test extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

ASSETS = Path(__file__).resolve().parents[1] / "jaxstyle" / "assets"


def sky_mask(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., c].astype(np.float32) for c in range(3))
    blue = (b - r > 35) & (b > 140) & (b >= g)
    labels, _ = ndimage.label(blue)
    top = set(np.unique(labels[0])) - {0}
    sky = np.isin(labels, list(top))
    sky = ndimage.binary_closing(sky, iterations=4)  # the thin branches on the left
    sky = ndimage.binary_fill_holes(sky)
    return ndimage.binary_opening(sky, iterations=2)


def main() -> None:
    rgb = np.asarray(Image.open(ASSETS / "tubingen.jpg").convert("RGB"))
    mask = Image.fromarray((sky_mask(rgb) * 255).astype(np.uint8), "L")
    mask.filter(ImageFilter.GaussianBlur(1.5)).save(ASSETS / "tubingen_sky.png", optimize=True)


if __name__ == "__main__":
    main()
