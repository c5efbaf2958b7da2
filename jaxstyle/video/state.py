"""A clip's progress, saved after every frame or window so that a run resumes where it stopped.

One ``.npz`` (written atomically): the pass under way, which of its frames are done,
their results, the last complete pass's results, and a fingerprint of the problem
(frames, style, params, settings) that a resumed run must match.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxstyle.cache import atomic_write
from jaxstyle.errors import CheckpointError

_VERSION = 1


class Progress(NamedTuple):
    """Where a clip's run stands.

    Attributes:
        passes: passes complete.
        done: ``(T,)`` bool, the frames of the pass under way that are done.
        current: ``(T, H, W, 3)`` float32, their results (other frames: zeros).
        previous: ``(T, H, W, 3)`` float32, the last complete pass (zeros before one).
    """

    passes: int
    done: np.ndarray
    current: np.ndarray
    previous: np.ndarray

    @classmethod
    def start(cls, shape: tuple[int, ...]) -> Progress:
        zeros = np.zeros(shape, np.float32)
        return cls(0, np.zeros(shape[0], bool), zeros, zeros.copy())

    def finished_pass(self) -> Progress:
        """The pass under way complete: its results become the previous pass's."""
        return Progress(
            self.passes + 1, np.zeros_like(self.done), np.zeros_like(self.current), self.current
        )


def save(path: str | os.PathLike[str], progress: Progress, fingerprint: Mapping[str, str]) -> None:
    """Writes ``progress`` to ``path`` atomically.

    Raises:
        CheckpointError: the file cannot be written (the previous one is kept).
    """
    meta = json.dumps(
        {"version": _VERSION, "passes": progress.passes, "fingerprint": dict(fingerprint)}
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                meta=np.array(meta),
                done=progress.done,
                current=progress.current,
                previous=progress.previous,
            )

    try:
        atomic_write(path, write)
    except OSError as e:
        raise CheckpointError(f"cannot write the video state {path}: {e.strerror or e}") from None


def load(
    path: str | os.PathLike[str], fingerprint: Mapping[str, str], shape: tuple[int, ...]
) -> Progress:
    """The progress saved at ``path`` for this problem.

    Raises:
        CheckpointError: missing, unreadable, or saved for another problem (naming what differs).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            done, current, previous = z["done"], z["current"], z["previous"]
    except FileNotFoundError:
        raise CheckpointError(f"no video state to resume at {path}") from None
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"cannot read the video state {path}: {e}") from None
    if meta.get("version") != _VERSION:
        raise CheckpointError(f"{path} is a video state of another version")
    differ = [
        k
        for k in sorted({*fingerprint, *meta["fingerprint"]})
        if fingerprint.get(k) != meta["fingerprint"].get(k)
    ]
    if differ:
        raise CheckpointError(
            f"{path} was saved for another clip or settings: {', '.join(differ)} differ"
        )
    if current.shape != shape or previous.shape != shape or done.shape != shape[:1]:
        raise CheckpointError(f"{path} holds frames of another shape")
    return Progress(
        int(meta["passes"]),
        done.astype(bool),
        current.astype(np.float32),
        previous.astype(np.float32),
    )
