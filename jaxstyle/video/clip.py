"""``stylize_video``: a clip painted without flicker (Ruder, Dosovitskiy & Brox, GCPR 2016).

Each frame is one :func:`jaxstyle.stylize` problem plus the temporal loss of
:mod:`jaxstyle.loss.temporal` towards other frames' results warped onto it; the passes
and their batching are :mod:`jaxstyle.video.passes`. Progress is saved after every frame
or window (:mod:`jaxstyle.video.state`), and a signal stops the run after the one under
way, keeping what is done.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params
from jaxstyle.run.checkpoint import digest
from jaxstyle.run.interrupts import Interrupts
from jaxstyle.video import state
from jaxstyle.video.estimate import Flows
from jaxstyle.video.passes import Frame, Frames, Pass
from jaxstyle.video.settings import Video

Array = jax.Array


class VideoResult(NamedTuple):
    """What :func:`stylize_video` returns.

    Attributes:
        frames: ``(T, H, W, 3)`` float32 in [0, 1]: the last complete pass, or for an
            interrupted single pass the frames done (``(T', H, W, 3)``, ``T' < T``).
        passes: passes complete.
        stopped: the signal that ended the run early, or ``None``.
    """

    frames: np.ndarray
    passes: int
    stopped: str | None = None


def stylize_video(
    frames: Array | np.ndarray,
    style: Array | np.ndarray | Sequence[Array | np.ndarray],
    params: Params,
    preprocess: Preprocess,
    config: Config | None = None,
    *,
    video: Video | None = None,
    key: Array | None = None,
    masks: Any = None,
    style_masks: Any = None,
    flows: Flows | None = None,
    init_frames: Array | np.ndarray | None = None,
    progress: bool = False,
    resume: str | Path | None = None,
    state_path: str | Path | None = None,
    interrupt: Sequence[int] = (signal.SIGINT,),
    callback: Callable[[int, int, np.ndarray], None] | None = None,
) -> VideoResult:
    """Paints a clip in the style of ``style`` (Ruder et al. 2016), without flicker.

    Args:
        frames: ``(T, H, W, 3)`` RGB in [0, 1], the clip at the output's size.
        style: as :func:`jaxstyle.stylize`'s.
        params, preprocess: VGG19's params and their input convention.
        config: each frame's settings (``temporal_weight`` 0: independent frames).
        video: the clip's settings (:class:`~jaxstyle.video.settings.Video`).
        key: PRNG key of a noise start, shared by every frame.
        masks: one mask per style, each ``(H, W)`` (every frame) or ``(T, H, W)``.
        style_masks: as :func:`jaxstyle.stylize`'s.
        flows: the clip's :class:`~jaxstyle.video.estimate.Flows` (default: made here
            with ``video.flow``, cached).
        init_frames: ``(T, H, W, 3)`` starts of the first pass's frames in [0, 1] (a
            coarser run's result, upsampled); default: the config's ``init`` (and,
            for one pass, each frame after the first from its predecessor's result).
        progress: a tqdm bar over passes and frames.
        state_path: where to save the progress after each frame or window.
        resume: a saved progress to continue (frames and passes done are not redone).
        interrupt: signals that stop the run after the frame or window under way.
        callback: called with ``(pass, frame, image)`` as each frame is done.

    Returns:
        :class:`VideoResult`.

    Example:
        >>> from jaxstyle.model.preprocess import TORCHVISION
        >>> from jaxstyle.model.vgg import init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> clip = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
        >>> out = stylize_video(clip, clip[0], params, TORCHVISION, Config(iterations=2),
        ...                     video=Video(passes=2), flows=Flows(clip, cache=False))
        >>> out.frames.shape, out.passes
        ((3, 16, 16, 3), 2)
    """
    config, video = config or Config(), video or Video()
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise ConfigError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    clip = Frames(frames, flows or Flows(frames, video.flow), video.temporal_frames)
    fingerprint = _fingerprint(frames, style, params, config, video, (masks, init_frames))
    shape = frames.shape
    progress_now = state.load(resume, fingerprint, shape) if resume else state.Progress.start(shape)
    if init_frames is not None and np.shape(init_frames) != frames.shape:
        raise ConfigError(f"init_frames must have the frames' shape {frames.shape}")
    frame = Frame(style, params, preprocess, config, key, masks, style_masks, tuple(interrupt))
    starts = None if init_frames is None else jnp.asarray(init_frames, jnp.float32)
    run = Pass(clip, video, frame, starts)
    bar = _bar(progress, video.passes * len(frames), progress_now)
    with Interrupts(interrupt) as caught:
        while progress_now.passes < video.passes:
            number = progress_now.passes + 1
            for window in run.windows(progress_now):
                images, stopped = run.window(window, progress_now)
                if images is not None:
                    done = progress_now.done.copy()
                    current = progress_now.current.copy()
                    for t, image in zip(window, images, strict=True):
                        done[t], current[t] = True, image
                        if callback is not None:
                            callback(number, t, image)
                    progress_now = progress_now._replace(done=done, current=current)
                    bar.update(len(window))
                stopped = stopped or caught.name
                if state_path is not None:
                    state.save(state_path, progress_now, fingerprint)
                if stopped:
                    bar.close()
                    return _partial(progress_now, stopped)
            progress_now = progress_now.finished_pass()
            if state_path is not None:
                state.save(state_path, progress_now, fingerprint)
    bar.close()
    return VideoResult(progress_now.previous, progress_now.passes)


def _partial(progress: state.Progress, stopped: str) -> VideoResult:
    """An interrupted run's frames: the last complete pass, or a single pass's frames done."""
    if progress.passes:
        return VideoResult(progress.previous, progress.passes, stopped)
    n = int(np.argmin(progress.done)) if not progress.done.all() else len(progress.done)
    return VideoResult(progress.current[:n], 0, stopped)


def _fingerprint(
    frames: np.ndarray, style: Any, params: Params, config: Config, video: Video, inputs: Any
) -> dict[str, str]:
    """What a saved progress must match: every input and setting but the window size."""
    settings = dataclasses.replace(video, window=None)
    return {
        "frames": digest(frames),
        "style": digest(style),
        "masks and starts": digest(inputs),
        "weights": digest(params),
        "config": repr(config),
        "video": repr(settings),
    }


def _bar(show: bool, total: int, now: state.Progress) -> Any:
    """A tqdm bar over every frame of every pass (a no-op one when not shown)."""
    done = now.passes * len(now.done) + int(now.done.sum())
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="frame", desc="video")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
