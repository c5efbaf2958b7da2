"""Seconds per L-BFGS iteration of `jaxstyle stylize` at a given size, real VGG19 shapes.

Uses random He-initialised weights of the real shapes (speed does not depend on the
weight values). Prints one JSON line with the machine, versions and timings.

    python -m benchmarks.cpu_iteration --size 256 --iterations 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np

import jaxstyle as js


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--optimizer", default="jaxopt")
    args = p.parse_args()
    params = js.init_params(jax.random.key(0))
    content = js.load_image(js.bundled("tubingen.jpg"), args.size)
    style = js.load_image(js.bundled("starry_night.jpg"))
    config = js.Config(
        iterations=args.iterations, optimizer=args.optimizer, chunk_size=args.iterations
    )
    key = jax.random.key(0)
    t0 = time.perf_counter()
    js.stylize(content, style, params, js.CAFFE, config, key=key)  # compiles + runs
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = js.stylize(content, style, params, js.CAFFE, config, key=key)
    warm = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cores, {jax.default_backend()}",
                "jax": jax.__version__,
                "size": list(content.shape[:2]),
                "optimizer": args.optimizer,
                "iterations": args.iterations,
                "first_call_s": round(first, 2),
                "warm_s": round(warm, 2),
                "s_per_iteration": round(warm / args.iterations, 3),
                "evaluations_per_iteration": float(np.mean(r.history.evaluations)),
            }
        )
    )


if __name__ == "__main__":
    main()
