"""Optical flow between a clip's frames: OpenCV's estimators, on the host, cached per clip.

The flow from frame ``a`` to frame ``b`` is ``(H, W, 2)`` float32 on ``a``'s grid in
Middlebury's ``(u, v)`` order: pixel ``x`` of ``a`` is the point ``x + flow(x)`` of ``b``
(:func:`jaxstyle.warp` of ``b`` by it is ``a``). Each pair is estimated once and kept
in the cache (``<cache>/flow/``, written atomically), keyed by the clip's pixels, the
estimator and the pair, so that a resumed or repeated run reads it back.
OpenCV (``opencv-python-headless``) comes with the ``[video]`` extra.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.cache import atomic_write, cache_dir
from jaxstyle.errors import ConfigError

#: What to install when OpenCV or PyAV is missing.
EXTRA = "pip install 'jaxstyle[video]'"


def cv2() -> Any:
    """OpenCV, or one line naming the extra that brings it."""
    try:
        import cv2 as module
    except ImportError:
        raise ConfigError(f"optical flow needs OpenCV: {EXTRA}") from None
    return module


def _grey(frame: np.ndarray) -> np.ndarray:
    rgb = np.clip(np.asarray(frame, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2().cvtColor(rgb, cv2().COLOR_RGB2GRAY)


def dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's DIS flow (Kroeger et al. 2016; medium preset) from RGB ``a`` to ``b`` in [0, 1]."""
    estimator = cv2().DISOpticalFlow_create(cv2().DISOPTICAL_FLOW_PRESET_MEDIUM)
    return np.asarray(estimator.calc(_grey(a), _grey(b), None), np.float32)


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's Farneback flow (2003) from RGB ``a`` to ``b`` in [0, 1]: 5 levels, 15 px windows."""
    flow = cv2().calcOpticalFlowFarneback(_grey(a), _grey(b), None, 0.5, 5, 15, 3, 5, 1.2, 0)
    return np.asarray(flow, np.float32)


ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "dis": dis,
    "farneback": farneback,
}


def _save(flow: np.ndarray, path: str) -> None:
    with open(path, "wb") as f:
        np.save(f, flow)


class Flows:
    """The flows of one clip, each pair estimated once (in memory and in the cache).

    Args:
        frames: ``(T, H, W, 3)`` float RGB in [0, 1], the frames at the output's size.
        method: one of :data:`ESTIMATORS`.
        cache: keep the flows in the cache directory (``False``: memory only).

    Example:
        >>> clip = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
        >>> Flows(clip, "dis", cache=False)(1, 0).shape
        (32, 32, 2)
    """

    def __init__(self, frames: np.ndarray, method: str = "dis", cache: bool = True) -> None:
        self.frames = np.asarray(frames, np.float32)
        self.method = method
        self.estimate = ESTIMATORS[method]
        digest = hashlib.sha256(np.ascontiguousarray(self.frames).tobytes()).hexdigest()[:24]
        self.folder: Path | None = cache_dir() / "flow" / digest if cache else None
        self.known: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``."""
        if (a, b) in self.known:
            return self.known[(a, b)]
        path = None if self.folder is None else self.folder / f"{self.method}-{a}-{b}.npy"
        flow = None
        if path is not None and path.is_file():
            try:
                flow = np.load(path)
            except (OSError, ValueError):
                flow = None  # a damaged cache entry is estimated again
            if flow is not None and flow.shape != (*self.frames.shape[1:3], 2):
                flow = None
        if flow is None:
            flow = self.estimate(self.frames[a], self.frames[b])
            if path is not None:
                with contextlib.suppress(OSError):  # a read-only cache costs time, not the run
                    atomic_write(path, functools.partial(_save, flow), ".npy")
        self.known[(a, b)] = flow
        return flow
