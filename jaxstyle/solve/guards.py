"""What every solver does per item to stay safe: keep the best iterate, restart once.

Each item's lowest-loss iterate is kept beside the current one (a loss that is not
lower, NaN included, keeps the old best): that is what a run hands back. An item
whose step fails restarts once (its memory emptied; how is the solver's), and stops
if it fails again before a step succeeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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


def restart_once(failed: np.ndarray, restarted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of the items whose step ``failed`` restart, and which stop, ``(B,)`` bools.

    ``restarted``: the items that have restarted since their last successful step.

    Example:
        >>> again, stop = restart_once(np.array([True, True, False]), np.array([False, True, True]))
        >>> again.tolist(), stop.tolist()
        ([True, False, False], [False, True, False])
    """
    return failed & ~restarted, failed & restarted
