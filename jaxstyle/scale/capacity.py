"""What fits: the bytes free, the plan a run takes there, where it goes, or a refusal.

:func:`plan` takes a run's estimate (:func:`jaxstyle.scale.memory.estimate`, from the
shapes alone) and, with ``memory="auto"``, the levers that make it fit (strips of
the first blocks, a shorter L-BFGS memory); :func:`placed` decides where a run goes
(one device, its batch split, or its rows split) against what the machine has
(:func:`available`: on a CPU the kernel's ``MemAvailable``, on a GPU/TPU the
device's free bytes), and :meth:`Placement.checked` refuses a run that would not
fit in one line naming the largest size that fits and what would make the request
fit. :func:`jaxstyle.stylize` and ``jaxstyle stylize`` call it before they resize
an image or compile.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.images.read import long_side_shape
from jaxstyle.model.layers import VGG19_WIDTHS
from jaxstyle.scale import sharding
from jaxstyle.scale.memory import Plan, estimate

#: The fewest L-BFGS pairs ``memory="auto"`` shortens the memory to.
MIN_HISTORY = 5
#: The strip counts ``memory="auto"`` tries, fewest first (:mod:`jaxstyle.loss.tiling`).
TILE_COUNTS = (2, 4, 8, 16, 32, 64)
#: The fewest rows of a strip ``memory="auto"`` tiles into (its halo is 24 rows
#: each side, so thinner strips mostly recompute their neighbours' rows).
MIN_TILE_ROWS = 128


class MemoryPlanError(ConfigError):
    """A run would not fit in memory (raised before anything is resized or compiled)."""


def available(backend: str) -> int | None:
    """Bytes a run may use now: free device memory, or on a CPU ``MemAvailable``.

    ``None`` where the backend does not say (then nothing is refused).
    """
    if backend == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def plan(hw: tuple[int, int], config: Config, *, tileable: bool = True, **kw: Any) -> Plan:
    """The plan a run takes. With ``config.memory="auto"``, where the run would not fit:
    the first blocks are tiled (where ``tiles`` was left to it and the run can be,
    ``tileable``) in the fewest strips of :data:`TILE_COUNTS` that fit, strips of no
    fewer than :data:`MIN_TILE_ROWS` rows; then the L-BFGS memory is shortened (to no
    fewer than :data:`MIN_HISTORY` pairs) where it was left to the default.

    Args:
        hw: ``(H, W)`` of the output.
        config: resolved settings (:func:`jaxstyle.resolve`).
        tileable: whether the run's terms can be tiled (not with masks, the
            Wasserstein loss or spatial sharding).
        **kw: :func:`estimate`'s keyword arguments; ``budget`` is the bytes available
            (:func:`available`), ``None`` (the default) for unknown: it fits.

    Example:
        >>> c = Config(optimizer="lbfgs", iterations=10)
        >>> [(p.tiles, p.history_size) for p in (plan((2048, 2048), c, budget=b * 2**30) for b in (24, 10, 4))]
        [(0, 21), (2, 21), (16, 17)]
        >>> plan((512, 512), c, budget=24 * 2**30).history_size
        100
    """
    first = estimate(hw, config, **kw)
    if first.fits or config.memory != "auto":
        return first
    tileable = tileable and not kw.get("spatial") and config.style_loss == "gram"
    if config.tiles is None and tileable:
        for tiles in (t for t in TILE_COUNTS if hw[0] // t >= MIN_TILE_ROWS):
            config = dataclasses.replace(config, tiles=tiles)
            first = estimate(hw, config, **kw)
            if first.fits:
                return first
    if config.history_size is not None or not first.history_size:
        return first
    shorter = first
    for history in range(first.history_size - 1, MIN_HISTORY - 1, -1):
        shorter = estimate(hw, dataclasses.replace(config, history_size=history), **kw)
        if shorter.fits:
            break
    return shorter


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run goes and its plan there (:func:`placed`).

    Attributes:
        split: ``"batch"``, ``"spatial"`` or ``None`` (one device).
        devices: the devices the run is split over (1 when not split).
        plan: its :class:`Plan` there.
        config: the resolved settings it was planned for.
        options: the :func:`plan` keyword arguments it was planned with.
    """

    split: str | None
    devices: int
    plan: Plan
    config: Config
    options: dict[str, Any]

    def checked(self) -> Plan:
        """The plan, checked (:func:`check`) unless ``config.memory="off"``.

        Raises:
            MemoryPlanError: the run would not fit.
        """
        if self.config.memory == "off":
            return self.plan
        return check(self.plan, self.config, **self.options)


def placed(
    hw: tuple[int, int],
    config: Config,
    *,
    batch: int = 1,
    styles: int = 1,
    widths: tuple[int, ...] = VGG19_WIDTHS,
    tileable: bool = True,
    backend: str | None = None,
) -> Placement:
    """Where a run of ``config`` (resolved) at ``hw`` goes, planned against what is free.

    The one memory check of :func:`jaxstyle.stylize` and ``jaxstyle stylize`` (before
    any image is resized or compiled): the placement is
    :func:`jaxstyle.scale.sharding.choose`'s over ``config.devices``; ``auto`` splits one
    image by rows only when its plan on one device does not fit. The budget is
    :func:`available` on ``backend`` (default: JAX's).

    Example:
        >>> where = placed((64, 64), Config(optimizer="adam", devices=1))
        >>> where.split, where.devices, where.checked().hw
        (None, 1, (64, 64))
    """
    if backend is None:
        import jax

        backend = jax.default_backend()
    kw: dict[str, Any] = {"styles": styles, "widths": widths, "backend": backend}
    kw.update(batch=batch, budget=available(backend), tileable=tileable)
    count = len(sharding.devices(config.devices))
    fits_one = config.memory == "off" or plan(hw, config, **kw).fits
    split = sharding.choose(config.shard, batch, count, fits_one)
    kw.update(devices=count if split else 1, spatial=split == "spatial")
    return Placement(split, kw["devices"], plan(hw, config, **kw), config, kw)


def largest_size(hw: tuple[int, int], config: Config, **kw: object) -> int:
    """The largest long side at ``hw``'s aspect ratio whose plan fits (0 if none)."""
    lo, hi = 0, 1 << 17
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan(long_side_shape(hw, mid), config, **kw).fits:  # type: ignore[arg-type]
            lo = mid
        else:
            hi = mid - 1
    return lo


def check(p: Plan, config: Config, **kw: object) -> Plan:
    """``p`` if it fits; otherwise :class:`MemoryPlanError` naming what would fit."""
    if p.fits:
        return p
    gib = 2.0**30
    lean = dataclasses.replace(config, history_size=MIN_HISTORY, memory="fixed")
    if config.optimizer != "adam":
        lean = dataclasses.replace(lean, optimizer="adam", linesearch="none")
    largest = largest_size(p.hw, config, **kw)
    fixes = []
    if not config.tiles and kw.get("tileable", True) and not kw.get("spatial"):
        for t in (t for t in TILE_COUNTS if p.hw[0] // t >= MIN_TILE_ROWS):
            if plan(p.hw, dataclasses.replace(config, tiles=t, memory="fixed"), **kw).fits:  # type: ignore[arg-type]
                fixes.append(f"--tiles {t}")
                break
    if config.optimizer != "adam" and plan(p.hw, lean, **kw).fits:  # type: ignore[arg-type]
        fixes.append("--optimizer adam")
    elif config.optimizer != "adam" and p.history_size > MIN_HISTORY:
        fixes.append(f"--history-size {MIN_HISTORY}")
    fixes.append(f"--size {largest}" if largest else "a machine with more memory")
    raise MemoryPlanError(
        f"this run needs about {p.total / gib:.1f} GiB and "
        f"{(p.budget or 0) / gib:.1f} GiB is available; the largest size that fits is "
        f"{largest} px (long side); to fit, use {' or '.join(fixes)}"
    )
