"""The run loop of :func:`jaxstyle.stylize`: iterations, progress, callbacks, interrupts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxstyle.config import Config
from jaxstyle.history import History, Result, failure, history, unbatch
from jaxstyle.interrupts import Interrupts
from jaxstyle.solvers import Solver, iterate

Array = jax.Array


def run(
    loss: Any,
    x0: Array,
    shared: Any,
    items: Any,
    solver: Solver,
    config: Config,
    batch: int | None,
    image: Callable[[Array], np.ndarray],
    callback: Callable[[int, np.ndarray, History], None] | None,
    progress: bool,
    caught: Interrupts,
) -> Result:
    """Iterates ``solver`` from ``x0`` and gathers the :class:`Result`.

    Shows the progress bar, calls ``callback`` after every chunk, and ends early, its
    result kept, once ``caught`` has received a signal. ``loss`` is a
    :data:`~jaxstyle.solvers.Fun` with a ``spec``; ``batch`` is ``None`` for one image.
    """
    one = functools.partial(unbatch, batched=batch is not None)
    count = x0.shape[0] if batch is None else batch  # items, without a padded batch's copies
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, unit="it", dynamic_ncols=True)
    chunks: list[dict[str, Any]] = []
    x, done = x0, 0
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
        )
        for x, records in steps:
            records = jax.tree.map(lambda r: r[:, :count], records)
            chunks.append(records)
            n = len(records["value"])
            done += n
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=f"{float(np.max(records['value'][-1])):.4g}")
            if callback is not None:
                callback(
                    done,
                    one(image(x)),
                    one(history(chunks, loss.spec, count)),
                )
    finally:
        if bar is not None:
            bar.close()
    return Result(
        one(image(x)),
        one(history(chunks, loss.spec, count)),
        caught.name,
        failure(chunks, batch is not None),
    )
