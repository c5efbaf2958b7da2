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
loss or image is not finite leaves that item where it was, and it stops.
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
    """A device solver's carry: images ``(B, ...)``, solver states, stopped flags ``(B,)``."""

    x: Array
    inner: Any
    stopped: Array


def _bind(fun: Fun, shared: Any, item: Any) -> Callable[[Array], tuple[Array, Any]]:
    return lambda x: fun(x, shared, item)


@functools.partial(jax.jit, static_argnames=("loss_fn", "solver"))
def init_state(x0: Array, shared: Any, items: Any, loss_fn: Fun, solver: Solver) -> State:
    """The device solver's state at ``x0`` ``(B, ...)`` (optax or jaxopt)."""

    def one(x: Array, item: Any) -> Any:
        return device_solver(_bind(loss_fn, shared, item), solver).init(x)

    inner = jax.vmap(one)(x0, items)
    return State(x0, inner, jnp.zeros(x0.shape[:1], bool))


def _missing(dtype: Any) -> Any:
    """What a record holds for a stopped item: NaN, or 0 for integers."""
    return jnp.nan if jnp.issubdtype(dtype, jnp.inexact) else 0


def _step(state: State, shared: Any, items: Any, loss_fn: Fun, solver: Solver) -> tuple[State, Any]:
    def one(x: Array, s: Any, stopped: Array, item: Any) -> tuple[Array, Any, Array, Any]:
        new_x, new_s, value, aux, evals = device_solver(_bind(loss_fn, shared, item), solver).step(
            x, s
        )
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(new_x)) & ~stopped
        keep = functools.partial(jnp.where, ok)
        new_s = jax.tree.map(keep, new_s, s)
        nan = jnp.full((), jnp.nan, jnp.float32)
        record = {
            "value": jnp.where(ok, value, nan),
            "aux": jax.tree.map(lambda a: jnp.where(ok, a, _missing(a.dtype)), aux),
            "evaluations": jnp.where(ok, evals, 0).astype(jnp.int32),
        }
        return jnp.where(ok, new_x, x), new_s, ~ok, record

    x, inner, stopped, record = jax.vmap(one)(state.x, state.inner, state.stopped, items)
    return State(x, inner, stopped), record


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
) -> Iterator[tuple[Array, dict[str, Any]]]:
    """Runs ``iterations`` of ``solver`` on a batch, yielding after every ``chunk``.

    Args:
        x0: ``(B, ...)`` starting points; ``items`` has the same leading axis.
        host: step optax/jaxopt from Python (default: on a CPU).

    Yields:
        ``(x, records)``: the ``(B, ...)`` iterate and numpy records of the chunk's
        iterations, ``{"value": (n, B), "aux": aux with (n, B) leaves,
        "evaluations": (n, B)}`` (NaN and 0 once an item stopped on a failed step).
    """
    host = jax.default_backend() == "cpu" if host is None else host
    if solver.optimizer == "lbfgs":
        run = functools.partial(probe, shared=shared, items=items, loss_fn=fun)
        x0 = _placed_like(x0, (shared, items))
        steps: Iterator[Any] = lbfgs.minimize(
            run, x0, iterations, history_size=solver.history_size, linesearch=solver.linesearch
        )
        records: list[dict[str, Any]] = []
        for i, step in enumerate(steps, 1):
            records.append(
                {
                    "value": step.value,
                    "aux": step.aux,
                    "evaluations": step.evaluations.astype(np.int32),
                }
            )
            if i % chunk == 0 or i == iterations:
                yield step.x, _stack(records)
                records = []
        return
    state = init_state(x0, shared, items, fun, solver)
    done = 0
    while done < iterations:
        n = min(chunk, iterations - done)
        if host:
            out = []
            for _ in range(n):
                state, record = run_step(state, shared, items, fun, solver)
                out.append(record)
            hist = _stack(out)
        else:
            state, hist = run_chunk(state, shared, items, jnp.int32(n), fun, solver, chunk)
            hist = jax.tree.map(lambda h, n=n: h[:n], to_host(hist))
        done += n
        yield state.x, hist


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
        The last iterate and ``{"value": (T,), "aux": (T, ...) leaves,
        "evaluations": (T,)}`` as numpy arrays.

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
