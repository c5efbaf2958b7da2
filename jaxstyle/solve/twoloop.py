"""The L-BFGS memory of a batch and its two-loop recursion (:mod:`jaxstyle.solve.lbfgs`'s algebra).

A ring buffer of the last ``m`` pairs ``(s, y)`` per item; :func:`direction` is Nocedal
& Wright's Alg. 7.4 with ``H0 = gamma P`` (``P`` a
:class:`~jaxstyle.solve.precondition.Precondition`; ``gamma = s'y / y'Py`` of the
newest pair), :func:`push` stores a pair that passes the curvature test. Both are jitted and vmapped over the
batch; :func:`push` updates the buffers in place (donated).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.solve.precondition import Precondition

PLAIN = Precondition()  # H0 = gamma I

Array = jax.Array
_HIGHEST = jax.lax.Precision.HIGHEST


class Memory(NamedTuple):
    """The L-BFGS memory of a batch, a ring buffer of the last ``m`` pairs.

    Attributes:
        s: ``(B, m, *shape)`` steps ``x_{k+1} - x_k``.
        y: ``(B, m, *shape)`` gradient changes ``g_{k+1} - g_k``.
        rho: ``(B, m)`` ``1 / s'y`` (0 in a slot never written).
        newest: ``(B,)`` int32 slot of the newest pair.
        gamma: ``(B,)`` ``s'y / y'Py`` of the newest pair (1 when empty).
        count: ``(B,)`` int32 pairs stored, at most ``m``: the recursion visits only
            these, so early iterations do not read the whole (mostly empty) buffer.
    """

    s: Array
    y: Array
    rho: Array
    newest: Array
    gamma: Array
    count: Array


def init_memory(x: Array, size: int) -> Memory:
    """An empty memory of ``size`` pairs for a ``(B, *shape)`` batch of iterates."""
    b = x.shape[0]
    shape = (b, size, *x.shape[1:])
    return Memory(
        jnp.zeros(shape, x.dtype),  # two buffers: push donates and updates both in place
        jnp.zeros(shape, x.dtype),
        jnp.zeros((b, size), jnp.float32),
        jnp.zeros((b,), jnp.int32),
        jnp.ones((b,), jnp.float32),
        jnp.zeros((b,), jnp.int32),
    )


def _vdot(a: Array, b: Array) -> Array:
    # HIGHEST: on TPU (and TF32 GPUs) a default-precision dot would round to bf16/tf32.
    return jnp.vdot(a, b, precision=_HIGHEST)


def _direction_one(p: Precondition, memory: Memory, g: Array) -> tuple[Array, ...]:
    s, y, rho, newest, gamma, count = memory
    m = rho.shape[0]

    def newest_first(i: Array, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        q, alphas = carry
        j = (newest - i) % m
        a = rho[j] * _vdot(s[j], q)
        return q - a * y[j], alphas.at[j].set(a)

    q, alphas = jax.lax.fori_loop(0, count, newest_first, (g, jnp.zeros((m,), jnp.float32)))

    def oldest_first(i: Array, r: Array) -> Array:
        j = (newest + 1 - count + i) % m
        return r + s[j] * (alphas[j] - rho[j] * _vdot(y[j], r))

    d = -jax.lax.fori_loop(0, count, oldest_first, gamma * p(q))
    gtd = _vdot(g, d)
    descent = gtd < 0
    fallback = -p(g)  # P is positive definite: a descent direction
    d = jnp.where(descent, d, fallback)
    gtd = jnp.where(descent, gtd, _vdot(g, fallback))
    return d, gtd, descent, jnp.sum(jnp.abs(d)), jnp.max(jnp.abs(d))


@functools.partial(jax.jit, static_argnames="precondition")
def direction(
    memory: Memory, g: Array, precondition: Precondition = PLAIN
) -> tuple[Array, Array, Array, Array, Array]:
    """The L-BFGS search direction at gradient ``g`` ``(B, *shape)``.

    Returns:
        ``(d, g.d, descent, |d|_1, |d|_inf)``, all but ``d`` of shape ``(B,)``: ``d``
        is ``-P g`` where the recursion gave no descent direction (``descent`` false;
        the caller then resets the memory), and with an empty memory.
    """
    return jax.vmap(functools.partial(_direction_one, precondition))(memory, g)


def _push_one(precondition: Precondition, m: Memory, ds: Array, dy: Array, reset: Array) -> Memory:
    s, y, rho, newest, gamma, count = m
    gamma = jnp.where(reset, jnp.ones_like(gamma), gamma)
    count = jnp.where(reset, jnp.zeros_like(count), count)
    sy, yy, ypy = _vdot(ds, dy), _vdot(dy, dy), _vdot(dy, precondition(dy))
    # Curvature test: torch's is s'y > 1e-10, which depends on the loss's scale (tiny
    # losses never store a pair); relative to y'y it does not, and it still keeps the
    # inverse Hessian estimate positive definite.
    keep = sy > 1e-10 * yy
    slot = jnp.where(keep, (newest + 1) % rho.shape[0], newest)
    # Only the one slot is written (a select over the whole buffer would copy all of
    # it every iteration: 630 MB at 512 px with history 100).
    return Memory(
        s.at[slot].set(jnp.where(keep, ds, s[slot])),
        y.at[slot].set(jnp.where(keep, dy, y[slot])),
        rho.at[slot].set(jnp.where(keep, 1.0 / jnp.where(keep, sy, 1.0), rho[slot])),
        slot,
        jnp.where(keep, sy / jnp.where(keep, ypy, 1.0), gamma),
        jnp.where(keep, jnp.minimum(count + 1, rho.shape[0]), count),
    )


@functools.partial(jax.jit, donate_argnums=0, static_argnames="precondition")
def push(
    memory: Memory, ds: Array, dy: Array, reset: Array, precondition: Precondition = PLAIN
) -> Memory:
    """``memory`` with the pair ``(ds, dy)`` added per item (after clearing it where ``reset``).

    ``memory`` is donated: its buffers are updated in place, so do not read it after.
    ``precondition`` must be :func:`direction`'s (it scales ``gamma``).
    """
    return jax.vmap(functools.partial(_push_one, precondition))(memory, ds, dy, reset)
