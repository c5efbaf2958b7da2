"""Peak memory against image size, jaxstyle and PyTorch, and the plan beside it.

    python -m benchmarks.highres --square --sizes 1024,1448,2048,4096 --torch-sizes 2896 \\
        --setting optimizer=adam,tiles=16,memory=off \\
        --json benchmarks/results/cpu_highres.json --markdown benchmarks/results/cpu_highres.md

Each run is the worker's ``memory`` job (:mod:`benchmarks.worker`) in its own fresh
process, the frameworks alternated per size: peak RSS after ``--iterations`` on the
bundled photo at the size's long side (4:3, or an ``--aspect`` crop such as 16:9 for
7680x4320), a random VGG19 of the real shapes, the paper's layers; on a GPU also the
device's peak bytes. jaxstyle runs each ``--setting`` (worker ``--config`` overrides);
PyTorch runs ``benchmarks/torch_gatys.py``'s L-BFGS with ``--torch-history`` pairs.
A PyTorch child gets an address-space limit of ``--limit-gib`` so that a size that
does not fit fails in the child instead of waking the kernel's out-of-memory killer
(``0`` on a GPU: CUDA reserves far more address space than it uses). The report is
rewritten after every run.
Each jaxstyle row carries the plan's estimate (:func:`jaxstyle.plan`) for the same
settings. The slope is the least-squares fit of peak RSS against pixels.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import environment, measured_on
from benchmarks.race import ensure_weights
from benchmarks.worker import parse_aspect, parse_config
from jaxstyle.cache import atomic_write

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("optimizer=adam,memory=off", "optimizer=lbfgs,history_size=5,memory=off")


def run(args: argparse.Namespace, framework: str, size: int, setting: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", "--framework", framework, "--job"]
    cmd += ["memory", "--size", str(size), "--iterations", str(args.iterations)]
    cmd += ["--weights", args.weights, "--init", "content", "--config", setting]
    cmd += ["--aspect", args.aspect] if args.aspect else []
    limit = int(args.limit_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        preexec_fn=cap if framework != "jax" and limit else None,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return {"framework": framework, "size": size, "setting": setting, "failed": tail[0]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["setting"] = setting
    if framework == "jax":
        import jaxstyle

        fields = {"weighting": "paper", "ratio": 1e-3, **parse_config(setting), "memory": "fixed"}
        config = jaxstyle.resolve(jaxstyle.Config(**fields), out["env"]["backend"])
        out["plan_gib"] = jaxstyle.plan(tuple(out["shape"]), config).memory.total / 2**30
    return out


def slope(rows: list[dict[str, Any]]) -> float | None:
    ok = [r for r in rows if "peak_rss_kib" in r]
    if len(ok) < 2:
        return None
    px = np.array([r["shape"][0] * r["shape"][1] for r in ok], float)
    rss = np.array([r["peak_rss_kib"] * 1024 for r in ok], float)
    return float(np.polyfit(px, rss, 1)[0])


def markdown(report: dict[str, Any]) -> str:
    env = report["env"]
    devices = sorted(
        {f"{e['backend']}: {e['device']}" for r in report["runs"] if (e := r.get("env"))}
    )
    aspect = report.get("aspect") or ("1:1" if report.get("square") else "4:3")
    limits = sorted(
        {
            f"{r['device_bytes_limit'] / 2**30:.1f} GiB"
            for r in report["runs"]
            if r.get("device_bytes_limit")
        }
    )
    lines = [
        f"# Peak memory against image size ({'; '.join(devices) or 'no run finished'})",
        "",
        f"{measured_on(env)}, torch {env['versions']['torch']}. Random real-shape "
        f"VGG19, the paper's layers, {aspect} crops of the photo, content start, "
        f"{report['iterations']} iterations, each run a fresh process; "
        "`python -m benchmarks.highres` (benchmarks/highres.py). Device peak: "
        "jax's `peak_bytes_in_use`, torch's `max_memory_allocated` (GPU only)"
        + (f"; jax's device limit {', '.join(limits)}." if limits else "."),
        "",
        "| framework | setting | size | pixels | peak RSS GiB | device peak GiB | plan GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        px = r["shape"][0] * r["shape"][1] if "shape" in r else None
        rss = f"{r['peak_rss_kib'] / 2**20:.2f}" if "peak_rss_kib" in r else r.get("failed", "")
        peak = r.get("device_peak_bytes")
        device = f"{peak / 2**30:.2f}" if peak else ""
        plan = f"{r['plan_gib']:.2f}" if "plan_gib" in r else ""
        shape = f"{r['shape'][1]}x{r['shape'][0]}" if "shape" in r else r["size"]
        lines.append(
            f"| {r['framework']} | `{r['setting']}` | {shape} | {px or ''} | {rss} | {device} "
            f"| {plan} |"
        )
    lines += ["", "| framework | setting | slope, bytes per pixel |", "|---|---|---|"]
    for s in report["slopes"]:
        value = "" if s["bytes_per_pixel"] is None else f"{s['bytes_per_pixel']:.0f}"
        lines.append(f"| {s['framework']} | `{s['setting']}` | {value} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1024,1448,2048", help="long sides")
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--weights", default="/tmp/jaxstyle-bench/vgg19-random.npz")
    p.add_argument("--setting", action="append", help="jaxstyle --config overrides (repeatable)")
    p.add_argument(
        "--torch-sizes", default=None, help="sizes for PyTorch (default --sizes; '': none)"
    )
    p.add_argument("--torch-history", type=int, default=5)
    p.add_argument(
        "--limit-gib", type=float, default=21.0, help="PyTorch's address space (0: no cap, GPU)"
    )
    p.add_argument("--aspect", type=parse_aspect, help="W:H crops, e.g. 16:9 (default 4:3)")
    p.add_argument("--square", action="store_true", help="square images (--aspect 1:1)")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    aspect = (1, 1) if args.square else args.aspect
    args.aspect = f"{aspect[0]}:{aspect[1]}" if aspect else None
    ensure_weights(args.weights)
    settings = args.setting or list(SETTINGS)
    sizes = [int(s) for s in args.sizes.split(",")]
    torch_text = args.sizes if args.torch_sizes is None else args.torch_sizes
    torch_sizes = [int(s) for s in torch_text.split(",") if s]
    # Not jax_side: this parent must not take a GPU's memory from its children.
    report: dict[str, Any] = {
        "iterations": args.iterations,
        "aspect": args.aspect or "4:3",
        "runs": [],
        "slopes": [],
        "env": environment(ROOT / "jaxstyle", jax_side=False),
    }
    for size in sorted(set(sizes) | set(torch_sizes)):
        jobs = [("jax", s) for s in settings] if size in sizes else []
        jobs += [("torch", f"history_size={args.torch_history}")] if size in torch_sizes else []
        for framework, setting in jobs:
            report["runs"].append(run(args, framework, size, setting))
            print(json.dumps(report["runs"][-1])[:300], flush=True)
            report["slopes"] = slopes(report["runs"])
            save(args, report)  # after every run: a run stopped at its time limit keeps it
    print(markdown(report))


def slopes(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per framework and setting, the least-squares bytes per pixel (:func:`slope`)."""
    groups = sorted({(r["framework"], r["setting"]) for r in runs})
    return [
        {"framework": f, "setting": s, "bytes_per_pixel": slope(
            [r for r in runs if (r["framework"], r["setting"]) == (f, s)]
        )}
        for f, s in groups
    ]  # fmt: skip


def save(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(report, indent=1) + "\n"))
    if args.markdown:
        atomic_write(args.markdown, lambda t: Path(t).write_text(markdown(report)))


if __name__ == "__main__":
    main()
