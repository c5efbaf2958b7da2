"""What a run returns: the image, and the loss per iteration (:class:`History`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxstyle.loss.spec import Spec


class History(NamedTuple):
    """Per-iteration record of the loss, float32 numpy arrays ``(T,)`` (``(B, T)`` a batch).

    ``total`` is Eq. 7 (plus any extra term); ``content`` is ``L_content``
    (unweighted); ``style[layer]`` is ``E_l`` (unweighted by ``w_l`` and beta); ``tv``,
    ``photo`` (the matting loss per pixel), ``temporal`` (a video frame's temporal loss)
    and ``extra`` the optional terms; ``evaluations`` the loss+gradient evaluations the
    iteration's line search used.
    """

    total: np.ndarray
    content: np.ndarray
    style: dict[str, np.ndarray]
    tv: np.ndarray
    extra: np.ndarray
    evaluations: np.ndarray
    photo: np.ndarray
    temporal: np.ndarray


class Result(NamedTuple):
    """What :func:`stylize` returns: the ``(H, W, 3)`` image in [0, 1] and its :class:`History`.

    ``image`` is the lowest-loss iterate of the run. ``stopped`` names the signal
    (``"SIGINT"``, ``"SIGTERM"``) that ended the run early, or is ``None``; the history
    then holds the iterations done. ``failed`` says, in one line, which item stopped
    for good on a non-finite loss or gradient and from which iteration (its image is
    its last finite iterate), or is ``None``.
    """

    image: np.ndarray
    history: History
    stopped: str | None = None
    failed: str | None = None


def failure(chunks: Sequence[dict[str, Any]], batched: bool) -> str | None:
    """The one-line account of the items whose records end ``failed``, or ``None``."""
    if not chunks:
        return None
    failed = np.concatenate([c["failed"] for c in chunks])  # (T, B)
    items = np.flatnonzero(failed[-1])
    if not items.size:
        return None
    # 1-based iteration where each item's final run of failures began.
    ok = ~failed[:, items]
    since = [int(np.flatnonzero(col)[-1]) + 2 if col.any() else 1 for col in ok.T]
    where = ", ".join(
        f"item {i} from iteration {k}" if batched else f"from iteration {k}"
        for i, k in zip(items, since, strict=True)
    )
    return f"the loss or its gradient was not finite {where} on, also after a restart"


def unbatch(tree: Any, batched: bool) -> Any:
    return tree if batched else jax.tree.map(lambda a: a[0], tree)


def history(chunks: Sequence[dict[str, Any]], spec: Spec, b: int) -> History:
    if not chunks:
        empty = np.zeros((b, 0), np.float32)
        return History(
            empty,
            empty,
            {k: empty for k in spec.style_layers},
            empty,
            empty,
            np.zeros((b, 0), np.int32),
            empty,
            empty,
        )
    # Records are (T, B); the History is (B, T).
    merged = jax.tree.map(lambda *xs: np.moveaxis(np.concatenate(xs), 0, -1), *chunks)
    aux = merged["aux"]
    return History(
        merged["value"],
        aux["content"],
        aux["style"],
        aux["tv"],
        aux["extra"],
        merged["evaluations"],
        aux["photo"],
        aux["temporal"],
    )
