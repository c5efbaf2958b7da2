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

from benchmarks.objective import first_reach
from benchmarks.provenance import load_average, utc_now
from benchmarks.race_report import markdown, race_ratios, race_summary, speed_summary
from benchmarks.worker import use_code
from jaxstyle.cache import atomic_write

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
        text = json.dumps(report, indent=1) + "\n"
        atomic_write(args.json, lambda t: Path(t).write_text(text))
        atomic_write(args.json.with_suffix(".md"), lambda t: Path(t).write_text(markdown(report)))

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
