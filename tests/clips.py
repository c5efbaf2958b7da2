"""Synthetic clips with known motion: the one helper for every video test's frames."""

from __future__ import annotations

import numpy as np

from jaxstyle import bundled, load_image


def photo(size: int = 160) -> np.ndarray:
    """The bundled Tübingen photo, long side ``size``, ``(H, W, 3)`` float32."""
    return np.asarray(load_image(bundled("tubingen.jpg"), size), np.float32)


def pan(
    frames: int, shift: tuple[int, int] = (2, 1), size: int = 48, source: np.ndarray | None = None
) -> np.ndarray:
    """``(T, size, size, 3)`` crops of a photo moving by ``shift = (dx, dy)`` px a frame.

    Frame ``t`` at ``x`` is the photo at ``x + t * shift``, so the backward flow (frame
    ``t`` to ``t - 1``) is ``+shift`` everywhere and the forward flow is ``-shift``;
    the last ``|dx|`` columns and ``|dy|`` rows of each frame are newly seen.
    """
    img = (
        photo(max(160, size + frames * max(abs(shift[0]), abs(shift[1])) + 8))
        if source is None
        else source
    )
    dx, dy = shift
    x0, y0 = (frames * abs(dx) if dx < 0 else 0), (frames * abs(dy) if dy < 0 else 0)
    out = [
        img[y0 + t * dy : y0 + t * dy + size, x0 + t * dx : x0 + t * dx + size]
        for t in range(frames)
    ]
    return np.stack(out).astype(np.float32)
