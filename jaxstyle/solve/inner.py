"""One item's device solver: optax's and jaxopt's L-BFGS, optax's Adam, as ``init`` and ``step``.

Each is written for one item's ``fun: x -> (loss, aux)``, its line search (if any)
and update compiled into the step; :mod:`jaxstyle.solve.device` vmaps the step over a
batch and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.solve.common import Solver

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
