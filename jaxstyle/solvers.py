"""L-BFGS (or Adam) on any ``x -> (loss, aux)``: four solvers behind one small interface.

- ``lbfgs`` (:mod:`jaxstyle.lbfgs`): torch.optim.LBFGS's algorithm, stepped from
  Python; one compiled program per loss+gradient evaluation, the only place the loss
  is compiled. The CPU default.
- ``optax`` (``optax.lbfgs``) and ``jaxopt`` (``jaxopt.LBFGS``): line search and
  update compiled into one program, run ``chunk`` iterations at a time in a
  ``lax.fori_loop`` on the device: no host round trip per evaluation. jaxopt is the
  GPU/TPU default. ``adam`` (``optax.adam``) runs the same way, one evaluation per
  iteration and no history. On a CPU they are stepped one compiled iteration at a time instead,
  as XLA:CPU runs convolutions inside a while loop about 2x slower (jax-ml/jax#12868).

Every solver works on a batch ``(B, ...)``: the per-item function is ``jax.vmap``-ed
here, in one place, and each item has its own line search and memory. A step whose
loss or image is not finite leaves that item where it was; it then starts again from
there once, with an empty memory (and, for Adam and unit steps, half the step), and
if that fails too it stops for good (``"failed"`` in its records). Each item's
lowest-loss iterate is kept beside the current one (Adam's loss is not monotone), and
that is what a run hands back.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import lbfgs
from jaxstyle.adapters import device_solver
from jaxstyle.config import HISTORY_SIZES, LINESEARCHES
from jaxstyle.sharding import host as to_host

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
        linesearch: one of :data:`~jaxstyle.config.LINESEARCHES` for the optimizer.
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


class State(NamedTuple):
    """A device solver's carry: images ``(B, ...)``, solver states, stopped flags ``(B,)``,
    each item's lowest-loss iterate ``best`` ``(B, ...)`` with its loss ``(B,)``, and the
    factor ``scale`` ``(B,)`` on the steps of solvers without a line search."""

    x: Array
    inner: Any
    stopped: Array
    best: Array
    best_value: Array
    scale: Array


def _bind(fun: Fun, shared: Any, item: Any) -> Callable[[Array], tuple[Array, Any]]:
    return lambda x: fun(x, shared, item)


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"))
def init_state(x0: Array, shared: Any, items: Any, loss_fn: Fun, solver: Solver) -> State:
    """The device solver's state at ``x0`` ``(B, ...)`` (optax or jaxopt)."""

    def one(x: Array, item: Any) -> Any:
        return device_solver(_bind(loss_fn, shared, item), solver).init(x)

    inner = jax.vmap(one)(x0, items)
    b = x0.shape[:1]
    inf, one = jnp.full(b, jnp.inf, jnp.float32), jnp.ones(b, jnp.float32)
    return State(x0, inner, jnp.zeros(b, bool), x0, inf, one)


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"), donate_argnames=("state",))
def restart(
    state: State, which: Array, shared: Any, items: Any, loss_fn: Fun, solver: Solver
) -> State:
    """``state`` with the items ``which`` ``(B,)`` started afresh where they are, half the step."""
    fresh = init_state(state.x, shared, items, loss_fn, solver)

    def pick(new: Array, old: Array) -> Array:
        return jnp.where(which.reshape(which.shape + (1,) * (new.ndim - 1)), new, old)

    return state._replace(
        inner=jax.tree.map(pick, fresh.inner, state.inner),
        stopped=state.stopped & ~which,
        scale=jnp.where(which, state.scale / 2, state.scale),
    )


def _missing(dtype: Any) -> Any:
    """What a record holds for a stopped item: NaN, or 0 for integers."""
    return jnp.nan if jnp.issubdtype(dtype, jnp.inexact) else 0


def _step(state: State, shared: Any, items: Any, loss_fn: Fun, solver: Solver) -> tuple[State, Any]:
    def one(
        x: Array, s: Any, stopped: Array, best: Array, best_value: Array, scale: Array, item: Any
    ) -> tuple[Array, Any, Array, Array, Array, Array, Any]:
        inner = device_solver(_bind(loss_fn, shared, item), solver)
        new_x, new_s, value, aux, evals = inner.step(x, s)
        if inner.at_start:  # no line search: a restart halves the step
            new_x = x + scale * (new_x - x)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(new_x)) & ~stopped
        keep = functools.partial(jnp.where, ok)
        new_s = jax.tree.map(keep, new_s, s)
        nan = jnp.full((), jnp.nan, jnp.float32)
        record = {
            "value": jnp.where(ok, value, nan),
            "aux": jax.tree.map(lambda a: jnp.where(ok, a, _missing(a.dtype)), aux),
            "evaluations": jnp.where(ok, evals, 0).astype(jnp.int32),
            "failed": ~ok,
        }
        better = ok & (value < best_value)
        best = jnp.where(better, x if inner.at_start else new_x, best)
        best_value = jnp.where(better, value, best_value)
        return jnp.where(ok, new_x, x), new_s, ~ok, best, best_value, scale, record

    *carry, record = jax.vmap(one)(*state, items)
    return State(*carry), record


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"), donate_argnames=("state",))
def run_step(
    state: State, shared: Any, items: Any, loss_fn: Fun, solver: Solver
) -> tuple[State, Any]:
    """One iteration of every item, compiled without a loop (how a CPU runs them)."""
    return _step(state, shared, items, loss_fn, solver)


@functools.partial(
    jax.jit, static_argnames=("loss_fn", "solver", "chunk"), donate_argnames=("state",)
)
def run_chunk(
    state: State, shared: Any, items: Any, steps: Array, loss_fn: Fun, solver: Solver, chunk: int
) -> tuple[State, Any]:
    """``steps`` (<= ``chunk``, traced) iterations in one ``lax.fori_loop`` on the device.

    Returns the state and ``chunk`` records, the first ``steps`` filled.
    """
    shapes = jax.eval_shape(lambda s: _step(s, shared, items, loss_fn, solver)[1], state)
    empty = jax.tree.map(lambda a: jnp.full((chunk, *a.shape), _missing(a.dtype), a.dtype), shapes)

    def body(i: Array, carry: tuple[State, Any]) -> tuple[State, Any]:
        st, hist = carry
        st, record = _step(st, shared, items, loss_fn, solver)
        return st, jax.tree.map(lambda h, r: h.at[i].set(r), hist, record)

    return jax.lax.fori_loop(0, steps, body, (state, empty))


@jax.jit
def _keep_best(best: Array, best_value: Array, x: Array, value: Array) -> tuple[Array, Array]:
    better = value < best_value  # False for NaN: a non-finite step is never the best
    take = better.reshape(better.shape + (1,) * (x.ndim - 1))
    return jnp.where(take, x, best), jnp.where(better, value, best_value)


@functools.partial(jax.jit, static_argnames=("loss_fn",))
def probe(
    x: Array, d: Array, t: Array, shared: Any, items: Any, loss_fn: Fun
) -> tuple[Array, Array, Array, Array, Any]:
    """:data:`jaxstyle.lbfgs.Probe` of ``loss_fn``: loss and gradient at ``x + t d``, per item."""

    def one(x: Array, d: Array, t: Array, item: Any) -> tuple[Array, Array, Array, Array, Any]:
        xt = x + t * d
        (value, aux), grad = jax.value_and_grad(loss_fn, has_aux=True)(xt, shared, item)
        return xt, value, grad, jnp.vdot(grad, d, precision=jax.lax.Precision.HIGHEST), aux

    return jax.vmap(one)(x, d, t, items)


def _placed_like(x: Array, tree: Any) -> Array:
    # A committed and an uncommitted argument compile two programs: the first probe
    # takes x0, every later one a probe's output, committed where the params are.
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and leaf.committed and len(leaf.devices()) == 1:
            return jax.device_put(x, next(iter(leaf.devices())))
    return x


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
) -> Iterator[tuple[Array, dict[str, Any]]]:
    """Runs ``iterations`` of ``solver`` on a batch, yielding after every ``chunk``.

    Args:
        x0: ``(B, ...)`` starting points; ``items`` has the same leading axis.
        host: step optax/jaxopt from Python (default: on a CPU).
        stop: asked after every compiled call (an evaluation, a step, or a chunk on a
            device); once it says ``True`` the iterations done so far are yielded and
            the run ends.

    Yields:
        ``(best, records)``: each item's lowest-loss iterate so far ``(B, ...)`` and
        numpy records of the chunk's iterations, ``{"value": (n, B), "aux": aux with
        (n, B) leaves, "evaluations": (n, B), "failed": (n, B)}`` (NaN and 0 while an
        item is stopped on a failed step; ``failed`` true while it is).
    """
    host = jax.default_backend() == "cpu" if host is None else host
    stop = stop or (lambda: False)
    if solver.optimizer == "lbfgs":
        run = functools.partial(probe, shared=shared, items=items, loss_fn=fun)
        x0 = _placed_like(x0, (shared, items))
        best, best_value = x0, jnp.full(x0.shape[:1], jnp.inf, jnp.float32)
        steps: Iterator[Any] = lbfgs.minimize(
            run,
            x0,
            iterations,
            history_size=solver.history_size,
            linesearch=solver.linesearch,
            stop=stop,
        )
        records: list[dict[str, Any]] = []
        for i, step in enumerate(steps, 1):
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
                yield best, _stack(records)
                records = []
        if records:  # stopped early
            yield best, _stack(records)
        return
    state = init_state(x0, shared, items, fun, solver)
    restarted = np.zeros(x0.shape[0], bool)

    def again(state: State) -> State:  # a failed item's one restart
        which = to_host(state.stopped) & ~restarted
        restarted[:] |= which
        return (
            restart(state, jnp.asarray(which), shared, items, fun, solver) if which.any() else state
        )

    done = 0
    while done < iterations and not stop():
        n = min(chunk, iterations - done)
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
        yield state.best, hist


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
    for x_now, hist in iterate(_Plain(fun), x, None, None, solver, iterations):
        x = x_now
        out.append(hist)
    if not out:
        return x0, {}
    merged = jax.tree.map(lambda *h: np.concatenate(h)[:, 0], *out)
    return x[0], merged
