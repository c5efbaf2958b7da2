"""L-BFGS stepped from Python: every loss+gradient evaluation is one compiled call.

Why a third L-BFGS next to optax's and jaxopt's: their line searches run inside a
compiled while loop, and XLA:CPU runs convolutions inside a while loop about 2x slower
than the same convolutions at the top level of a program (jax-ml/jax#12868). Here, as in ``torch.optim.LBFGS``, the line search's decisions
are made on the host and each trial point is evaluated by one loop-free jitted
program (``probe``); the vector algebra (two-loop recursion, memory update) is jitted
too, and only two scalars per item cross to the host per evaluation.

Algorithm (Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006):

* direction: the two-loop recursion (Alg. 7.4) with ``H0 = gamma P``,
  ``gamma = s'y / y'Py`` of the newest pair, ``P`` the identity (``precondition="none"``,
  torch's) or a spectral preconditioner (:mod:`jaxstyle.solve.precondition`); pairs with
  ``s'y <= 1e-10 y'y`` are skipped; a direction that is not a descent direction resets
  the memory to ``-P g``.
* step: ``"strong-wolfe"`` is the bracketing/zoom search of Alg. 3.5/3.6 for the
  strong Wolfe conditions (``c1 = 1e-4``, ``c2 = 0.9``) with safeguarded cubic
  interpolation (eq. 3.59), at most ``max_evals`` evaluations; the sufficient-decrease
  test and the bracketing's comparison with the previous trial allow ``1e-6 |f0|`` of
  float32 rounding (see :func:`jaxstyle.solve.linesearch.strong_wolfe`); a non-finite loss counts as too high,
  so the search shrinks the step instead of failing. ``"none"`` takes the step as is
  (torch without ``line_search_fn``), halving it only while the loss is non-finite.
* the first step (and the first after a reset) is ``1 / |P g|_1`` along ``-P g``, an
  L1 length of 1 in the input's units, so that it, and through its curvature pair every
  later step, does not depend on the loss's scale (torch and minFunc cap ``t`` at 1,
  which below ``|g|_1 = 1`` ties them to it); later ones start at ``t = 1``.

Every array has a leading batch axis ``(B, ...)``: each item keeps its own memory and
runs its own line search, in lockstep, one ``probe`` call evaluating every item at its
own trial step (an item whose search has ended is probed at ``t = 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.solve.guards import restart_once
from jaxstyle.solve.linesearch import Search, fixed_step, strong_wolfe
from jaxstyle.solve.precondition import Precondition
from jaxstyle.solve.transfer import host
from jaxstyle.solve.twoloop import Memory, direction, init_memory, push

Array = jax.Array
#: ``probe(x, d, t) -> (x + t d, f, grad f, grad f . d, aux)`` for ``(B, ...)`` ``x``
#: and ``d`` and ``(B,)`` float32 ``t``; ``f`` and ``grad f . d`` are ``(B,)``.
Probe = Callable[[Array, Array, Array], tuple[Array, Array, Array, Array, Any]]

LINESEARCHES = ("strong-wolfe", "none")


class Carry(NamedTuple):
    """What the next iteration starts from: with it, :func:`steps` resumes a run exactly.

    Attributes:
        x: ``(B, *shape)`` the iterate; ``f`` ``(B,)``, ``g`` (as ``x``) and ``aux``
            the probe's loss, gradient and aux there.
        memory: the :class:`Memory`.
        fresh: ``(B,)`` bool (numpy), the memory is empty: the next step is the short
            first step along ``-g``.
        failed: ``(B,)`` bool, stopped for good on non-finite values.
        stopped: ``(B,)`` bool, stopped (failed, or no lower loss found twice).
    """

    x: Array
    f: Array
    g: Array
    aux: Any
    memory: Memory
    fresh: np.ndarray
    failed: np.ndarray
    stopped: np.ndarray


class Step(NamedTuple):
    """One iteration's outcome for a batch (arrays on device, counts on the host).

    Attributes:
        x: ``(B, *shape)`` the iterate.
        value: ``(B,)`` the objective at ``x``.
        aux: the probe's aux at ``x``.
        evaluations: ``(B,)`` probes this iteration's line search used.
        failed: ``(B,)`` bool, the item has stopped for good on non-finite values.
        carry: the state after this iteration; its memory is updated in place by the
            next one, so read (or save) it before asking for the next step.
    """

    x: Array
    value: Array
    aux: Any
    evaluations: np.ndarray
    failed: np.ndarray
    carry: Carry


@jax.jit
def _l1(g: Array) -> Array:
    return jnp.sum(jnp.abs(g.reshape(g.shape[0], -1)), axis=1)


@jax.jit
def _select(take: Array, new: Any, old: Any) -> Any:
    def pick(a: Array, b: Array) -> Array:
        return jnp.where(take.reshape(take.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)


def steps(
    probe: Probe,
    x0: Array,
    iterations: int,
    *,
    history_size: int = 10,
    linesearch: str = "strong-wolfe",
    precondition: str = "none",
    image_hw: tuple[int, int] | None = None,
    max_evals: int = 25,
    stop: Callable[[], bool] | None = None,
    start: Carry | None = None,
) -> Iterator[Step]:
    """Runs L-BFGS from ``x0`` ``(B, *shape)``, yielding each iteration's :class:`Step`.

    ``stop`` is asked after every evaluation: once it says ``True`` the generator ends,
    the iteration in progress dropped, so the last :class:`Step` yielded is the result.
    ``start``, a :class:`Carry` a run yielded, continues that run instead (``x0`` is
    then unused): the same iterates as if it had not stopped. ``precondition`` names
    ``P`` in :data:`~jaxstyle.solve.precondition.OPERATORS` (``"spectral"`` needs
    ``x0`` ``(B, H, W, C)``; ``image_hw``: the image inside rows padded below, see
    :class:`~jaxstyle.solve.precondition.Precondition`).

    When an item's line search finds no lower loss, its memory is cleared and the
    next iteration tries steepest descent; if that fails too, the item stays where it
    is for the rest of the run (its later steps report 0 evaluations). Once every item
    has stopped, the remaining steps are yielded unchanged without evaluating.

    Example:
        >>> def probe(x, d, t):
        ...     xt = x + t[:, None] * d
        ...     f, g = jnp.sum((xt - 3.0) ** 2, axis=1), 2 * (xt - 3.0)
        ...     return xt, f, g, jnp.sum(g * d, axis=1), None
        >>> run = list(steps(probe, jnp.zeros((1, 4)), 3))
        >>> [round(float(v), 6) for v in run[-1].value]
        [0.0]
    """
    if linesearch not in LINESEARCHES:
        raise ValueError(f"linesearch must be one of {', '.join(LINESEARCHES)}, got {linesearch!r}")
    b = x0.shape[0]
    stop = stop or (lambda: False)
    p = Precondition(precondition, image_hw)
    if start is None:
        x, f, g, _, aux = probe(x0, jnp.zeros_like(x0), jnp.zeros((b,), jnp.float32))
        memory = init_memory(x, history_size)
        fresh = np.ones(b, bool)  # empty memory: take the short first step along -P g
        # A start whose loss or gradient is not finite has nowhere to go.
        failed = ~(np.isfinite(host(f)) & np.isfinite(host(_l1(g))))
        stopped = failed.copy()
    else:
        x, f, g, aux, memory = start[:5]
        fresh, failed, stopped = (np.array(a, bool) for a in start[5:])
    for _ in range(iterations):
        if stop():
            return
        if stopped.all():
            carry = Carry(x, f, g, aux, memory, fresh.copy(), failed.copy(), stopped.copy())
            yield Step(x, f, aux, np.zeros(b, np.int64), failed.copy(), carry)
            continue
        d, gtd_dev, descent, d_l1, d_inf = direction(memory, g, p)
        reset = ~host(descent)
        fresh |= reset
        f_host, gtd = host(f).astype(np.float64), host(gtd_dev).astype(np.float64)
        first = 1.0 / np.maximum(host(d_l1).astype(np.float64), 1e-30)
        # torch's tolerance_change: a bracket this narrow moves no pixel by 1e-9.
        min_width = 1e-9 / np.maximum(host(d_inf).astype(np.float64), 1e-30)
        trial = np.zeros(b)
        # item -> its line search, or None once it only waits for a re-probe of the
        # step it accepted (when that was not its last trial).
        pending: dict[int, Search | None] = {}
        for i in map(int, np.flatnonzero(~stopped)):
            t0 = float(first[i]) if fresh[i] else 1.0
            search = (
                strong_wolfe(
                    float(f_host[i]),
                    float(gtd[i]),
                    t0,
                    max_evals=max_evals,
                    min_width=float(min_width[i]),
                )
                if linesearch == "strong-wolfe"
                else fixed_step(t0, max_evals=max_evals)
            )
            trial[i] = next(search)
            pending[i] = search
        evals = np.zeros(b, np.int64)
        lost = np.zeros(b, bool)  # no lower loss along d
        odd = np.zeros(b, bool)  # a trial's loss or slope was not finite
        best = (x, f, g, aux)
        while pending:
            xt, ft, gt, gdt, auxt = probe(x, d, jnp.asarray(trial, jnp.float32))
            ft_host, gdt_host = host(ft).astype(np.float64), host(gdt).astype(np.float64)
            if stop():
                return
            # A non-finite loss or slope (NaN or Inf in the gradient) is a step too
            # far: the search shrinks it.
            bad = ~(np.isfinite(ft_host) & np.isfinite(gdt_host))
            ft_host = np.where(bad, np.inf, ft_host)
            take = np.zeros(b, bool)
            for i, search in list(pending.items()):
                evals[i] += 1
                if search is None:
                    take[i] = True
                    continue
                odd[i] |= bad[i]
                try:
                    trial[i] = search.send((float(ft_host[i]), float(gdt_host[i])))
                    continue
                except StopIteration as done:
                    t = done.value
                if t == trial[i]:
                    take[i] = True
                elif t == 0.0:
                    lost[i] = True
                else:
                    pending[i] = None
                    trial[i] = t
            for i in np.flatnonzero(take | lost):
                pending.pop(int(i), None)
                trial[i] = 0.0  # done: later probes of this round leave it in place
            if take.any():
                best = _select(jnp.asarray(take), (xt, ft, gt, auxt), best)
        # No lower loss along this direction: retry once from steepest descent with
        # an empty memory and a short first step; stop the item if that was already
        # the case (for good, as failed, if its trials were not finite).
        clear, give_up = restart_once(lost, fresh)
        failed |= give_up & odd
        stopped |= give_up
        new_x, new_f, new_g, new_aux = best
        memory = push(memory, new_x - x, new_g - g, jnp.asarray(reset | clear), p)
        x, f, g, aux = new_x, new_f, new_g, new_aux
        fresh = clear
        carry = Carry(x, f, g, aux, memory, fresh.copy(), failed.copy(), stopped.copy())
        yield Step(x, f, aux, evals, failed.copy(), carry)
