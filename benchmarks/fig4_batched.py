"""Fig. 4 (20 panels) as one batched stylisation against the 20 panels one by one.

Real VGG19 shapes with random He-initialised weights (speed does not depend on the
weight values; ``--slim`` uses the test suite's narrow widths instead). Each path runs
twice: the first call includes compilation (one program for the batch; one per distinct
style-layer set, i.e. five, one by one), the second is warm. Writes
``benchmarks/results/fig4_batched.json`` and ``.md`` and prints the JSON.

    python -m benchmarks.fig4_batched --size 64 --iterations 10
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax

import jaxstyle as js
from jaxstyle import figures
from jaxstyle.files import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"
SLIM = (8, 16, 16, 24, 24)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(size: int, iterations: int, optimizer: str, slim: bool) -> dict[str, object]:
    """Cold and warm seconds of the batched and the one-by-one Fig. 4."""
    params = js.init_params(jax.random.key(0), SLIM if slim else js.vgg.VGG19_WIDTHS)
    fig = figures.figure(4, js.Config(iterations=iterations, optimizer=optimizer))
    batched = [figures.run(fig, params, js.CAFFE, size=size) for _ in range(2)]
    sequential = [figures.run_sequential(fig, params, js.CAFFE, size=size) for _ in range(2)]
    cold = figures.compare(batched[0], sequential[0])
    warm = figures.compare(batched[1], sequential[1])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return figures.timing_record(
        warm,
        batched[1],
        {
            "batched_cold_s": round(cold.batched_s, 2),
            "sequential_cold_s": round(cold.sequential_s, 2),
            "speedup_cold": round(cold.sequential_s / cold.batched_s, 2),
            "weights": "random, slim widths " + str(SLIM) if slim else "random, real VGG19 shapes",
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average_1min_at_end": None if load is None else round(load, 2),
            "date": time.strftime("%Y-%m-%d"),
        },
    )


def markdown(r: dict[str, object]) -> str:
    """The record as a short Markdown report."""
    h, w = r["size"]
    flags = f" --optimizer {r['optimizer']}" + (" --slim" if "slim" in str(r["weights"]) else "")
    return f"""# Fig. 4: one batched run against 20 runs one by one

`python -m benchmarks.fig4_batched --size {max(h, w)} --iterations {r["iterations"]}{flags}`
on {r["cpu"]}, {r["cores"]} cores, {r["backend"]}, JAX {r["jax"]}, {r["date"]}.
Weights: {r["weights"]}. Content {w}x{h} px (Tübingen), style Composition VII,
{r["items"]} panels (5 style-layer sets x 4 alpha/beta), {r["iterations"]} L-BFGS
iterations ({r["optimizer"]}), noise init. Load average at the end:
{r["load_average_1min_at_end"]} (this machine is shared; read the times as upper bounds).

| | batched (1 program) | one by one (20 calls) | one by one / batched |
|---|---|---|---|
| first call (compilation included) | {r["batched_cold_s"]} s | {r["sequential_cold_s"]} s | {r["speedup_cold"]}x |
| warm | {r["batched_s"]} s | {r["sequential_s"]} s | {r["speedup"]}x |

Largest pixel difference between the two sets of 20 images (warm runs):
{r["max_abs_diff"]:.2g}.
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--optimizer", default="optax", choices=js.optimize.OPTIMIZERS)
    p.add_argument("--slim", action="store_true", help="slim widths instead of real shapes")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    record = measure(args.size, args.iterations, args.optimizer, args.slim)
    figures.write_json(args.out / "fig4_batched.json", record)
    text = markdown(record)
    atomic_write(args.out / "fig4_batched.md", lambda tmp: Path(tmp).write_text(text), ".md")
    print(text)


if __name__ == "__main__":
    main()
