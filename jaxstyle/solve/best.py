"""Each item's lowest-loss iterate, kept beside the current one: what a run hands back.

One rule for every solver (a loss that is not lower, NaN included, keeps the old
best), per item or over a batch's leading axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def keep_best(best: Array, best_value: Array, x: Array, value: Array) -> tuple[Array, Array]:
    """``(best, best_value)`` with ``x`` taken where ``value`` is lower.

    ``value`` and ``best_value`` are ``()`` or ``(B,)``; ``x`` and ``best`` have them as
    leading axes.

    Example:
        >>> best, v = keep_best(jnp.zeros((2, 3)), jnp.array([1.0, 1.0]), jnp.ones((2, 3)), jnp.array([0.5, jnp.nan]))
        >>> best[:, 0].tolist(), v.tolist()
        ([1.0, 0.0], [0.5, 1.0])
    """
    better = value < best_value  # False for NaN: a non-finite step is never the best
    take = better.reshape(better.shape + (1,) * (x.ndim - better.ndim))
    return jnp.where(take, x, best), jnp.where(better, value, best_value)
