"""``jaxstyle stylize``'s memory and device flags, and the plan checked before any load."""

from __future__ import annotations

import argparse

from jaxstyle import config as cfg
from jaxstyle import options
from jaxstyle.cli.args import add_choice, positive_int, whole
from jaxstyle.run.plan import RunPlan, plan
from jaxstyle.scale.capacity import MemoryPlanError


def add_scale(p: argparse.ArgumentParser) -> None:
    """The flags of memory levers, devices and the dry run."""
    add_choice(
        p,
        "--memory",
        options.MEMORY,
        "auto (default): tile the first blocks, then shorten the L-BFGS memory, if the "
        "run would not fit, and refuse it if it still does not; fixed: the settings as given, "
        "refused if they do not fit; off: no memory check",
    )
    p.add_argument(
        "--remat",
        action="store_true",
        help="recompute each VGG block in the backward pass (less activation memory on "
        "backends whose scheduler keeps it; more time)",
    )
    p.add_argument(
        "--tiles",
        type=whole,
        default=None,
        help="compute VGG19's first three blocks in N strips of rows: their memory is one "
        "strip's, for some more time (default: as many as --memory auto needs; 0: off)",
    )
    p.add_argument(
        "--devices",
        type=positive_int,
        default=None,
        help="run on the first N devices (default: all; across hosts after jax.distributed)",
    )
    add_choice(
        p,
        "--shard",
        options.SHARDS,
        "auto (default): one image on one device unless it does not fit, then split by "
        "rows; batch: items over the devices; spatial: every image split by rows",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the memory plan of the run (estimated from the shapes) and exit",
    )


def preflight(
    args: argparse.Namespace, config: cfg.Config, hw: tuple[int, int], *, styles: int, masks: bool
) -> RunPlan:
    """The run's plan, made before any image or weights are loaded: printed for
    ``--dry-run``, and refused in one line when the run would not fit.

    Raises:
        jaxstyle.scale.capacity.MemoryPlanError: the run would not fit (one line, exit 2).
    """
    made = plan(hw, config, styles=styles, regions=styles if masks else 0)
    if args.dry_run:
        print(f"plan: {made.describe()}")
    try:
        return made.checked()
    except MemoryPlanError as e:  # the same refusal, its fixes as this command's flags
        raise MemoryPlanError(e.needed, e.available, e.largest, e.fixes, flags=True) from None
