"""The Gram matrix's hand-written VJP against autodiff of the same einsum, measured.

    python -m benchmarks.gram_vjp --sizes 128,256 --repeats 20 \\
        --json benchmarks/results/cpu_gram_vjp.json

One process compiles jaxstyle's evaluation program (``optimize.probe``, the program
``stylize`` runs once per loss+gradient evaluation) twice per size: with
:func:`jaxstyle.losses.gram` as shipped, and with the Gram swapped for its plain einsum
(``losses._gram``), whose gradient JAX derives itself. It then times the two
alternately for ``--repeats`` rounds (the order swapped every round) and reports the
medians, their ratio, how far the two gradients differ, and how many matrix products
each compiled program holds and how many elements its transposes move. Writes JSON and
a markdown table.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from benchmarks import compare

#: ``vjp``: losses.gram as shipped; ``autodiff``: its einsum, differentiated by JAX.
VARIANTS = ("vjp", "autodiff")


def _compile(name: str, probe_args: tuple[Any, ...]) -> Any:
    import jax

    from jaxstyle import losses, optimize

    gram = losses.gram if name == "vjp" else losses._gram
    with mock.patch.object(losses, "gram", gram):
        jax.clear_caches()  # the other variant's trace must not be reused
        return optimize.probe.lower(*probe_args).compile()


def transposed_elements(hlo: str) -> int:
    """Elements moved by the transposes of a compiled program's text (fused ones too)."""
    shapes = re.findall(r"= \w+\[([\d,]*)\]\S* transpose\(", hlo)
    return sum(math.prod(int(d) for d in s.split(",") if d) for s in shapes)


def bench(weights_path: Path, size: int, repeats: int) -> dict[str, Any]:
    import jax

    inputs = compare.evaluation_inputs(weights_path, size)
    args = inputs["probe_args"]
    programs = {name: _compile(name, args) for name in VARIANTS}
    # Static arguments (config, preprocess) are baked into the compiled programs.
    dynamic = args[:6]

    def call(name: str) -> Any:
        return jax.block_until_ready(programs[name](*dynamic))

    grads = {name: np.asarray(call(name)[2]) for name in VARIANTS}
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for r in range(repeats):
        for name in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            t0 = time.perf_counter()
            call(name)
            times[name].append(time.perf_counter() - t0)
    hlo = {name: programs[name].as_text() for name in VARIANTS}
    ref = grads["autodiff"]
    return {
        "size": size,
        "seconds": {name: compare._stats(times[name]) for name in VARIANTS},
        "ratio_vjp_over_autodiff": float(np.median(times["vjp"]) / np.median(times["autodiff"])),
        "grad_rel_diff": float(np.linalg.norm(grads["vjp"] - ref) / np.linalg.norm(ref)),
        "dots": {name: hlo[name].count(" dot(") for name in VARIANTS},
        "transposed_elements": {name: transposed_elements(hlo[name]) for name in VARIANTS},
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        *compare.header(
            m,
            "Gram VJP: hand-written against autodiff",
            "One loss+gradient evaluation of VGG19 (jaxstyle's `optimize.probe`), both "
            f"programs compiled in one process and alternated {report['repeats']} times; "
            "median [q1, q3] seconds.",
        ),
        "| size | hand-written VJP (s) | autodiff (s) | VJP / autodiff | grad rel. diff "
        "| dots (VJP / autodiff) | elements transposed (VJP / autodiff) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        v, a = r["seconds"]["vjp"], r["seconds"]["autodiff"]
        lines.append(
            f"| {r['size']}² | {v['median']:.3f} [{v['q1']:.3f}, {v['q3']:.3f}] "
            f"| {a['median']:.3f} [{a['q1']:.3f}, {a['q3']:.3f}] "
            f"| {r['ratio_vjp_over_autodiff']:.3f} | {r['grad_rel_diff']:.1e} "
            f"| {r['dots']['vjp']} / {r['dots']['autodiff']} "
            f"| {r['transposed_elements']['vjp']} / {r['transposed_elements']['autodiff']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="128,256")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default="benchmarks/results/cpu_gram_vjp.json")
    p.add_argument("--quick", action="store_true", help="tiny CI run: proves it works")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.quick:
        a.sizes, a.repeats = "32", 2
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "random.npz"
        compare.make_weights(weights, quick=a.quick)
        runs = []
        for size in (int(s) for s in a.sizes.split(",")):
            runs.append(bench(weights, size, a.repeats))
            print(f"{size}: VJP / autodiff {runs[-1]['ratio_vjp_over_autodiff']:.3f}")
    report = {"machine": compare.machine(), "repeats": a.repeats, "runs": runs}
    compare.write_report(Path(a.json), report, markdown(report))


if __name__ == "__main__":
    main()
