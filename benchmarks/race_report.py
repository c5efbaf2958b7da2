"""A race's report: summaries of its runs (medians, ranges, ratios) and its markdown page.

Pure functions of the report :mod:`benchmarks.race` writes as JSON, so a table can be
re-rendered from a saved file: ``race_report.markdown(json.load(f))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.objective import first_reach

REFERENCES = ("torch", "torch-wolfe")  # the ratios' denominators
LOOSE = 0.05  # a second target, 5 % above torch's loss, read off the same curves


def stats(xs: list[float]) -> dict[str, float] | None:
    """min, quartiles, median and max of ``xs`` (None when empty)."""
    if not xs:
        return None
    q = np.percentile(np.asarray(xs, float), [0, 25, 50, 75, 100])
    return dict(zip(("min", "q1", "median", "q3", "max"), map(float, q), strict=True))


def _ok(run: dict | None) -> dict:
    return run if run and "error" not in run else {}


def _speed(runs: list[dict], size: int, framework: str) -> list[float]:
    keep = [r for r in runs if _ok(r) and (r["size"], r["framework"]) == (size, framework)]
    return [r["seconds_per_iteration"] for r in keep]


def speed_summary(runs: list[dict]) -> list[dict]:
    """Per size and framework: median and range of seconds per iteration, with ratios."""
    out = []
    for size in sorted({r["size"] for r in runs}):
        spi = {fw: stats(_speed(runs, size, fw)) for fw in ("jax", "torch", "jax-old")}
        row: dict[str, Any] = {"size": size, "seconds_per_iteration": spi}
        for a, b in (("jax", "torch"), ("jax", "jax-old")):
            if spi[a] and spi[b]:
                row[f"{a}/{b}"] = spi[a]["median"] / spi[b]["median"]
        out.append(row)
    return out


def time_to(run: dict | None, fallback_to_end: bool = False) -> float | None:
    """Seconds to the target; with ``fallback_to_end`` (torch, whose own final loss is the
    target) the time of its last iteration if float rounding kept it just off."""
    run = _ok(run)
    if run.get("reached"):
        return run["reached"]["seconds"]
    return run["times"][-1] if fallback_to_end and run.get("times") else None


def time_to_loss(run: dict | None, loss: float) -> float | None:
    """Seconds to the first recorded loss at most ``loss`` (None if never)."""
    run = _ok(run)
    hit = first_reach(run.get("times", []), run.get("losses", []), loss)
    return hit["seconds"] if hit else None


def loose_ratio(entry: dict, fw: str) -> float | None:
    """``fw``'s time over torch's to a loss ``LOOSE`` above the target, from the curves
    (each run went on to the target itself, so the looser one is on its curve)."""
    loss = entry["target"] * (1 + LOOSE)
    mine, ref = time_to_loss(entry["runs"].get(fw), loss), time_to_loss(_torch(entry), loss)
    return mine / ref if mine is not None and ref else None


def _torch(entry: dict) -> dict:
    return entry["runs"].get("torch") or entry["pilot"]


def race_ratios(runs: dict[str, dict]) -> dict[str, float | None]:
    """Each racer's time to the target over torch's (and a jaxstyle racer's over
    torch-wolfe's), keyed ``"racer/reference"``."""
    ref = {fw: time_to(runs.get(fw), fw == "torch") for fw in REFERENCES}
    out: dict[str, float | None] = {}
    for fw in runs:
        for name, t in ref.items():
            if fw != name and (name == "torch" or fw.startswith("jax")):
                mine = time_to(runs.get(fw))
                out[f"{fw}/{name}"] = mine / t if mine is not None and t else None
    return out


def race_summary(races: list[dict]) -> list[dict]:
    """Per size, init and racer: how many seeds reached the target, and over those the
    distributions of time, iterations and evaluations to it and of the ratios."""
    out = []
    for size, init in sorted({(e["size"], e["init"]) for e in races}):
        group = [e for e in races if (e["size"], e["init"]) == (size, init)]
        racers = list(dict.fromkeys(fw for e in group for fw in sorted(e["runs"])))
        for fw in racers:
            runs = [_ok(e["runs"].get(fw)) for e in group]
            hits = [r["reached"] for r in runs if r.get("reached")]
            row: dict[str, Any] = {"size": size, "init": init, "framework": fw}
            row.update(seeds=len(group), reached=len(hits))
            row["seconds_to_target"] = stats([h["seconds"] for h in hits])
            row["iterations_to_target"] = stats([h["iteration"] for h in hits])
            row["evaluations_to_target"] = stats(
                [h["evaluations"] for h in hits if "evaluations" in h]
            )
            for name in REFERENCES:
                key = f"{fw}/{name}"
                row[key] = stats([e["ratios"][key] for e in group if e["ratios"].get(key)])
            loose = [r for e in group if (r := loose_ratio(e, fw)) is not None]
            row[f"{fw}/torch_loose"], row["reached_loose"] = stats(loose), len(loose)
            row["first_call_seconds"] = stats([r["first_call_seconds"] for r in runs if r])
            out.append(row)
    return out


def _f(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def _dist(d: dict | None) -> str:
    return "-" if d is None else " / ".join(_f(d[k]) for k in ("min", "q1", "median", "q3", "max"))


def _code(env: dict) -> str:
    dirty = {True: " (uncommitted changes)", False: "", None: " (git status unknown)"}
    return f"`{env['jaxstyle_commit']}`{dirty[env['jaxstyle_dirty']]} from `{env['jaxstyle_dir']}`"


def _flags(env: dict) -> str:
    cache = env["compilation_cache"]
    return f"- jaxstyle from `{env['jaxstyle_dir']}`: XLA_FLAGS `{env['XLA_FLAGS']}`, compilation cache `{cache}`"


def _hit(run: dict) -> str:
    if "error" in run:
        return "error"
    hit = run.get("reached")
    if not hit:
        return "-" if not run else f"not reached ({run['final_loss']:.4g})"
    return f"{hit['iteration']}, {hit.get('evaluations', '-')}, {hit['seconds']:.3g}"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def markdown(report: dict) -> str:
    """The tables, under a header naming machine, date, code, versions and command."""
    runs = report["speed"] + [r for e in report["race"] for r in (e["pilot"], *e["runs"].values())]
    envs = [r["env"] for r in runs if "env" in r]
    m = envs[0] if envs else {}
    jax_env = next((e for e in envs if "compilation_cache" in e), {})
    code = sorted({_code(e) for e in envs})
    v = m.get("versions", {})
    n = report["args"]["iterations"]
    lines = [
        "# jaxstyle against torch: seconds per iteration and time to torch's loss",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB; "
        f"jax backend {jax_env.get('backend')} ({jax_env.get('device')})",
        f"- Date (UTC): {report['started']} to {report.get('finished', '(unfinished)')}; load "
        f"average at start {report['loadavg_start']}, at end {report.get('loadavg_end', '-')}",
        f"- Commits: benchmarks `{m.get('bench_commit')}`; jaxstyle " + "; ".join(code),
        f"- Versions: jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, torch {v.get('torch')}, "
        f"numpy {v.get('numpy')}, Python {m.get('python')}",
        *sorted({_flags(e) for e in envs if "compilation_cache" in e}),
        f"- Weights: {report['weights']}",
        f"- Command: `{report['command']}`",
        "",
        "## Seconds per iteration (one loss+gradient evaluation each)",
        "",
        "jaxstyle `optimizer=lbfgs, linesearch=none` against `torch.optim.LBFGS` defaults "
        "(no line search), each timed over a whole call (targets included; jaxstyle also "
        "evaluates the start, one evaluation more) after a 2-iteration warm-up.",
        "",
        _row("size", "framework", "median s/it", "min", "max", "runs"),
        _row(*["---"] * 6),
    ]
    for row in report["speed_summary"]:
        for fw, d in row["seconds_per_iteration"].items():
            if d:
                k = len(_speed(report["speed"], row["size"], fw))
                lines.append(
                    _row(row["size"], fw, *(_f(d[q], ".4f") for q in ("median", "min", "max")), k)
                )
        ratios = ", ".join(f"{k} {_f(row[k])}" for k in ("jax/torch", "jax/jax-old") if k in row)
        lines.append(_row(row["size"], "ratio of medians", ratios or "-", "", "", ""))
    lines += [
        "",
        f"## Time to torch's loss after {n} iterations",
        "",
        f"Target: torch's loss after {n} iterations of its L-BFGS with the defaults (the "
        "seed's first run). Each racer then runs in a fresh process from the same start, "
        "after a 2-iteration warm-up (jaxstyle's compiling call, reported apart), until its "
        f"loss is at most the target or its budget ends ({n} iterations; Adam "
        f"{report['args'].get('adam_iterations') or 3 * n}); racers alternate their order "
        "from one start to the next. `jax` is jaxstyle's default optimiser for the backend, "
        "`jax-<name>` a named one; torch-wolfe is `line_search_fn=\"strong_wolfe\"`; "
        "torch-adam is `torch.optim.Adam` at jaxstyle's step, 0.05 pixel units. Evaluations "
        "include the start's. \"+5 %\": the time to a loss 5 % above the target, read "
        "off the same curves, over torch's. Cells: min / q1 / median / q3 / max over the seeds that "
        "reached the target (with `content` every seed is the same run repeated).",
        "",
        _row("size", "init", "racer", "reached", "s to target", "/ torch", "/ torch-wolfe",
             "iterations", "evaluations", "reached +5 %", "/ torch at +5 %", "first call s"),
        _row(*["---"] * 12),
    ]  # fmt: skip
    for r in report["race_summary"]:
        fw = r["framework"]
        dists = (r[k] for k in ("seconds_to_target", f"{fw}/torch", f"{fw}/torch-wolfe"))
        more = (r[k] for k in ("iterations_to_target", "evaluations_to_target"))
        reached = f"{r['reached']} of {r['seeds']}"
        loose = (f"{r['reached_loose']} of {r['seeds']}", _dist(r[f"{fw}/torch_loose"]))
        lines.append(
            _row(r["size"], r["init"], fw, reached, *map(_dist, (*dists, *more)), *loose,
                 _dist(r["first_call_seconds"]))
        )  # fmt: skip
    if any(e["runs"].get("torch", {}).get("pilot") for e in report["race"]):
        lines += ["", "torch did not race again: its row is the pilot run that set the target, "
                  "always the first process of its start."]  # fmt: skip
    if any(e["same_start"] is False for e in report["race"]):
        lines += ["", "**Starts differ** with `noise`: this jaxstyle's `stylize` takes no "
                  "`init_image`, so it drew its own noise (same distribution, other pixels)."]  # fmt: skip
    racers = list(dict.fromkeys(fw for e in report["race"] for fw in e["runs"]))
    lines += [
        "",
        "Per start: iteration, evaluations, seconds at the target.",
        "",
        _row("size", "init", "seed", "target", *racers),
        _row(*["---"] * (4 + len(racers))),
    ]
    for e in report["race"]:
        cells = [_hit(e["runs"].get(fw, {})) for fw in racers]
        lines.append(_row(e["size"], e["init"], e["seed"], f"{e['target']:.6g}", *cells))
    if report["failed"]:
        lines += ["", f"**{len(report['failed'])} torch target runs failed** (see the JSON)."]
    return "\n".join(lines) + "\n"
