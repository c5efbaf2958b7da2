"""The device solvers behind :mod:`jaxstyle.solve.solvers`: optax's and jaxopt's L-BFGS, optax's Adam.

:func:`device_solver` is one item's solver, its line search (if any) and update
compiled into the step; :func:`run_step` and :func:`run_chunk` vmap that step over a
batch and run it, one step per call (on a CPU) or ``chunk`` steps in a
``lax.fori_loop`` on the device, with each item's lowest-loss iterate and its one
restart after a non-finite step kept in the :class:`State`.
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
from jaxstyle.solve.transfer import host, restored, stacked

Array = jax.Array


class Inner(NamedTuple):
    """One item's solver: ``init(x) -> s``, ``step(x, s) -> (x, s, loss, aux, evaluations)``.

    ``loss`` is the objective at the new ``x``, or, where ``at_start``, at the ``x``
    the step moved from (Adam and unit steps evaluate only there).
    """

    init: Callable[[Array], Any]
    step: Callable[[Array, Any], tuple[Array, Any, Array, Any, Array]]
    at_start: bool = False


def adam(fun: Callable[[Array], tuple[Array, Any]], learning_rate: Any) -> Inner:
    """``optax.adam`` on ``fun``; ``learning_rate`` a number or one per channel (last axis).

    Each step evaluates ``fun`` once, at the iterate it moves from: the value a step
    records is its starting point's.
    """
    import optax

    rate = jnp.asarray(learning_rate, jnp.float32)
    # Adam's step is scale-free per coordinate: a per-channel rate is the plain rate
    # times that channel's factor, applied after optax.adam(1).
    opt = optax.adam(1.0)

    def adam_step(x: Array, s: Any) -> tuple[Array, Any, Array, Any, Array]:
        (v, aux), g = jax.value_and_grad(fun, has_aux=True)(x)
        with jax.numpy_dtype_promotion("standard"):  # optax: python float ** int32 count
            updates, s = opt.update(g, s, x)
        scale = rate.reshape((1,) * (x.ndim - 1) + rate.shape) if rate.ndim else rate
        return x + updates * scale, s, v, aux, jnp.ones((), jnp.int32)

    return Inner(opt.init, adam_step, at_start=True)


def device_solver(fun: Callable[[Array], tuple[Array, Any]], solver: Solver) -> Inner:
    """The solver a :class:`~jaxstyle.solve.common.Solver` names (not lbfgs) on ``fun``."""
    if solver.optimizer == "adam":
        return adam(fun, solver.learning_rate)
    if solver.optimizer == "jaxopt":
        import jaxopt

        opt = jaxopt.LBFGS(
            fun=fun,
            has_aux=True,
            maxiter=1,  # update() never reads it; stylize counts the iterations
            tol=0.0,
            history_size=solver.history_size,
            linesearch=solver.linesearch,
            # jaxopt caps every step at 1 by default, and the first direction is -g:
            # with an O(1) loss on 0-255 pixels that step moves nothing. Backtracking
            # keeps the cap (it only shrinks from it, so the cap is its first trial).
            max_stepsize=1.0 if solver.linesearch == "backtracking" else 1e9,
        )

        def jaxopt_step(x: Array, s: Any) -> tuple[Array, Any, Array, Any, Array]:
            before = s.num_fun_eval
            x, s = opt.update(x, s)
            return x, s, s.value, s.aux, s.num_fun_eval - before

        return Inner(opt.init_state, jaxopt_step)

    import optax

    def value(x: Array) -> Array:
        return fun(x)[0]

    if solver.linesearch == "none":  # torch's unit steps, the first capped at length 1
        plain = optax.lbfgs(learning_rate=1.0, memory_size=solver.history_size, linesearch=None)

        def plain_step(x: Array, s: Any) -> tuple[Array, Any, Array, Any, Array]:
            (v, aux), g = jax.value_and_grad(fun, has_aux=True)(x)
            updates, s = plain.update(g, s, x)
            return optax.apply_updates(x, updates), s, v, aux, jnp.ones((), jnp.int32)

        return Inner(plain.init, plain_step, at_start=True)
    if solver.linesearch == "backtracking":
        search = optax.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True)
    else:
        search = optax.scale_by_zoom_linesearch(20, initial_guess_strategy="one")
    opt = optax.lbfgs(memory_size=solver.history_size, linesearch=search)

    def optax_init(x: Array) -> Any:
        # Seeding the line search's stored value and gradient lets every step read them
        # back instead of value_and_grad_from_state, whose lax.cond would put a second
        # copy of the network in the step (and under vmap run both branches).
        v, g = jax.value_and_grad(value)(x)
        return optax.tree.set(opt.init(x), value=v, grad=g)

    def optax_step(x: Array, s: Any) -> tuple[Array, Any, Array, Any, Array]:
        v, g = optax.tree.get(s, "value"), optax.tree.get(s, "grad")
        updates, s = opt.update(g, s, x, value=v, grad=g, value_fn=value)
        x = optax.apply_updates(x, updates)
        new_value, aux = fun(x)  # optax keeps no aux: one more forward pass
        steps = optax.tree.get(s, "num_linesearch_steps")
        return x, s, new_value, aux, jnp.asarray(steps, jnp.int32)

    return Inner(optax_init, optax_step)


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
