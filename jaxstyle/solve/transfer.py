"""Moving a solver's arrays between the host and the devices they are placed on.

Internal to :mod:`jaxstyle.solve`; the placement itself is :mod:`jaxstyle.scale.sharding`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def restored(arrays: Any, x0: Array, tree: Any) -> Any:
    """Saved arrays back on the devices: those of ``x0``'s shape placed (sharded) like it."""

    def one(a: Any) -> Array:
        a = jnp.asarray(a)
        if isinstance(x0, jax.Array) and x0.committed and a.shape == x0.shape:
            return jax.device_put(a, x0.sharding)
        return placed_like(a, tree)

    return jax.tree.map(one, arrays)


def placed_like(x: Array, tree: Any) -> Array:
    """``x`` on the one device ``tree``'s committed arrays are on (as is, otherwise).

    A committed and an uncommitted argument compile two programs: the first call of a
    loop would take ``x0``, every later one an output, committed where the params are.
    """
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and leaf.committed and len(leaf.devices()) == 1:
            return jax.device_put(x, next(iter(leaf.devices())))
    return x


def host(tree: Any) -> Any:
    """``tree`` as numpy arrays on this host, also when its arrays span other processes.

    A leaf split over devices of other processes is gathered from all of them
    (``multihost_utils.process_allgather``); every process gets the whole value.
    """

    def one(a: Any) -> np.ndarray:
        if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree.map(one, tree)


def stacked(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-iteration records on this host, stacked along a new leading axis."""
    return jax.tree.map(lambda *r: np.stack(r), *host(records))
