"""What every solver shares: its settings, the loss it runs on, what it yields, the memory rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from jaxstyle.options import HISTORY_SIZES, LINESEARCHES, PRECONDITIONERS

Array = jax.Array
#: One item's loss: ``(x, shared, item) -> (loss, aux)``; ``shared`` is the same for
#: every item of a batch (the params), ``item`` has a leading batch axis (targets,
#: weights). Must be hashable: it is a ``jit`` static argument.
Fun = Callable[[Array, Any, Any], tuple[Array, Any]]
#: The L-BFGS memory of a batch is kept under this many bytes when the history size
#: is left to the default (:func:`history_size`).
HISTORY_BYTES = 2 * 2**30


@dataclasses.dataclass(frozen=True)
class Solver:
    """Which solver, with which line search and memory (static).

    Attributes:
        optimizer: ``"lbfgs"``, ``"optax"``, ``"jaxopt"`` or ``"adam"``.
        linesearch: one of :data:`~jaxstyle.options.LINESEARCHES` for the optimizer.
        history_size: L-BFGS memory in pairs (unused by Adam).
        precondition: L-BFGS's ``H0``, one of :data:`~jaxstyle.options.PRECONDITIONERS`
            for the optimizer; ``"spectral"`` needs items ``(H, W, C)``, so the plain
            ``"none"`` is the default here (a :class:`~jaxstyle.Config` picks for images).
        learning_rate: Adam's step size in ``x``'s units: a number, or a tuple with
            one per channel (``x``'s last axis). :func:`jaxstyle.stylize` passes
            ``Config.learning_rate`` in pixel units through the preprocessing's scale.
        image_hw: ``(H, W)`` of the image in items whose rows were padded for a row
            split (the spectral ``H0`` filters the image alone); ``None``: the whole item.

    Example:
        >>> Solver("jaxopt").linesearch
        'zoom'
    """

    optimizer: str = "lbfgs"
    linesearch: str | None = None
    history_size: int = 10
    learning_rate: float | tuple[float, ...] = 1e-3
    precondition: str = "none"
    image_hw: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in LINESEARCHES:
            raise ValueError(f"optimizer must be one of {', '.join(LINESEARCHES)}")
        if self.linesearch is None:
            object.__setattr__(self, "linesearch", LINESEARCHES[self.optimizer][0])
        if self.linesearch not in LINESEARCHES[self.optimizer]:
            raise ValueError(f"{self.optimizer} offers {', '.join(LINESEARCHES[self.optimizer])}")
        if self.precondition not in PRECONDITIONERS[self.optimizer]:
            raise ValueError(
                f"{self.optimizer} offers {', '.join(PRECONDITIONERS[self.optimizer])}"
            )


def history_size(optimizer: str, requested: int | None, batch: int, hw: tuple[int, int]) -> int:
    """The L-BFGS memory of a run: ``requested``, or the default within :data:`HISTORY_BYTES`.

    A pair of past steps costs ``2 * batch * H * W * 3`` float32. Fig. 4's grid (20
    images) at 512x512 would hold 12.6 GB with lbfgs's 100 pairs, more than a 16 GB
    GPU has beside the activations (about 0.5 GB per image at 512x512 for VGG19 up to
    relu5_1 with its gradient); within 2 GiB it keeps 17.

    Example:
        >>> history_size("lbfgs", None, 1, (512, 512)), history_size("lbfgs", None, 20, (512, 512))
        (100, 17)
    """
    if requested is not None:
        return requested
    per_pair = 2 * batch * hw[0] * hw[1] * 3 * 4
    return max(1, min(HISTORY_SIZES[optimizer], HISTORY_BYTES // per_pair))


class Progress(NamedTuple):
    """What :func:`jaxstyle.solve.solvers.iterate` yields after each chunk of iterations.

    Attributes:
        best: each item's lowest-loss iterate so far ``(B, ...)``.
        records: numpy records of the chunk's iterations, ``{"value": (n, B), "aux":
            aux with (n, B) leaves, "evaluations": (n, B), "failed": (n, B)}`` (NaN
            and 0 while an item is stopped on a failed step; ``failed`` true while it is).
        carry: the solver's whole state, a named tuple whose ``best`` is ``best``:
            :func:`jaxstyle.solve.solvers.iterate` resumes from it exactly (``resume``).
            Read or save it before the next chunk is asked for.
    """

    best: Array
    records: dict[str, Any]
    carry: Any
