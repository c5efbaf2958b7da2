"""jaxstyle's XLA:CPU flags, measured: one evaluation with them and without them.

    python -m benchmarks.xla_flags --sizes 128,256 --rounds 4 --repeats 10 \\
        --json benchmarks/results/cpu_xla_flags.json

XLA reads its flags once per process, so every measurement is a fresh process running
``benchmarks.compare``'s evaluation bench (jaxstyle's ``probe`` and torch's
``loss.backward`` alternated ``--repeats`` times), and the two settings
(``JAXSTYLE_XLA_FLAGS=1``, the default, and ``=0``) alternate round by round. Torch runs
in every process as the yardstick for how fast the shared machine is at that moment;
the figure to compare is jaxstyle / torch per setting. Children run with ``XLA_FLAGS``
unset apart from what jaxstyle adds. Writes JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import compare  # imports no jax or jaxstyle at module level

# Captured before anything imports jaxstyle (which edits XLA_FLAGS): children start clean.
_BASE_ENV = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAXSTYLE_XLA_FLAGS")}
SETTINGS = {"on": "1", "off": "0"}


def _child(argv: list[str]) -> None:
    if argv[0] == "weights":  # weights QUICK PATH
        compare.make_weights(Path(argv[2]), quick=argv[1] == "1")
        return
    _, size, repeats, weights = argv  # eval SIZE REPEATS PATH
    result = compare.bench_evaluation(Path(weights), int(size), int(repeats))
    result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    print(json.dumps(result))


def _run(setting: str, *args: str) -> dict[str, Any]:
    env = {**_BASE_ENV, "JAXSTYLE_XLA_FLAGS": SETTINGS[setting]}
    cmd = [sys.executable, "-m", "benchmarks.xla_flags", "--child", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        *compare.header(
            m,
            "jaxstyle's XLA:CPU flags on and off",
            f"Flags when on: `{report['flags_on']}`. Each cell: median seconds per "
            f"loss+gradient evaluation over {report['repeats']} repeats in one fresh "
            "process, torch in the same process.",
        ),
        "| size | round | setting | jaxstyle (s) | torch (s) | jax / torch | grad rel. diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['size']}² | {r['round']} | {r['setting']} | {r['jax_s']['median']:.3f} "
            f"| {r['torch_s']['median']:.3f} | {r['ratio_jax_over_torch']:.3f} "
            f"| {r['grad_rel_diff']:.1e} |"
        )
    lines += ["", "| size | jax / torch, flags on (median over rounds) | off | on / off |"]
    lines.append("|---|---|---|---|")
    for s in report["summary"]:
        lines.append(
            f"| {s['size']}² | {s['on']:.3f} | {s['off']:.3f} | {s['on'] / s['off']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="128,256")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", default="benchmarks/results/cpu_xla_flags.json")
    p.add_argument("--quick", action="store_true", help="tiny CI run: proves it works")
    a = p.parse_args(argv)
    if a.quick:
        a.sizes, a.rounds, a.repeats = "32", 1, 2
    sizes = [int(s) for s in a.sizes.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = str(Path(tmp) / "random.npz")
        _run("off", "weights", "1" if a.quick else "0", weights)
        for size in sizes:
            for k in range(a.rounds):
                for setting in SETTINGS if k % 2 == 0 else reversed(list(SETTINGS)):
                    r = _run(setting, "eval", str(size), str(a.repeats), weights)
                    runs.append({**r, "round": k + 1, "setting": setting})
                    print(
                        f"{size} round {k + 1} {setting}: {r['ratio_jax_over_torch']:.3f}",
                        file=sys.stderr,
                    )
    summary = []
    for size in sizes:
        row: dict[str, Any] = {"size": size}
        for setting in SETTINGS:
            ratios = [
                r["ratio_jax_over_torch"]
                for r in runs
                if r["size"] == size and r["setting"] == setting
            ]
            row[setting] = float(np.median(ratios))
        summary.append(row)
    flags_on = next((r["xla_flags"] for r in runs if r["setting"] == "on"), "")
    report = {
        "machine": compare.machine(),
        "repeats": a.repeats,
        "flags_on": flags_on,
        "runs": runs,
        "summary": summary,
    }
    compare.write_report(Path(a.json), report, markdown(report))


if __name__ == "__main__":
    main()
