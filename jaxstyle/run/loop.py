"""The run loop of :func:`jaxstyle.stylize`: iterations, progress, callbacks, interrupts, checkpoints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxstyle.config import Config
from jaxstyle.run import checkpoint as ckpt
from jaxstyle.run.history import History, Result, failure, history, unbatch
from jaxstyle.run.interrupts import Interrupts
from jaxstyle.solve.common import Solver
from jaxstyle.solve.solvers import carry_like, iterate

Array = jax.Array


class Task(NamedTuple):
    """What :func:`run` iterates: the compiled loss, its arrays and how to report.

    Attributes:
        loss: a :data:`~jaxstyle.solve.common.Fun` with a ``spec``.
        x0: ``(B, ...)`` starts, placed.
        shared: what every item's loss reads (params, prepared kernels), placed.
        items: per-item arrays with a leading ``(B,)`` axis, placed.
        solver: the optimiser.
        config: the run's first resolved config (iterations, chunk size).
        batch: items the user gave, ``None`` for one image.
        image: ``x -> (B, H, W, 3)`` RGB results on this host.
        fingerprint: what a checkpoint must match (computed when first needed).
    """

    loss: Any
    x0: Array
    shared: Any
    items: Any
    solver: Solver
    config: Config
    batch: int | None
    image: Callable[[Array], np.ndarray]
    fingerprint: Callable[[], dict[str, str]] | None = None


def run(
    task: Task,
    caught: Interrupts,
    *,
    callback: Callable[[int, np.ndarray, History], None] | None = None,
    progress: bool = False,
    checkpoint: ckpt.Checkpoint | None = None,
) -> Result:
    """Iterates ``task.solver`` from ``task.x0`` and gathers the :class:`Result`.

    Shows the progress bar, calls ``callback`` after every chunk, and ends early, its
    result kept, once ``caught`` has received a signal. With ``checkpoint``, the run's
    state is saved every ``checkpoint.every`` iterations, when a signal stops it, and
    at the end of a run that saves or resumed; ``checkpoint.resume`` starts from the
    saved state, which must match ``task.fingerprint()``
    (:mod:`jaxstyle.run.checkpoint`).
    """
    loss, x0, shared, items, solver, config, batch, image, fingerprint = task
    one = functools.partial(unbatch, batched=batch is not None)
    count = x0.shape[0] if batch is None else batch  # items, without a padded batch's copies
    chunks: list[dict[str, Any]] = []
    x, done, carry, resume = x0, 0, None, None
    problem = functools.cache(fingerprint or dict)
    if checkpoint is not None and checkpoint.resume:
        like, records_like = carry_like(loss, x0, shared, items, solver)
        resume, records, done = ckpt.load(
            checkpoint, problem(), like, records_like, config.iterations
        )
        chunks, carry, x = ([records] if done else []), resume, resume.best
    saved = done
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, unit="it", dynamic_ncols=True, initial=done)
    try:
        steps = iterate(
            loss,
            x0,
            shared,
            items,
            solver,
            config.iterations,
            chunk=config.chunk_size,
            stop=lambda: caught.received is not None,
            resume=resume,
            done=done,
        )
        for x, records, carry in steps:
            records = jax.tree.map(lambda r: r[:, :count], records)
            chunks.append(records)
            n = len(records["value"])
            done += n
            if checkpoint is not None and checkpoint.every and done % checkpoint.every == 0:
                saved = _save(checkpoint, problem(), carry, chunks, done)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=f"{float(np.max(records['value'][-1])):.4g}")
            if callback is not None:
                callback(
                    done,
                    one(image(x)),
                    one(history(chunks, loss.spec, count)),
                )
        # A signal always saves; a finished run saves if it saves at all, or resumed.
        wanted = checkpoint is not None and (
            caught.received is not None or bool(checkpoint.every) or checkpoint.resume
        )
        if wanted and carry is not None and done != saved:
            _save(checkpoint, problem(), carry, chunks, done)
    finally:
        if bar is not None:
            bar.close()
    return Result(
        one(image(x)),
        one(history(chunks, loss.spec, count)),
        caught.name,
        failure(chunks, batch is not None),
    )


def _save(
    checkpoint: ckpt.Checkpoint,
    fingerprint: dict[str, str],
    carry: Any,
    chunks: list[dict[str, Any]],
    done: int,
) -> int:
    ckpt.save(
        checkpoint, fingerprint, carry, jax.tree.map(lambda *r: np.concatenate(r), *chunks), done
    )
    return done
