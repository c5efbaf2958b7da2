"""What both sides of a benchmark minimise, and when a race stops: shared by the workers.

The objective is the paper's (``weighting="paper"``, ratio 1e-3) unless the run's
``--config`` says ``weighting=authors`` (jaxstyle's default, ratio 6e-3).
"""

from __future__ import annotations

from typing import Any

#: Adam's step in [0, 1] pixel units, both sides (jaxstyle's default learning_rate).
ADAM_RATE = 0.05

#: The ratio each weighting takes when ``--config`` names none, both sides (jaxstyle's
#: ``DEFAULT_RATIOS``; written here so that an older jaxstyle gets the same objective).
RATIOS = {"paper": 1e-3, "authors": 6e-3}


def objective_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """``weighting`` (default ``"paper"``) and its ``ratio`` unless ``overrides`` sets
    the weights: the objective both sides minimise."""
    weighting = overrides.get("weighting", "paper")
    if weighting not in RATIOS:
        raise SystemExit(f"weighting must be one of {sorted(RATIOS)}, not {weighting!r}")
    explicit = "ratio" in overrides or "content_weight" in overrides
    return {"weighting": weighting, **({} if explicit else {"ratio": RATIOS[weighting]})}


class Reached(Exception):
    """Raised from inside a run once its loss is at most ``--target-loss``: the race
    needs the time to the target, not the rest of the run."""


def first_reach(
    times: list[float],
    losses: list[float],
    target: float,
    evaluations: list[int] | None = None,
    start_evaluations: int = 0,
) -> dict | None:
    """The first iteration (1-based) and time at which ``loss <= target``, or None; with
    ``evaluations`` (per iteration) also the evaluations up to it, plus those made
    before the first iteration (L-BFGS evaluates its start; Adam's first step does)."""
    for i, (t, loss) in enumerate(zip(times, losses, strict=True)):
        if loss <= target:
            hit: dict[str, Any] = {"iteration": i + 1, "seconds": t}
            if evaluations is not None:
                hit["evaluations"] = start_evaluations + sum(evaluations[: i + 1])
            return hit
    return None
