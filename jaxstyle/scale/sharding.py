"""Where a run's arrays live: one device, or split over several by batch or by rows.

Sharding is placement, not a second code path: :func:`jaxstyle.stylize` builds the
same arrays and calls the same compiled programs, and only puts the arrays on a
:class:`jax.sharding.Mesh` first; XLA's SPMD partitioner splits the program to match.

- ``batch``: the items are split over the devices (data parallel); the params are
  replicated. A batch that does not divide evenly is padded with copies of its last
  item, whose results are dropped.
- ``spatial``: every image is split by rows (:func:`rows`); the partitioner
  exchanges the convolutions' halos and reduces the Grams and losses across devices.
- ``auto``: ``batch`` when there is more than one item, otherwise one device unless
  the image does not fit on one (then ``spatial``).

Across hosts (``jax.distributed.initialize()`` first) the mesh spans every process's
devices and each process runs the same program; see docs/scale.md.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxstyle.errors import ConfigError
from jaxstyle.loss.spec import Spec
from jaxstyle.model.layers import pools_before

Array = jax.Array

#: The mesh axis every placement splits over.
AXIS = "devices"


def devices(count: int | None) -> list[jax.Device]:
    """The first ``count`` devices of the run (``None``: all, over every process).

    Example:
        >>> len(devices(None)) == jax.device_count()
        True
    """
    every = jax.devices()
    if count is None:
        return every
    if not 1 <= count <= len(every):
        raise ConfigError(f"devices must be between 1 and {len(every)} here, got {count}")
    return every[:count]


def choose(shard: str, batch: int, count: int, fits_one: bool) -> str | None:
    """The placement of a run: ``"batch"``, ``"spatial"`` or ``None`` (one device).

    Example:
        >>> choose("auto", 16, 8, True), choose("auto", 1, 8, True), choose("auto", 1, 8, False)
        ('batch', None, 'spatial')
    """
    if count == 1:
        return None
    if shard == "auto":
        return "batch" if batch > 1 else (None if fits_one else "spatial")
    return shard


def mesh(devs: list[jax.Device]) -> Mesh:
    """A one-axis mesh over ``devs``."""
    return Mesh(np.asarray(devs), (AXIS,))


def padded(batch: int, count: int) -> int:
    """The batch rounded up to a multiple of ``count`` devices.

    Example:
        >>> padded(16, 8), padded(5, 4), padded(1, 8)
        (16, 8, 8)
    """
    return -(-batch // count) * count


def pad_items(tree: Any, size: int) -> Any:
    """Every leaf's leading axis padded to ``size`` with copies of its last item."""

    def pad(a: Any) -> Any:
        extra = size - a.shape[0]
        if extra == 0:
            return a
        return jax.numpy.concatenate([a, jax.numpy.repeat(a[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def split_items(tree: Any, m: Mesh) -> Any:
    """``tree`` with every leaf's leading (batch) axis split over ``m``."""
    return jax.device_put(tree, NamedSharding(m, PartitionSpec(AXIS)))


def split_rows(tree: Any, m: Mesh, axis: int = 1) -> Any:
    """``tree`` with every leaf split over ``m`` along ``axis`` (rows of ``(B, H, ...)``)."""

    def put(a: Any) -> Any:
        spec = [None] * a.ndim
        spec[axis] = AXIS
        return jax.device_put(a, NamedSharding(m, PartitionSpec(*spec)))

    return jax.tree.map(put, tree)


def replicate(tree: Any, m: Mesh) -> Any:
    """``tree`` copied onto every device of ``m``."""
    return jax.device_put(tree, NamedSharding(m, PartitionSpec()))


def pad_rows(x0: Any, targets: Any, spec: Spec, count: int) -> tuple[Any, Any]:
    """A run's start and targets with their rows padded for ``count`` devices.

    The rows are padded with zeros to a multiple of ``count * 2**pools`` (every
    level's rows divide evenly); ``spec.height``, the true height (the plan's), makes
    the network zero the padding at each layer and count only the true positions.
    """
    pools = pools_before(spec.layers[-1])
    rows = -(-spec.height // (count * 2**pools)) * count * 2**pools

    def pad(a: Any, level: int) -> Any:
        extra_rows = (rows >> level) - a.shape[1]
        widths = [(0, 0)] * a.ndim
        widths[1] = (0, extra_rows)
        return jax.numpy.pad(a, widths)

    content = {k: pad(v, pools_before(k)) for k, v in targets.content.items()}
    return pad(x0, 0), targets._replace(content=content)
