"""The settings of a clip's stylisation beyond each frame's :class:`~jaxstyle.config.Config`.

Validated once, when made. A frame's loss weights (``temporal_weight`` included) are
its :class:`~jaxstyle.config.Config`'s; what is here shapes the run over the clip:
passes, the frames of the long-term loss, the multi-pass blend and the flow estimator.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxstyle.errors import ConfigError

#: Optical-flow estimators (:mod:`jaxstyle.video.estimate`): OpenCV's DIS (medium
#: preset, variational refinement) and Farneback.
FLOWS = ("dis", "farneback")


def _frames(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    else:
        parts = list(value)
    try:
        frames = tuple(sorted({int(p) for p in parts}))
    except (TypeError, ValueError):
        raise ConfigError(
            f"temporal_frames must be whole numbers like 1,2,4, got {value!r}"
        ) from None
    if not frames or frames[0] < 1:
        raise ConfigError(f"temporal_frames must be positive whole numbers, got {value!r}")
    return frames


@dataclasses.dataclass(frozen=True)
class Video:
    """How a clip is painted (Ruder, Dosovitskiy & Brox, GCPR 2016).

    Attributes:
        passes: 1: the sequential single-pass algorithm (frame ``t`` started from the
            warped result of frame ``t - 1``, section 3.2); ``N >= 2``: multi-pass
            (section 3.3), pass 1 independent frames, every later pass all frames
            together as one batched program reading the previous pass on both sides
            (:mod:`jaxstyle.video.passes`); ``config.iterations`` are each pass's.
        temporal_frames: ``J``, the frames ``t - j`` (multi-pass: also ``t + j``) the
            temporal loss looks at (``1``: the short-term loss; ``1,2,4``: the long-term
            loss of Eq. 8); a comma-separated string or integers.
        blend: the multi-pass start's ``delta``: frame ``t`` starts from
            ``x + delta/2 sum_s c_s (w_s - x)``, ``x`` its previous pass, ``w_s`` its
            neighbours' (``s = t -+ 1``) warped onto it, ``c_s`` those warps' reliability.
        flow: the optical-flow estimator, one of :data:`FLOWS`.
        window: frames optimised together per multi-pass call; ``None`` takes the
            largest the memory plan fits (a window reads only the previous pass, so
            windows need no overlap and do not change the result).

    Example:
        >>> Video(passes=4, temporal_frames="4,1,2").temporal_frames
        (1, 2, 4)
    """

    passes: int = 1
    temporal_frames: Any = (1,)
    blend: float = 0.5
    flow: str = "dis"
    window: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.passes, int) and self.passes >= 1):
            raise ConfigError(f"passes must be a whole number >= 1, got {self.passes!r}")
        object.__setattr__(self, "temporal_frames", _frames(self.temporal_frames))
        if not (math.isfinite(self.blend) and 0 <= self.blend <= 1):
            raise ConfigError(f"blend must be in [0, 1], got {self.blend}")
        if self.flow not in FLOWS:
            raise ConfigError(f"flow must be one of {', '.join(FLOWS)}, got {self.flow!r}")
        if self.window is not None and not (isinstance(self.window, int) and self.window >= 1):
            raise ConfigError(f"window must be a whole number >= 1, got {self.window!r}")
