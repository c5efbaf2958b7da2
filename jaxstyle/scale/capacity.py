"""What fits: the bytes free, the levers that make a run fit there, or a refusal.

:func:`fit` takes a run's :class:`Request` (its structure and which levers it leaves
open) and, with ``memory="auto"``, pulls the levers until the estimate
(:func:`jaxstyle.scale.memory.estimate`, from the shapes alone) fits: strips of the
first blocks, then a shorter L-BFGS memory. :func:`check` refuses a run that would
not fit in one line naming the largest size that fits and what would make the
request fit. :func:`jaxstyle.plan` calls both, before any image is resized or
anything compiled. :func:`available` is what the machine has: on a CPU the kernel's
``MemAvailable``, on a GPU/TPU the device's free bytes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from jaxstyle.errors import ConfigError
from jaxstyle.images.read import long_side_shape
from jaxstyle.loss.spec import Spec
from jaxstyle.model.layers import VGG19_WIDTHS
from jaxstyle.scale.memory import Plan, estimate

#: The fewest L-BFGS pairs ``memory="auto"`` shortens the memory to.
MIN_HISTORY = 5
#: The strip counts ``memory="auto"`` tries, fewest first (:mod:`jaxstyle.loss.tiling`).
TILE_COUNTS = (2, 4, 8, 16, 32, 64)
#: The fewest rows of a strip ``memory="auto"`` tiles into (its halo is 24 rows
#: each side, so thinner strips mostly recompute their neighbours' rows).
MIN_TILE_ROWS = 128


class MemoryPlanError(ConfigError):
    """A run would not fit in memory (raised before anything is resized or compiled).

    Attributes:
        needed: the run's estimated bytes per device; ``available``: the budget.
        largest: the largest long side that fits (0: none).
        fixes: ``(setting, value)`` pairs, each of which would make the run fit
            (``"size"``: the long side); named as :class:`~jaxstyle.config.Config`'s
            settings, or with ``flags`` as ``jaxstyle stylize``'s flags.
    """

    def __init__(
        self,
        needed: int,
        available: int,
        largest: int,
        fixes: tuple[tuple[str, Any], ...],
        *,
        flags: bool = False,
    ) -> None:
        self.needed, self.available, self.largest, self.fixes = needed, available, largest, fixes
        super().__init__(self.message(flags))

    def message(self, flags: bool = False) -> str:
        """One line: what the run needs, what fits, and the fixes as settings, or with
        ``flags`` as ``jaxstyle stylize``'s flags."""
        gib = 2.0**30

        def fix(setting: str, value: Any) -> str:
            if flags:
                return f"--{setting.replace('_', '-')} {value}"
            return f"a long side of {value} px" if setting == "size" else f"{setting}={value!r}"

        named = [fix(k, v) for k, v in self.fixes]
        if not self.largest:
            named.append("a machine with more memory")
        return (
            f"this run needs about {self.needed / gib:.1f} GiB and "
            f"{self.available / gib:.1f} GiB is available; the largest size that fits is "
            f"{self.largest} px (long side); to fit, use {' or '.join(named)}"
        )


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


@dataclasses.dataclass(frozen=True)
class Request:
    """What a run asks of memory, and which levers it leaves to :func:`fit`.

    Attributes:
        spec: the objective's structure; its ``tiles`` are the user's (0: none yet).
        optimizer: the resolved optimiser.
        history: the L-BFGS memory at a size, ``(H, W) -> pairs`` (the run's rule).
        plugin: the convolution plug-in at a size, ``(H, W) -> plug-in or None``.
        batch: items in the run.
        styles: style targets per item.
        widths: the network's block widths.
        devices: devices the run is split over; ``spatial``: by rows, not items.
        budget: bytes available, ``None`` for unknown (anything fits).
        auto: ``memory="auto"``: :func:`fit` may pull the levers below.
        tileable: the run's terms can be computed by strips (:mod:`jaxstyle.loss.tiling`).
        free_tiles: the user left ``tiles`` to the plan.
        free_history: the user left ``history_size`` to the plan.
    """

    spec: Spec
    optimizer: str
    history: Callable[[tuple[int, int]], int]
    plugin: Callable[[tuple[int, int]], Any]
    batch: int = 1
    styles: int = 1
    widths: tuple[int, ...] = VGG19_WIDTHS
    devices: int = 1
    spatial: bool = False
    budget: int | None = None
    auto: bool = True
    tileable: bool = True
    free_tiles: bool = True
    free_history: bool = True

    def estimate(
        self,
        hw: tuple[int, int],
        *,
        tiles: int | None = None,
        history: int | None = None,
        optimizer: str | None = None,
    ) -> Plan:
        """The estimate at ``hw``, with a lever set (``None``: the request's own)."""
        spec = dataclasses.replace(
            self.spec,
            tiles=self.spec.tiles if tiles is None else tiles,
            kernels=self.plugin(hw),
        )
        return estimate(
            hw,
            spec,
            optimizer=optimizer or self.optimizer,
            history=self.history(hw) if history is None else history,
            batch=self.batch,
            devices=self.devices,
            widths=self.widths,
            styles=self.styles,
            budget=self.budget,
            spatial=self.spatial,
        )


def fit(hw: tuple[int, int], request: Request) -> Plan:
    """The plan a run takes at ``hw``. With ``request.auto``, where the run would not fit:
    the first blocks are tiled (where the tiles were left to it and the run can be) in
    the fewest strips of :data:`TILE_COUNTS` that fit, strips of no fewer than
    :data:`MIN_TILE_ROWS` rows; then the L-BFGS memory is shortened (to no fewer than
    :data:`MIN_HISTORY` pairs) where it was left to the default.

    Example:
        >>> r = Request(Spec(), "lbfgs", history=lambda hw: 100, plugin=lambda hw: None)
        >>> fits = [fit((2048, 2048), dataclasses.replace(r, budget=b * 2**30)) for b in (24, 16, 8)]
        >>> [(p.tiles, p.history_size) for p in fits]
        [(0, 100), (2, 100), (16, 57)]
    """
    first = request.estimate(hw)
    if first.fits or not request.auto:
        return first
    tiles = None
    if request.free_tiles and request.tileable:
        for tiles in (t for t in TILE_COUNTS if hw[0] // t >= MIN_TILE_ROWS):
            first = request.estimate(hw, tiles=tiles)
            if first.fits:
                return first
    if not request.free_history or not first.history_size:
        return first
    shorter = first
    for history in range(first.history_size - 1, MIN_HISTORY - 1, -1):
        shorter = request.estimate(hw, tiles=tiles, history=history)
        if shorter.fits:
            break
    return shorter


def largest_size(hw: tuple[int, int], request: Request) -> int:
    """The largest long side at ``hw``'s aspect ratio whose plan fits (0 if none)."""
    lo, hi = 0, 1 << 17
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fit(long_side_shape(hw, mid), request).fits:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check(p: Plan, request: Request) -> Plan:
    """``p`` if it fits; otherwise :class:`MemoryPlanError` naming what would fit.

    Raises:
        MemoryPlanError: ``p`` does not fit its budget.
    """
    if p.fits:
        return p
    largest = largest_size(p.hw, request)
    fixes: list[tuple[str, Any]] = []
    if not request.spec.tiles and request.tileable:
        for t in (t for t in TILE_COUNTS if p.hw[0] // t >= MIN_TILE_ROWS):
            if request.estimate(p.hw, tiles=t).fits:
                fixes.append(("tiles", t))
                break
    adam = request.optimizer != "adam" and request.estimate(p.hw, optimizer="adam").fits
    if adam:
        fixes.append(("optimizer", "adam"))
    elif request.optimizer != "adam" and p.history_size > MIN_HISTORY:
        fixes.append(("history_size", MIN_HISTORY))
    if largest:
        fixes.append(("size", largest))
    raise MemoryPlanError(p.total, p.budget or 0, largest, tuple(fixes))
