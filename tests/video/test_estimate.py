"""Optical flow from OpenCV on a known pan, its cache, and the one-line error without OpenCV."""

from __future__ import annotations

import sys

import jax.numpy as jnp
import numpy as np
import pytest
from clips import photo

from jaxstyle import Flows, warp
from jaxstyle.errors import ConfigError

cv2 = pytest.importorskip("cv2", reason="the [video] extra is not installed")


def _subpixel_pan(shift: tuple[float, float]) -> np.ndarray:
    img = photo(160)
    moved = np.asarray(
        warp(
            jnp.asarray(img), jnp.broadcast_to(jnp.asarray(shift, jnp.float32), (*img.shape[:2], 2))
        )
    )
    return np.stack([img[10:-10, 10:-10], moved[10:-10, 10:-10]])


def test_dis_flow_on_a_known_pan_is_within_half_a_pixel_inside():
    shift = (3.25, -1.5)
    flows = Flows(_subpixel_pan(shift), "dis", cache=False)
    backward = flows(1, 0)  # frame 1 at x is frame 0 at x + shift
    error = np.linalg.norm(backward[16:-16, 16:-16] - np.asarray(shift), axis=-1)
    assert error.max() < 0.5, error.max()
    forward = flows(0, 1)
    assert np.median(np.linalg.norm(forward[16:-16, 16:-16] + np.asarray(shift), axis=-1)) < 0.1


def test_flows_are_cached_per_clip_and_pair(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path))
    clip = _subpixel_pan((1.0, 0.0))
    first = Flows(clip, "dis")(1, 0)
    files = list((tmp_path / "flow").rglob("*.npy"))
    assert [f.name for f in files] == ["dis-1-0.npy"]
    calls = []
    again = Flows(clip, "dis")
    again.estimate = lambda a, b: calls.append(1)  # a second run reads the cache
    np.testing.assert_array_equal(again(1, 0), first)
    assert not calls
    files[0].write_bytes(b"damaged")  # a damaged entry is estimated again
    np.testing.assert_allclose(Flows(clip, "dis")(1, 0), first)


def test_without_opencv_one_line_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'jaxstyle\[video\]'"):
        Flows(np.zeros((2, 8, 8, 3), np.float32), cache=False)(1, 0)
