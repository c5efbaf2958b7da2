"""Host-stepped L-BFGS (:mod:`jaxstyle.solve.lbfgs`) over a batch, chunk by chunk.

Every loss+gradient evaluation is one compiled call, :func:`probe`; the line searches
and the two-loop recursion run between them. The CPU default: the only place the
network is compiled is the evaluation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.solve import lbfgs
from jaxstyle.solve.common import Fun, Progress, Solver
from jaxstyle.solve.guards import keep_best
from jaxstyle.solve.transfer import placed_like, restored, stacked

Array = jax.Array


class HostCarry(NamedTuple):
    """The host loop's whole state: L-BFGS's carry and each item's lowest-loss iterate."""

    state: lbfgs.Carry
    best: Array
    best_value: Array


@functools.partial(jax.jit, static_argnames=("loss_fn",))
def probe(
    x: Array, d: Array, t: Array, shared: Any, items: Any, loss_fn: Fun
) -> tuple[Array, Array, Array, Array, Any]:
    """:data:`jaxstyle.solve.lbfgs.Probe` of ``loss_fn``: loss and gradient at ``x + t d``, per item."""

    def one(x: Array, d: Array, t: Array, item: Any) -> tuple[Array, Array, Array, Array, Any]:
        xt = x + t * d
        (value, aux), grad = jax.value_and_grad(loss_fn, has_aux=True)(xt, shared, item)
        return xt, value, grad, jnp.vdot(grad, d, precision=jax.lax.Precision.HIGHEST), aux

    return jax.vmap(one)(x, d, t, items)


_keep_best = jax.jit(keep_best)


def run(
    fun: Fun,
    x0: Array,
    shared: Any,
    items: Any,
    solver: Solver,
    iterations: int,
    *,
    chunk: int,
    stop: Callable[[], bool],
    resume: HostCarry | None,
    done: int,
) -> Iterator[Progress]:
    """:func:`jaxstyle.solve.solvers.iterate` for ``lbfgs``: a :class:`Progress` per chunk."""
    evaluate = functools.partial(probe, shared=shared, items=items, loss_fn=fun)
    x0 = placed_like(x0, (shared, items))
    best, best_value = x0, jnp.full(x0.shape[:1], jnp.inf, jnp.float32)
    start = None
    if resume is not None:
        carry, best, best_value = resume
        back = restored((tuple(carry[:5]), best, best_value), x0, (shared, items))
        start = lbfgs.Carry(*back[0], *carry[5:])
        best, best_value = back[1:]
    records: list[dict[str, Any]] = []
    step = None
    for i, step in enumerate(
        lbfgs.steps(
            evaluate,
            x0,
            iterations - done,
            history_size=solver.history_size,
            linesearch=solver.linesearch,
            precondition=solver.precondition,
            image_hw=solver.image_hw,
            stop=stop,
            start=start,
        ),
        done + 1,
    ):
        best, best_value = _keep_best(best, best_value, step.x, step.value)
        records.append(
            {
                "value": step.value,
                "aux": step.aux,
                "evaluations": step.evaluations.astype(np.int32),
                "failed": step.failed,
            }
        )
        if i % chunk == 0 or i == iterations:
            yield Progress(best, stacked(records), HostCarry(step.carry, best, best_value))
            records = []
    if records and step is not None:  # stopped early
        yield Progress(best, stacked(records), HostCarry(step.carry, best, best_value))
