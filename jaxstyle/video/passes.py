"""The passes of a clip's stylisation (Ruder, Dosovitskiy & Brox, GCPR 2016, sections 3.2-3.3).

:class:`Pass` turns one pass's frames into :func:`jaxstyle.stylize` calls: their
starts, their temporal references and the windows they run in.

- One pass (``passes=1``): frames in order, one call each; frame ``t`` starts from the
  result of frame ``t - 1`` warped onto it and is pulled towards the results of the
  frames ``t - j`` (``j`` in ``temporal_frames``).
- Multi-pass: pass 1 paints every frame independently, all together. Every later pass
  paints the even frames together, then the odd ones (even passes the odd ones
  first): each frame reads the latest results of the frames beside it, which the
  other half holds, so each half is one batched call (or equal windows of it). Frame
  ``t`` starts from ``x + delta/2 sum_s c_s (w_s - x)`` over its neighbours
  ``s = t -+ 1`` (``x`` its previous pass, ``w_s`` the neighbour's latest result warped
  onto it, ``c_s`` that warp's reliability) and is pulled towards the frames ``t -+ j``
  on both sides, each side's long-term weights counting a pixel once.

The paper's passes are sequential (Gauss-Seidel) and alternate their direction, so
each frame is drawn to both neighbours in turn. A pass in which every frame read
only the previous pass (Jacobi) does not settle under a strong temporal weight: the
frames swap their neighbours' looks pass after pass (on a 4-frame test pan, slim
random weights, 3 passes: warping error 0.035 at weight 0, 0.088 at weight 200).
Even and odd halves (red-black Gauss-Seidel) keep the paper's rule that a frame reads
its neighbours' newest results, in two batched calls a pass (the same test: 0.036 at
weight 0, 0.0085 at 200, 0.0035 after 5 passes); which half goes first alternates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.config import Config
from jaxstyle.loss.temporal import Temporal, long_term_weights
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params
from jaxstyle.run.plan import plan
from jaxstyle.run.stylize import stylize
from jaxstyle.video.estimate import Flows
from jaxstyle.video.flow import flow_reliability, warp
from jaxstyle.video.settings import Video
from jaxstyle.video.state import Progress

Array = jax.Array


@jax.jit
def _warped(image: Array, backward: Array, forward: Array) -> tuple[Array, Array]:
    return warp(image, backward), flow_reliability(backward, forward)


class Frames:
    """A clip's frames and flows, and a frame's view of other frames' results."""

    def __init__(self, frames: np.ndarray, flows: Flows, back: tuple[int, ...]) -> None:
        self.frames, self.flows, self.back = frames, flows, back

    def onto(self, results: np.ndarray, t: int, r: int) -> tuple[Array, Array]:
        """Frame ``r``'s result warped onto frame ``t``, and where that can be trusted."""
        return _warped(jnp.asarray(results[r]), self.flows(t, r), self.flows(r, t))

    def references(
        self, results: np.ndarray, have: np.ndarray, t: int, sides: tuple[int, ...]
    ) -> Temporal:
        """Frame ``t``'s references ``t - s j`` (``s`` in ``sides``, ``j`` in J) among the
        results it ``have``s; each side's weights by Eq. 9 (missing ones 0)."""
        h, w = self.frames.shape[1:3]
        images, weights = [], []
        for s in sides:
            trust = []
            for j in self.back:
                r = t - s * j
                if 0 <= r < len(self.frames) and have[r]:
                    image, c = self.onto(results, t, r)
                else:
                    image, c = jnp.zeros((h, w, 3), jnp.float32), jnp.zeros((h, w), jnp.float32)
                images.append(image)
                trust.append(c)
            weights.append(long_term_weights(jnp.stack(trust)))
        return Temporal(jnp.stack(images), jnp.concatenate(weights))


class Frame(NamedTuple):
    """What every frame's :func:`jaxstyle.stylize` call shares: its arguments but the frames."""

    style: Any
    params: Params
    preprocess: Preprocess
    config: Config
    key: Any = None
    masks: Any = None
    style_masks: Any = None
    interrupt: Sequence[int] = ()


class Pass:
    """One clip's run: its windows, and each window's :func:`jaxstyle.stylize` call."""

    def __init__(
        self, clip: Frames, video: Video, frame: Frame, starts: Array | None = None
    ) -> None:
        self.clip, self.video, self.frame = clip, video, frame
        self.init = starts  # the first pass's starts, when given
        self.size = self._window_size()

    def _window_size(self) -> int:
        half = (len(self.clip.frames) + 1) // 2  # a later pass's calls: every other frame
        if self.video.passes == 1:
            return 1
        if self.video.window is not None:
            return min(self.video.window, half)
        hw = self.clip.frames.shape[1:3]
        style, config = self.frame.style, self.frame.config
        styles = len(style) if isinstance(style, list | tuple) else 1
        regions = 0 if self.frame.masks is None else styles
        k = 2 * len(self.video.temporal_frames)

        def fits(b: int) -> bool:
            return plan(hw, config, batch=b, styles=styles, regions=regions, temporal=k).fits

        # The largest batch that fits (1 when none does: stylize then refuses it).
        low, high = 1, half
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if fits(mid) else (low, mid - 1)
        return low

    def windows(self, now: Progress) -> list[list[int]]:
        """The frames of the pass under way not yet done, in the order they run, in windows.

        Pass 1: every frame; later passes: the even frames, then the odd ones (odd
        passes), or the other way round (even passes).
        """
        todo = [t for t in range(len(now.done)) if not now.done[t]]
        if self.video.passes == 1:
            return [[t] for t in todo]
        groups = [todo]
        if now.passes:
            first = now.passes % 2  # pass 2 starts with the odd frames, pass 3 the even
            groups = [[t for t in todo if t % 2 == first], [t for t in todo if t % 2 != first]]
        out = []
        for group in groups:
            if group:
                count = math.ceil(len(group) / self.size)
                each = math.ceil(len(group) / count)
                out += [group[i : i + each] for i in range(0, len(group), each)]
        return out

    def window(self, window: list[int], now: Progress) -> tuple[np.ndarray | None, str | None]:
        """The pass's results for the frames of ``window`` (``None`` when stopped)."""
        clip, single = self.clip, self.video.passes == 1
        if single:  # sequential: this pass's earlier frames
            latest, have, sides = now.current, now.done, (1,)
        else:  # every other frame's latest result on both sides (none in pass 1)
            latest = np.where(now.done[:, None, None, None], now.current, now.previous)
            have, sides = np.full(len(now.done), now.passes > 0), (1, -1)
        refs = [clip.references(latest, have, t, sides) for t in window]
        starts = [self._start(t, now, latest) for t in window]
        pad = 0 if single else self.size - len(window)  # every window one program
        index = window + [window[-1]] * pad
        refs += [refs[-1]] * pad
        starts += [starts[-1]] * pad
        temporal = Temporal(
            jnp.stack([r.images for r in refs]), jnp.stack([r.weights for r in refs])
        )
        given = None if any(s is None for s in starts) else jnp.stack(starts)
        result = stylize(
            clip.frames[index],
            self.frame.style,
            self.frame.params,
            self.frame.preprocess,
            [self.frame.config] * len(index),
            key=self.frame.key,
            init_image=given,
            masks=_masks_at(self.frame.masks, index),
            style_masks=self.frame.style_masks,
            interrupt=self.frame.interrupt,
            temporal=temporal,
        )
        if result.stopped:
            return None, result.stopped
        return np.asarray(result.image[: len(window)]), None

    def _start(self, t: int, now: Progress, latest: np.ndarray) -> Array | None:
        """Frame ``t``'s start (``None``: the config's ``init``); ``latest``: every frame's
        newest result (one pass: this pass's)."""
        if now.passes == 0 and self.init is not None:
            return self.init[t]
        if self.video.passes == 1:
            return None if t == 0 else self.clip.onto(latest, t, t - 1)[0]
        if now.passes == 0:
            return None
        x = jnp.asarray(now.previous[t])
        moved = jnp.zeros_like(x)
        for s in (t - 1, t + 1):
            if 0 <= s < len(now.done):
                w, c = self.clip.onto(latest, t, s)
                moved = moved + c[..., None] * (w - x)
        return x + 0.5 * self.video.blend * moved


def _masks_at(masks: Any, index: list[int]) -> Any:
    """Each mask for the frames ``index``: a ``(T, H, W)`` mask taken at them, an ``(H, W)`` one shared."""
    if masks is None:
        return None
    out = []
    for m in masks:
        m = jnp.asarray(m, jnp.float32)
        out.append(
            m[jnp.asarray(index)] if m.ndim == 3 else jnp.broadcast_to(m, (len(index), *m.shape))
        )
    return out
