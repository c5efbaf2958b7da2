"""The device solvers over a batch (:mod:`jaxstyle.solve.inner`'s, vmapped), and their loop.

:func:`run_step` and :func:`run_chunk` vmap one item's step over a batch and run it,
one step per call (on a CPU) or ``chunk`` steps in a ``lax.fori_loop`` on the device,
with each item's lowest-loss iterate kept in the :class:`State`; :func:`run` is the
loop that yields a :class:`~jaxstyle.solve.common.Progress` per chunk and restarts a
failed item (:mod:`jaxstyle.solve.guards`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.solve.common import Fun, Progress, Solver
from jaxstyle.solve.guards import keep_best, restart_once
from jaxstyle.solve.inner import device_solver
from jaxstyle.solve.transfer import host, restored, stacked

Array = jax.Array


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


def _bind(fun: Callable[..., Any], shared: Any, item: Any) -> Callable[[Array], tuple[Array, Any]]:
    return lambda x: fun(x, shared, item)


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"))
def init_state(
    x0: Array, shared: Any, items: Any, loss_fn: Callable[..., Any], solver: Solver
) -> State:
    """The device solver's state at ``x0`` ``(B, ...)`` (optax or jaxopt)."""

    def one(x: Array, item: Any) -> Any:
        return device_solver(_bind(loss_fn, shared, item), solver).init(x)

    inner = jax.vmap(one)(x0, items)
    b = x0.shape[:1]
    inf, one = jnp.full(b, jnp.inf, jnp.float32), jnp.ones(b, jnp.float32)
    return State(x0, inner, jnp.zeros(b, bool), x0, inf, one)


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"), donate_argnames=("state",))
def restart(
    state: State, which: Array, shared: Any, items: Any, loss_fn: Callable[..., Any], solver: Solver
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


def _step(
    state: State, shared: Any, items: Any, loss_fn: Callable[..., Any], solver: Solver
) -> tuple[State, Any]:
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
        candidate = x if inner.at_start else new_x
        best, best_value = keep_best(best, best_value, candidate, jnp.where(ok, value, jnp.nan))
        return jnp.where(ok, new_x, x), new_s, ~ok, best, best_value, scale, record

    *carry, record = jax.vmap(one)(*state, items)
    return State(*carry), record


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"), donate_argnames=("state",))
def run_step(
    state: State, shared: Any, items: Any, loss_fn: Callable[..., Any], solver: Solver
) -> tuple[State, Any]:
    """One iteration of every item, compiled without a loop (how a CPU runs them)."""
    return _step(state, shared, items, loss_fn, solver)


@functools.partial(
    jax.jit, static_argnames=("loss_fn", "solver", "chunk"), donate_argnames=("state",)
)
def run_chunk(
    state: State,
    shared: Any,
    items: Any,
    steps: Array,
    loss_fn: Callable[..., Any],
    solver: Solver,
    chunk: int,
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


class DeviceCarry(NamedTuple):
    """The device loop's whole state: the solvers' :class:`State` and which items restarted."""

    state: State
    restarted: Any

    @property
    def best(self) -> Array:
        return self.state.best


def run(
    fun: Fun,
    x0: Array,
    shared: Any,
    items: Any,
    solver: Solver,
    iterations: int,
    *,
    chunk: int,
    on_host: bool,
    stop: Callable[[], bool],
    resume: DeviceCarry | None,
    done: int,
) -> Iterator[Progress]:
    """:func:`jaxstyle.solve.solvers.iterate` for the device solvers: a :class:`Progress`
    per chunk; ``on_host`` steps them one compiled iteration at a time."""
    if resume is None:
        state = init_state(x0, shared, items, fun, solver)
        restarted = np.zeros(x0.shape[0], bool)
    else:
        state = restored(resume[0], x0, (shared, items))
        restarted = np.array(resume[1], bool)

    def again(state: State, succeeded: np.ndarray | None = None) -> State:
        """The failed items restarted once; ``succeeded``: items with a successful step
        since the last call (default: the last step's)."""
        stopped = host(state.stopped)
        restarted[:] &= stopped if succeeded is None else ~succeeded
        which, _ = restart_once(stopped, restarted)
        restarted[:] |= which
        return (
            restart(state, jnp.asarray(which), shared, items, fun, solver) if which.any() else state
        )

    while done < iterations and not stop():
        n = min(chunk - done % chunk, iterations - done)
        if on_host:
            out = []
            for _ in range(n):
                state, record = run_step(state, shared, items, fun, solver)
                out.append(record)
                state = again(state)
                if stop():
                    break
            hist = stacked(out)
            n = len(out)
        else:
            state, hist = run_chunk(state, shared, items, jnp.int32(n), fun, solver, chunk)
            hist = jax.tree.map(lambda h, n=n: h[:n], host(hist))
            state = again(state, ~np.all(hist["failed"], axis=0))
        done += n
        # Adam evaluates the iterate a step starts from: its newest iterate is a
        # candidate for the best once the next step has evaluated it.
        yield Progress(state.best, hist, DeviceCarry(state, restarted.copy()))
