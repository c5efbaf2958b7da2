"""jaxstyle against torch in fresh, alternated worker processes: speed and time to quality.

    python -m benchmarks.race --weights W.npz --sizes 128 --seeds 0-7 --inits noise,content \\
        --iterations 100 --frameworks jax,torch,torch-wolfe --speed-rounds 3 \\
        --speed-iterations 40 --json benchmarks/results/cpu_race.json [--old-code DIR]
    python -m benchmarks.race --quick --json /tmp/race_quick.json    # CI: proves it runs

Every number comes from one ``benchmarks.worker`` process (see its docstring for what
each job times), the frameworks' order flipping from one round (or race) to the next so
that load on the machine hits each alike.

* speed: ``--speed-rounds`` rounds per size of jax and torch (and ``jax-old``, the same
  jax worker importing jaxstyle from ``--old-code DIR``, e.g. a git worktree of an older
  commit) with one loss+gradient evaluation per iteration; median and range of the
  seconds per iteration, and the ratios of the medians.
* race: per size, init and seed, torch's L-BFGS (defaults) runs ``--iterations``
  first; its final loss is the target. Then each racer (:data:`RACERS`, or
  ``jax-<optimizer>-<linesearch>``) runs, alternated, until its loss is at most the
  target or its budget ends (``--iterations``; Adam ``--adam-iterations``), and we take
  the first time it got there (the same rule for all, torch included: without a line
  search torch's loss can dip below its final one earlier). Ratios: each racer's time
  over torch's (a jaxstyle racer's also over torch-wolfe's), and the same to a loss 5 %
  above the target, read off the curves; per init, their distribution over the seeds,
  with iterations and evaluations to the target. Without ``torch`` among the racers,
  the pilot is torch's run. ``--config`` applies to both sides (``weighting=authors``
  for the default objective); ``--torch-loss-scale`` only to torch (see the worker).

Writes ``--json`` and the same name with ``.md``, atomically, after every process.
Without ``--weights`` a random VGG19 of the real shapes (seed 0, Caffe preprocessing)
is written to a temporary directory: fine for speed, but the race then measures the
optimisers on a random network's loss, not on a real one's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.worker import first_reach, load_average, use_code, utc_now

REPO = Path(__file__).resolve().parents[1]
SLIM = (8, 16, 16, 24, 24)  # --quick's network: the real depth, narrow layers
#: Who can race: jaxstyle with its backend's default optimiser (``jax``) or a named one
#: (``jax-<optimizer>``, also ``jax-<optimizer>-<linesearch>``, either with
#: ``@<precondition>``, e.g. ``jax-lbfgs@none``: :func:`racer`), torch's
#: L-BFGS with its defaults and with strong Wolfe, torch's Adam.
RACERS = (
    "jax",
    "jax-lbfgs",
    "jax-jaxopt",
    "jax-optax",
    "jax-adam",
    "torch",
    "torch-wolfe",
    "torch-adam",
)
OPTIMIZERS = ("lbfgs", "jaxopt", "optax", "adam")
PRECONDITIONS = ("spectral", "none")
REFERENCES = ("torch", "torch-wolfe")  # the ratios' denominators
LOOSE = 0.05  # a second target, 5 % above torch's loss, read off the same curves


def racer(name: str) -> bool:
    """Whether ``name`` can race: one of :data:`RACERS`, or ``jax-<optimizer>-<linesearch>``
    (e.g. ``jax-lbfgs-none``), either with ``@<precondition>`` (``jax-lbfgs@none``)."""
    name, at, precondition = name.partition("@")
    optimizer = name.removeprefix("jax-").partition("-")[0]
    if at and not (name.startswith("jax-") and precondition in PRECONDITIONS):
        return False
    return name in RACERS or (name.startswith("jax-") and optimizer in OPTIMIZERS)


def make_weights(path: str, slim: bool) -> None:
    """Writes random He-initialised VGG19 weights (run in a child: it imports jax)."""
    use_code()
    import jax

    import jaxstyle

    params = jaxstyle.init_params(jax.random.key(0), *((SLIM,) if slim else ()))
    note = "random He-initialised VGG19 for benchmarks (benchmarks/race.py)"
    meta = jaxstyle.WeightsMeta("random", jaxstyle.CAFFE, info={"note": note})
    jaxstyle.save_weights(path, params, meta)


def ensure_weights(path: str) -> None:
    """The random full-size VGG19 at ``path``, written first (with its folder) if absent."""
    if not Path(path).exists():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        make_weights(path, slim=False)


def parse_seeds(text: str) -> list[int]:
    """``"0-7"`` or ``"0,3,5"`` -> a list of seeds."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def worker(args: argparse.Namespace, framework: str, job: str, size: int, **kw: Any) -> dict:
    """One fresh ``benchmarks.worker`` process, run from this checkout; its JSON result."""
    env, config = dict(os.environ), args.config
    if framework == "jax-old":
        env["JAXSTYLE_CODE"] = str(Path(args.old_code).resolve())
    elif framework.startswith("jax-"):  # jax-<optimizer>[-<linesearch>][@<precondition>]
        name, _, precondition = framework[4:].partition("@")
        optimizer, _, search = name.partition("-")
        more = f"optimizer={optimizer}" + (f",linesearch={search}" if search else "")
        more += f",precondition={precondition}" if precondition else ""
        config = ",".join(filter(None, (config, more)))
    cmd = [sys.executable, "-m", "benchmarks.worker", "--job", job, "--size", str(size)]
    cmd += ["--framework", "jax" if framework.startswith("jax") else framework]
    cmd += ["--weights", args.weights, "--config", config]
    if framework.startswith("torch"):
        cmd += ["--torch-loss-scale", repr(args.torch_loss_scale)]
    for key, value in kw.items():  # repr: a float target loss round-trips exactly
        cmd += [
            f"--{key.replace('_', '-')}",
            repr(value) if isinstance(value, float) else str(value),
        ]
    print(f"[race] {framework} {job} size {size} {kw}", file=sys.stderr, flush=True)
    try:
        out = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.timeout
        )
        lines = out.stdout.strip().splitlines()
        result = json.loads(lines[-1]) if out.returncode == 0 and lines else None
        error = out.stderr.strip()[-2000:] or f"exit {out.returncode}"
    except subprocess.TimeoutExpired:
        result, error = None, f"timed out after {args.timeout} s"
    if result is None:
        print(f"[race] FAILED: {error}", file=sys.stderr)
        return {"framework": framework, "job": job, "size": size, **kw, "error": error}
    return {**result, "framework": framework}


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


def write(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    """Runs the speed rounds and the races, writing JSON and markdown as it goes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="jaxstyle .npz; default: random real-shape VGG19")
    p.add_argument("--sizes", default="128")
    p.add_argument("--seeds", default="0-7")
    p.add_argument("--inits", default="noise,content")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument(
        "--torch-loss-scale", type=float, default=1.0,
        help="torch minimises this times the loss (see benchmarks.worker)",
    )  # fmt: skip
    p.add_argument("--adam-iterations", type=int, help="Adam's budget (default 3x --iterations)")
    p.add_argument("--frameworks", default="jax,torch,torch-wolfe")
    p.add_argument("--speed-rounds", type=int, default=3)
    p.add_argument("--speed-iterations", type=int, default=40)
    p.add_argument("--config", default="", help="jaxstyle.Config overrides, key=value,...")
    p.add_argument("--old-code", help="a checkout of older jaxstyle: adds jax-old to speed")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per worker")
    p.add_argument("--quick", action="store_true", help="CI: size 32, 2 seeds, 5 iterations")
    p.add_argument("--json", type=Path)
    p.add_argument("--make-weights", help=argparse.SUPPRESS)
    p.add_argument("--slim", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make_weights:
        return make_weights(args.make_weights, args.slim)
    if args.json is None:
        p.error("--json is required")
    if args.quick:
        args.sizes, args.seeds, args.iterations = "32", "0-1", 5
        args.speed_rounds, args.speed_iterations, args.inits = 1, 5, args.inits.split(",")[0]
    frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = sorted(f for f in frameworks if not (racer(f) or f == "jax-old"))
    if unknown:  # before any process runs
        p.error(
            f"unknown frameworks {unknown}; known: {', '.join(RACERS)} or jax-<optimizer>-<linesearch>"
        )
    args.adam_iterations = args.adam_iterations or 3 * args.iterations
    report: dict[str, Any] = {
        "command": "python -m benchmarks.race " + shlex.join(sys.argv[1:] if argv is None else argv),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "started": utc_now(), "loadavg_start": load_average(), "speed": [], "race": [], "failed": [],
    }  # fmt: skip
    tmp = None
    if args.weights is None:
        tmp = tempfile.mkdtemp(prefix="jaxstyle-race-")
        args.weights = str(Path(tmp) / "vgg19-random.npz")
        cmd = [sys.executable, "-m", "benchmarks.race", "--make-weights", args.weights]
        subprocess.run(cmd + (["--slim"] if args.quick else []), cwd=REPO, check=True)
        kind = f"narrow {SLIM}" if args.quick else "real-shape"
        report["weights"] = f"random {kind} VGG19 (seed 0, Caffe preprocessing) in a temporary file"
    else:
        report["weights"] = f"`{args.weights}`"

    def save() -> None:
        report["speed_summary"] = speed_summary(report["speed"])
        report["race_summary"] = race_summary(report["race"])
        write(args.json, json.dumps(report, indent=1) + "\n")
        write(args.json.with_suffix(".md"), markdown(report))

    try:
        sizes, flip = [int(s) for s in args.sizes.split(",")], 0
        speed_names = [f for f in ("jax", "torch") if f in frameworks]
        speed_names += ["jax-old"] if args.old_code else []
        for size in sizes:
            for r in range(args.speed_rounds):
                for fw in speed_names if r % 2 == 0 else speed_names[::-1]:
                    run = worker(args, fw, "speed", size, iterations=args.speed_iterations)
                    report["speed"].append({**run, "round": r})
                    save()
        racers = [f for f in frameworks if racer(f)]
        inits = [i for i in args.inits.split(",") if i]
        for size in sizes:  # seed by seed, both starts each: a stopped run still has both
            for seed in parse_seeds(args.seeds):
                for init in inits:
                    kw = {"iterations": args.iterations, "seed": seed, "init": init}
                    pilot = worker(args, "torch", "race", size, **kw)
                    if "error" in pilot:
                        report["failed"].append(pilot)
                        continue
                    target = pilot["final_loss"]
                    entry = dict(size=size, init=init, seed=seed, target=target, pilot=pilot)
                    order = racers if flip % 2 == 0 else racers[::-1]
                    flip += 1
                    entry["runs"] = {}
                    if "torch" not in racers:  # the pilot is torch's run, reported as such
                        counts = {k: pilot[k] for k in ("evaluations", "start_evaluations")}
                        hit = first_reach(pilot["times"], pilot["losses"], target, **counts)
                        entry["runs"]["torch"] = {**pilot, "reached": hit, "pilot": True}
                    for fw in order:
                        n = args.adam_iterations if fw.endswith("adam") else args.iterations
                        more = {"iterations": n, "target_loss": target}
                        entry["runs"][fw] = worker(args, fw, "race", size, **{**kw, **more})
                    jax_runs = [r for fw, r in entry["runs"].items() if fw.startswith("jax")]
                    entry["same_start"] = all(r.get("same_start", True) for r in jax_runs)
                    entry["ratios"] = race_ratios(entry["runs"])
                    report["race"].append(entry)
                    save()
        report.update(finished=utc_now(), loadavg_end=load_average())
        save()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(args.json.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
