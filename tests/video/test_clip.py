"""stylize_video: the batched multi-pass equals the same passes frame by frame, the single
pass follows the paper's start and loss, and an interrupted clip resumes where it stopped."""

from __future__ import annotations

import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from clips import pan
from conftest import TINY

from jaxstyle import TORCHVISION, Config, Video, init_params, stylize_video, warp
from jaxstyle.errors import CheckpointError, ConfigError


class KnownFlows:
    """The exact flows of a :func:`clips.pan`: from frame ``a`` to ``b``, ``(a - b) * shift``."""

    def __init__(self, frames: np.ndarray, shift: tuple[int, int]) -> None:
        self.shape, self.shift = frames.shape[1:3], np.asarray(shift, np.float32)

    def __call__(self, a: int, b: int) -> np.ndarray:
        # frame a at x is the photo at x + a s, frame b at x' is the photo at x' + b s:
        # x' = x + (a - b) s.
        return np.broadcast_to((a - b) * self.shift, (*self.shape, 2)).astype(np.float32)


SHIFT = (2, 1)
CLIP = pan(4, SHIFT, size=24)
PARAMS = init_params(jax.random.key(0), TINY)
STYLE = np.asarray(pan(1, size=24, source=CLIP[0][::-1])[0])


def _run(config: Config, video: Video, **kw) -> np.ndarray:
    kw.setdefault("flows", KnownFlows(CLIP, SHIFT))
    return stylize_video(CLIP, STYLE, PARAMS, TORCHVISION, config, video=video, **kw)


def _warping_error(frames: np.ndarray) -> float:
    """Mean |O_t - warp(O_{t-1})| over the pixels seen in both frames (the pan's)."""
    dx, dy = SHIFT
    return float(
        np.mean(
            [
                np.abs(frames[t][:-dy, :-dx] - frames[t - 1][dy:, dx:]).mean()
                for t in range(1, len(frames))
            ]
        )
    )


@pytest.mark.parametrize("count", [4, 5])  # 5: halves of 3 and 2 frames, the 2 padded to 3
def test_the_batched_multi_pass_equals_its_passes_frame_by_frame(count):
    clip, flows = pan(count, SHIFT, size=24), KnownFlows(CLIP, SHIFT)
    config = Config(iterations=4, temporal_weight=50.0, init="noise")
    run = lambda video: stylize_video(  # noqa: E731
        clip, STYLE, PARAMS, TORCHVISION, config, video=video, flows=flows, key=jax.random.key(3)
    )
    batched, alone = run(Video(passes=3)), run(Video(passes=3, window=1))
    assert batched.passes == alone.passes == 3
    np.testing.assert_allclose(batched.frames, alone.frames, atol=2e-5)


def test_the_known_flows_warp_each_frame_onto_the_next():
    flows = KnownFlows(CLIP, SHIFT)
    onto = np.asarray(warp(jnp.asarray(CLIP[0]), jnp.asarray(flows(1, 0))))
    np.testing.assert_allclose(onto[:-1, :-2], CLIP[1][:-1, :-2], atol=1e-6)


@pytest.mark.parametrize("passes", [1, 3])
def test_the_temporal_loss_lowers_the_warping_error(passes):
    errors = {}
    for weight in (0.0, 200.0):
        config = Config(iterations=6, temporal_weight=weight, init="noise")
        out = _run(config, Video(passes=passes), key=jax.random.key(1))
        assert out.frames.shape == CLIP.shape and out.stopped is None
        errors[weight] = _warping_error(out.frames)
    assert errors[200.0] < 0.5 * errors[0.0], errors


def test_single_pass_starts_each_frame_from_the_previous_result_warped():
    starts = []
    config = Config(iterations=0, temporal_weight=1.0)  # no step: the result is the start
    out = _run(config, Video(passes=1), callback=lambda p, t, image: starts.append(image))
    np.testing.assert_allclose(out.frames[0], CLIP[0], atol=1e-6)  # init="content"
    for t in range(1, len(CLIP)):  # each start is the previous result moved by the pan
        np.testing.assert_allclose(out.frames[t][:-1, :-2], out.frames[t - 1][1:, 2:], atol=1e-5)


def test_an_interrupted_clip_resumes_without_redoing_frames(tmp_path):
    config = Config(iterations=3, temporal_weight=20.0)
    whole = _run(config, Video(passes=2, window=2))
    path = tmp_path / "state.npz"
    seen = []

    def stop_after_first(number, t, image):
        seen.append((number, t))
        if len(seen) == 2:
            signal.raise_signal(signal.SIGINT)

    first = _run(config, Video(passes=2, window=2), state_path=path, callback=stop_after_first)
    assert first.stopped == "SIGINT" and first.passes == 0 and first.frames.shape[0] == 2
    rest = []
    again = _run(
        config,
        Video(passes=2, window=2),
        state_path=path,
        resume=path,
        callback=lambda p, t, i: rest.append((p, t)),
    )
    assert set(seen).isdisjoint(rest) and len(seen) + len(rest) == 2 * len(CLIP)
    np.testing.assert_allclose(again.frames, whole.frames, atol=1e-6)
    with pytest.raises(CheckpointError, match="another clip or settings: config"):
        _run(Config(iterations=3, temporal_weight=1.0), Video(passes=2), resume=path)


def test_masks_per_frame_or_shared_and_bad_frames():
    half = np.zeros((len(CLIP), 24, 24), np.float32)
    half[:, :, 12:] = 1.0
    masks = [1.0 - half[0], half]  # one for every frame, one per frame
    out = stylize_video(
        CLIP,
        [STYLE, STYLE[::-1]],
        PARAMS,
        TORCHVISION,
        Config(iterations=1),
        video=Video(passes=2),
        masks=masks,
        flows=KnownFlows(CLIP, SHIFT),
    )
    assert out.frames.shape == CLIP.shape
    with pytest.raises(ConfigError, match=r"frames must have shape \(T, H, W, 3\)"):
        stylize_video(CLIP[0], STYLE, PARAMS, TORCHVISION)


def test_a_luminance_run_holds_grey_frames_to_grey_references():
    """colors="luminance" runs with the temporal loss: its references go to grey, as its start."""
    config = Config(iterations=2, temporal_weight=50.0, colors="luminance")
    out = _run(config, Video(passes=2))
    assert out.frames.shape == CLIP.shape and np.isfinite(out.frames).all()
