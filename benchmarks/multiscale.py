"""Coarse to fine against one scale in the same wall time, on the real VGG19 blocks 1-3.

    python -m benchmarks.multiscale --raw ../shared/weights/vgg19_imagenet_blocks1-3.npz \\
        --json benchmarks/results/cpu_multiscale.json --picture docs/figures/multiscale.jpg

Tübingen x Starry Night at ``--size`` (long side), content ``relu3_2``, style
``relu1_1..relu3_1``, default weighting, L-BFGS. Coarse to fine runs ``--scales`` with
``--stage-iterations`` from noise; then one scale from noise runs at the final size,
its loss recorded with the wall time after every ``--chunk`` iterations, until it has
used the coarse-to-fine run's wall time. Both losses are the final size's objective.
Each run is its own fresh process (compilation included in both wall times).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.provenance import environment
from jaxstyle.cache import atomic_write
from jaxstyle.images.write import save_image

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {"content_layers": "relu3_2", "style_layers": "relu1_1,relu2_1,relu3_1"}


class _Spent(Exception):
    """The single-scale run has used the coarse-to-fine run's wall time."""


def one(args: argparse.Namespace) -> dict:
    import jax

    from benchmarks.adam import real_inputs

    js, params, pre, content, style = real_inputs(args.raw, args.size)
    key = jax.random.key(0)
    start = time.perf_counter()
    if args.job == "multi":
        scales = [int(s) for s in args.scales.split(",")]
        counts = [int(s) for s in args.stage_iterations.split(",")]
        out = js.coarse_to_fine(
            content, style, params, pre, js.Config(**LAYERS), scales, counts, key=key
        )
        seconds = time.perf_counter() - start
        image, loss = out[-1].image, float(out[-1].history.total[-1])
        result = {
            "seconds": seconds,
            "loss": loss,
            "stage_losses": [float(r.history.total[-1]) for r in out],
        }
    else:
        marks: list[tuple[float, int, float]] = []
        latest = {}

        def keep(done, image, history):
            marks.append((time.perf_counter() - start, done, float(history.total[-1])))
            if marks[-1][0] <= args.budget or not latest:  # the image at the last mark within
                latest["image"] = image
            if marks[-1][0] > args.budget:
                raise _Spent

        config = js.Config(**LAYERS, iterations=args.max_iterations, chunk_size=args.chunk)
        with contextlib.suppress(_Spent):
            js.stylize(content, style, params, pre, config, key=key, callback=keep)
        image = latest["image"]
        within = [m for m in marks if m[0] <= args.budget] or marks[:1]
        result = {
            "seconds": within[-1][0],
            "iterations": within[-1][1],
            "loss": within[-1][2],
            "marks": marks,
        }
    np.save(args.image_out, image)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--raw", required=True)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--scales", default="256,512,1024")
    p.add_argument("--stage-iterations", default="150,60,25")
    p.add_argument("--chunk", type=int, default=5)
    p.add_argument("--max-iterations", type=int, default=1000)
    p.add_argument("--json", default=None)
    p.add_argument("--picture", default=None)
    p.add_argument("--job", choices=("all", "multi", "single"), default="all")
    p.add_argument("--budget", type=float, default=0.0)
    p.add_argument("--image-out", default="")
    args = p.parse_args()
    if args.job != "all":
        print(json.dumps(one(args)))
        return
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    base = [
        sys.executable,
        "-m",
        "benchmarks.multiscale",
        "--raw",
        args.raw,
        "--size",
        str(args.size),
        "--scales",
        args.scales,
        "--stage-iterations",
        args.stage_iterations,
        "--chunk",
        str(args.chunk),
    ]

    def run(job: str, budget: float = 0.0) -> dict:
        cmd = [
            *base,
            "--job",
            job,
            "--budget",
            str(budget),
            "--image-out",
            str(tmp / f"ms_{job}.npy"),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    machine = environment(ROOT / "jaxstyle", jax_side=True)
    multi = run("multi")
    single = run("single", multi["seconds"])
    result = {
        "machine": machine,
        "size": args.size,
        "scales": args.scales,
        "stage_iterations": args.stage_iterations,
        "multi": multi,
        "single": single,
        "loadavg_end": list(os.getloadavg()),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        atomic_write(args.json, lambda t: Path(t).write_text(text + "\n"))
    if args.picture:
        a, b = (np.load(tmp / f"ms_{j}.npy") for j in ("single", "multi"))
        row = np.concatenate([a, np.ones((a.shape[0], 8, 3), np.float32), b], axis=1)
        save_image(args.picture, row, jpeg_quality=88)


if __name__ == "__main__":
    main()
