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
by :func:`probe` (lbfgs) and :mod:`jaxstyle.solve.device` (the others), and each item
has its own line search and memory. A step whose
loss or image is not finite leaves that item where it was; it then starts again from
there once, with an empty memory (and, for Adam and unit steps, half the step), and
if that fails too it stops for good (``"failed"`` in its records). Each item's
lowest-loss iterate is kept beside the current one (Adam's loss is not monotone), and
that is what a run hands back. :func:`iterate` hands out the whole state after each
chunk and resumes from it exactly (what :mod:`jaxstyle.run.checkpoint` saves).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.options import HISTORY_SIZES, LINESEARCHES
from jaxstyle.solve import lbfgs
from jaxstyle.solve.device import State, init_state, restart, run_chunk, run_step
from jaxstyle.solve.transfer import host as to_host
from jaxstyle.solve.transfer import placed_like, restored

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
        learning_rate: Adam's step size in ``x``'s units: a number, or a tuple with
            one per channel (``x``'s last axis). :func:`jaxstyle.stylize` passes
            ``Config.learning_rate`` in pixel units through the preprocessing's scale.

    Example:
        >>> Solver("jaxopt").linesearch
        'zoom'
    """

    optimizer: str = "lbfgs"
    linesearch: str | None = None
    history_size: int = 10
    learning_rate: float | tuple[float, ...] = 1e-3

    def __post_init__(self) -> None:
        if self.optimizer not in LINESEARCHES:
            raise ValueError(f"optimizer must be one of {', '.join(LINESEARCHES)}")
        if self.linesearch is None:
            object.__setattr__(self, "linesearch", LINESEARCHES[self.optimizer][0])
        if self.linesearch not in LINESEARCHES[self.optimizer]:
            raise ValueError(f"{self.optimizer} offers {', '.join(LINESEARCHES[self.optimizer])}")


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


@jax.jit
def _keep_best(best: Array, best_value: Array, x: Array, value: Array) -> tuple[Array, Array]:
    better = value < best_value  # False for NaN: a non-finite step is never the best
    take = better.reshape(better.shape + (1,) * (x.ndim - 1))
    return jnp.where(take, x, best), jnp.where(better, value, best_value)


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


class Progress(NamedTuple):
    """What :func:`iterate` yields after each chunk of iterations.

    Attributes:
        best: each item's lowest-loss iterate so far ``(B, ...)``.
        records: numpy records of the chunk's iterations, ``{"value": (n, B), "aux":
            aux with (n, B) leaves, "evaluations": (n, B), "failed": (n, B)}`` (NaN
            and 0 while an item is stopped on a failed step; ``failed`` true while it is).
        carry: the solver's whole state: :func:`iterate` resumes from it exactly
            (``resume``). Read or save it before the next chunk is asked for.
    """

    best: Array
    records: dict[str, Any]
    carry: Any


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
        return (state, x, value), records
    init = functools.partial(init_state, loss_fn=fun, solver=solver)
    return (jax.eval_shape(init, x0, shared, items), flags), records


def best_of(carry: Any) -> Any:
    """The lowest-loss iterates ``(B, ...)`` a :attr:`Progress.carry` holds."""
    return carry[1] if isinstance(carry[0], lbfgs.Carry) else carry[0].best


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
    host = jax.default_backend() == "cpu" if host is None else host
    stop = stop or (lambda: False)
    if solver.optimizer == "lbfgs":
        run = functools.partial(probe, shared=shared, items=items, loss_fn=fun)
        x0 = placed_like(x0, (shared, items))
        best, best_value = x0, jnp.full(x0.shape[:1], jnp.inf, jnp.float32)
        start = None
        if resume is not None:
            carry, best, best_value = resume
            back = restored((tuple(carry[:5]), best, best_value), x0, (shared, items))
            start = lbfgs.Carry(*back[0], *carry[5:])
            best, best_value = back[1:]
        steps: Iterator[Any] = lbfgs.minimize(
            run,
            x0,
            iterations - done,
            history_size=solver.history_size,
            linesearch=solver.linesearch,
            stop=stop,
            start=start,
        )
        records: list[dict[str, Any]] = []
        for i, step in enumerate(steps, done + 1):
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
                yield Progress(best, _stack(records), (step.carry, best, best_value))
                records = []
        if records:  # stopped early
            yield Progress(best, _stack(records), (step.carry, best, best_value))
        return
    if resume is None:
        state = init_state(x0, shared, items, fun, solver)
        restarted = np.zeros(x0.shape[0], bool)
    else:
        state = restored(resume[0], x0, (shared, items))
        restarted = np.array(resume[1], bool)

    def again(state: State) -> State:  # a failed item's one restart
        which = to_host(state.stopped) & ~restarted
        restarted[:] |= which
        return (
            restart(state, jnp.asarray(which), shared, items, fun, solver) if which.any() else state
        )

    while done < iterations and not stop():
        n = min(chunk - done % chunk, iterations - done)
        if host:
            out = []
            for _ in range(n):
                state, record = run_step(state, shared, items, fun, solver)
                out.append(record)
                state = again(state)
                if stop():
                    break
            hist = _stack(out)
            n = len(out)
        else:
            state, hist = run_chunk(state, shared, items, jnp.int32(n), fun, solver, chunk)
            hist = jax.tree.map(lambda h, n=n: h[:n], to_host(hist))
            state = again(state)
        done += n
        # Adam evaluates the iterate a step starts from: its newest iterate is a
        # candidate for the best once the next step has evaluated it.
        yield Progress(state.best, hist, (state, restarted.copy()))


def _stack(records: list[dict[str, Any]]) -> dict[str, Any]:
    return jax.tree.map(lambda *r: np.stack(r), *to_host(records))


@dataclasses.dataclass(frozen=True)
class _Plain:
    fun: Callable[[Array], tuple[Array, Any]]

    def __call__(self, x: Array, shared: Any, item: Any) -> tuple[Array, Any]:
        return self.fun(x)


def minimize(
    fun: Callable[[Array], tuple[Array, Any]],
    x0: Array,
    iterations: int,
    solver: Solver = Solver(),
) -> tuple[Array, dict[str, Any]]:
    """L-BFGS on one ``fun: x -> (loss, aux)`` from ``x0``, for ``iterations``.

    Returns:
        The lowest-loss iterate evaluated and ``{"value": (T,), "aux": (T, ...)
        leaves, "evaluations": (T,)}`` as numpy arrays.

    Example:
        >>> def f(x):
        ...     return jnp.sum((x - 3.0) ** 2), {"first": x[0]}
        >>> x, hist = minimize(f, jnp.zeros(4), 5, Solver("jaxopt"))
        >>> [round(float(v), 4) for v in x], hist["value"].shape
        ([3.0, 3.0, 3.0, 3.0], (5,))
    """
    out: list[dict[str, Any]] = []
    x = x0[None]
    for progress in iterate(_Plain(fun), x, None, None, solver, iterations):
        x = progress.best
        out.append(progress.records)
    if not out:
        return x0, {}
    merged = jax.tree.map(lambda *h: np.concatenate(h)[:, 0], *out)
    return x[0], merged
