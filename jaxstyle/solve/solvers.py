"""L-BFGS (or Adam) on any ``x -> (loss, aux)``: four solvers behind one small interface.

- ``lbfgs`` (:mod:`jaxstyle.solve.lbfgs`): torch.optim.LBFGS's algorithm, stepped from
  Python; one compiled program per loss+gradient evaluation, the only place the loss
  is compiled. The CPU default.
- ``optax`` (``optax.lbfgs``) and ``jaxopt`` (``jaxopt.LBFGS``): line search and
  update compiled into one program, run ``chunk`` iterations at a time in a
  ``lax.fori_loop`` on the device: no host round trip per evaluation. jaxopt is the
  GPU/TPU default. ``adam`` (``optax.adam``) runs the same way, one evaluation per
  iteration and no history. On a CPU they are stepped one compiled iteration at a time instead,
  as XLA:CPU runs convolutions inside a while loop about 2x slower (jax-ml/jax#12868).

Every solver works on a batch ``(B, ...)``: the per-item function is ``jax.vmap``-ed
by :func:`jaxstyle.solve.host.probe` (lbfgs) and :mod:`jaxstyle.solve.device` (the
others), and each item has its own line search and memory. A step whose loss or image
is not finite leaves that item where it was; it then starts again from there once,
with an empty memory (and, for Adam and unit steps, half the step), and if that fails
too before a step succeeds it stops for good (``"failed"`` in its records). Each
item's lowest-loss iterate is kept beside the current one (Adam's loss is not
monotone), and that is what a run hands back (both rules: :mod:`jaxstyle.solve.guards`). :func:`iterate` hands out the whole state after each
chunk and resumes from it exactly (what :mod:`jaxstyle.run.checkpoint` saves).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from jaxstyle.solve import device, lbfgs
from jaxstyle.solve.common import Fun, Progress, Solver
from jaxstyle.solve.host import HostCarry
from jaxstyle.solve.host import run as host_run

Array = jax.Array


def carry_like(fun: Fun, x0: Array, shared: Any, items: Any, solver: Solver) -> tuple[Any, Any]:
    """The structure, shapes and dtypes of :attr:`Progress.carry`, and a records template.

    Computed from shapes alone (``jax.eval_shape``); what :mod:`jaxstyle.run.checkpoint`
    checks a saved state against.
    """
    b = x0.shape[:1]
    flags = jax.ShapeDtypeStruct(b, np.dtype(bool))
    value = jax.ShapeDtypeStruct(b, np.dtype(np.float32))
    aux = jax.eval_shape(jax.vmap(lambda x, item: fun(x, shared, item)[1]), x0, items)
    records = {"value": value, "aux": aux, "evaluations": value, "failed": flags}
    if solver.optimizer == "lbfgs":
        memory = jax.eval_shape(lambda x: lbfgs.init_memory(x, solver.history_size), x0)
        x = jax.ShapeDtypeStruct(x0.shape, x0.dtype)
        state = lbfgs.Carry(x, value, x, aux, memory, flags, flags, flags)
        return HostCarry(state, x, value), records
    init = functools.partial(device.init_state, loss_fn=fun, solver=solver)
    return device.DeviceCarry(jax.eval_shape(init, x0, shared, items), flags), records


def iterate(
    fun: Fun,
    x0: Array,
    shared: Any,
    items: Any,
    solver: Solver,
    iterations: int,
    *,
    chunk: int = 50,
    host: bool | None = None,
    stop: Callable[[], bool] | None = None,
    resume: Any = None,
    done: int = 0,
) -> Iterator[Progress]:
    """Runs ``solver`` on a batch up to iteration ``iterations``, yielding :class:`Progress`.

    Args:
        x0: ``(B, ...)`` starting points; ``items`` has the same leading axis.
        chunk: a chunk ends at every multiple of ``chunk`` iterations (and at the end).
        host: step optax/jaxopt from Python (default: on a CPU).
        stop: asked after every compiled call (an evaluation, a step, or a chunk on a
            device); once it says ``True`` the iterations done so far are yielded and
            the run ends.
        resume: a :attr:`Progress.carry` (its arrays numpy or JAX) after ``done``
            iterations: the run continues from it, as if it had not stopped.
        done: the iterations ``resume`` has done (0 without it).
    """
    common = {"chunk": chunk, "stop": stop or (lambda: False), "resume": resume, "done": done}
    if solver.optimizer == "lbfgs":
        return host_run(fun, x0, shared, items, solver, iterations, **common)
    on_host = jax.default_backend() == "cpu" if host is None else host
    return device.run(fun, x0, shared, items, solver, iterations, on_host=on_host, **common)


@dataclasses.dataclass(frozen=True)
class _Plain:
    fun: Callable[[Array], tuple[Array, Any]]

    def __call__(self, x: Array, shared: Any, item: Any) -> tuple[Array, Any]:
        return self.fun(x)


def minimize(
    fun: Callable[[Array], tuple[Array, Any]],
    x0: Array,
    iterations: int,
    solver: Solver | None = None,
) -> tuple[Array, dict[str, Any]]:
    """A solver (default ``Solver()``, L-BFGS) on one ``fun: x -> (loss, aux)`` from
    ``x0``, for ``iterations``.

    Returns:
        The lowest-loss iterate evaluated and ``{"value": (T,), "aux": (T, ...)
        leaves, "evaluations": (T,)}`` as numpy arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> def f(x):
        ...     return jnp.sum((x - 3.0) ** 2), {"first": x[0]}
        >>> x, hist = minimize(f, jnp.zeros(4), 5, Solver("jaxopt"))
        >>> [round(float(v), 4) for v in x], hist["value"].shape
        ([3.0, 3.0, 3.0, 3.0], (5,))
    """
    out: list[dict[str, Any]] = []
    x = x0[None]
    for progress in iterate(_Plain(fun), x, None, None, solver or Solver(), iterations):
        x = progress.best
        out.append(progress.records)
    if not out:
        return x0, {}
    merged = jax.tree.map(lambda *h: np.concatenate(h)[:, 0], *out)
    return x[0], merged
