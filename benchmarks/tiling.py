"""What strips cost in time: seconds per evaluation with the first blocks tiled or not.

    python -m benchmarks.tiling --sizes 512,1024 --tiles 0,4,16 --rounds 3 \\
        --json benchmarks/results/cpu_tiling.json --markdown benchmarks/results/cpu_tiling.md

Each run is the worker's ``speed`` job (:mod:`benchmarks.worker`: L-BFGS without a line
search, so one loss+gradient evaluation per iteration, timed over a whole call after a
2-iteration warm-up) with ``tiles=N,memory=off`` (:mod:`jaxstyle.loss.tiling`), in its own
fresh process; within a round the strip counts run in an order rotated by one each
round, so that a slow spell of the machine does not fall on one setting. Square crops
of the photo, a random VGG19 of the real shapes, the paper's layers, content start.
Each row also gives the process's peak RSS (compilation included), so the table reads
as time paid against memory saved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.provenance import environment, load_average, measured_on, utc_now
from benchmarks.race import ensure_weights
from jaxstyle.cache import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def run(args: argparse.Namespace, size: int, tiles: int) -> dict[str, Any]:
    """One fresh worker process: the speed job at ``size`` with ``tiles`` strips."""
    cmd = [sys.executable, "-m", "benchmarks.worker", "--framework", "jax", "--job", "speed"]
    cmd += ["--size", str(size), "--aspect", "1:1", "--iterations", str(args.iterations)]
    cmd += ["--weights", args.weights, "--init", "content"]
    cmd += ["--config", f"tiles={tiles},memory=off"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return {"size": size, "tiles": tiles, "failed": tail[0]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    keep = ("shape", "seconds_per_iteration", "first_call_seconds", "peak_rss_kib", "env")
    return {"size": size, "tiles": tiles, **{k: out[k] for k in keep if k in out}}


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median, min and max seconds per iteration per (size, tiles), and the ratio to 0."""
    rows = []
    for size in sorted({r["size"] for r in runs}):
        base = None
        for tiles in sorted({r["tiles"] for r in runs if r["size"] == size}):
            ok = [r for r in runs if r["size"] == size and r["tiles"] == tiles and "env" in r]
            if not ok:
                continue
            spi = [r["seconds_per_iteration"] for r in ok]
            median = statistics.median(spi)
            base = median if tiles == 0 else base
            rows.append(
                {
                    "size": size,
                    "tiles": tiles,
                    "median": median,
                    "min": min(spi),
                    "max": max(spi),
                    "runs": len(ok),
                    "ratio": None if base is None else median / base,
                    "peak_rss_gib": statistics.median(r["peak_rss_kib"] for r in ok) / 2**20,
                    "first_call": statistics.median(r["first_call_seconds"] for r in ok),
                }
            )
    return rows


def markdown(report: dict[str, Any]) -> str:
    env = report["env"]
    when = f"{report['started'][:16]} to {report['ended'][:16]} UTC"
    lines = [
        "# Strips of the first blocks: seconds per evaluation (CPU)",
        "",
        f"{measured_on(env, when)}. "
        f"Load average at start {report['load_start']}, at end {report['load_end']}. "
        f"`{report['command']}` (benchmarks/tiling.py): L-BFGS without a line search (one "
        f"loss+gradient evaluation per iteration), {report['iterations']} iterations after a "
        "2-iteration warm-up, each run a fresh process, the strip counts alternated; square "
        "crops, random real-shape VGG19, the paper's layers, float32, the CPU convolution "
        "plug-in where it applies (`convolution=auto`). Peak RSS: the whole process, "
        "compilation included.",
        "",
        "| size | tiles | median s/it | min | max | runs | time vs. no tiles | peak RSS GiB "
        "| first call s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(
            f"| {r['size']}² | {r['tiles'] or 'off'} | {r['median']:.3f} | {r['min']:.3f} | "
            f"{r['max']:.3f} | {r['runs']} | {ratio} | {r['peak_rss_gib']:.2f} | "
            f"{r['first_call']:.1f} |"
        )
    failed = [r for r in report["runs"] if "failed" in r]
    lines += [f"- {r['size']}², tiles {r['tiles']}: failed: {r['failed']}" for r in failed]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="512,1024")
    p.add_argument("--tiles", default="0,4,16")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--weights", default="/tmp/jaxstyle-bench/vgg19-random.npz")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    ensure_weights(args.weights)
    started, load_start = utc_now(), load_average()
    counts = [int(t) for t in args.tiles.split(",")]
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        for r in range(args.rounds):
            for tiles in counts[r % len(counts) :] + counts[: r % len(counts)]:
                runs.append(run(args, size, tiles))
                shown = {k: v for k, v in runs[-1].items() if k != "env"}
                print(json.dumps(shown), flush=True)
    env = next((r["env"] for r in runs if "env" in r), environment(ROOT / "jaxstyle", True))
    report = {
        "env": env,
        "started": started,
        "ended": utc_now(),
        "load_start": load_start,
        "load_end": load_average(),
        "command": "python -m benchmarks.tiling "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "iterations": args.iterations,
        "runs": runs,
        "summary": summary(runs),
    }
    text = markdown(report)
    print(text)
    if args.json:
        atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(report, indent=1) + "\n"))
    if args.markdown:
        atomic_write(args.markdown, lambda t: Path(t).write_text(text))


if __name__ == "__main__":
    main()
