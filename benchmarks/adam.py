"""Adam against L-BFGS: evaluations and time to L-BFGS's loss, on the real VGG19 blocks 1-3.

    python -m benchmarks.adam --raw ../shared/weights/vgg19_imagenet_blocks1-3.npz \\
        --json benchmarks/results/cpu_adam.json

1. Evaluations (deterministic, one process): for 8 noise seeds and the content start,
   L-BFGS (``lbfgs``, strong Wolfe) runs ``--iterations``; its final loss is the
   target. Adam at each ``--rates`` runs up to ``--adam-iterations`` from the same
   start; the first iteration at or below the target counts. Both record the
   loss+gradient evaluations they used (Adam: one per iteration).
2. Seconds per evaluation: each solver in its own fresh process, alternated over
   ``--rounds``, one image, after a warm-up chunk (no compilation in the figure).

Time to the target = evaluations x seconds per evaluation. Tübingen x Starry Night,
``--size`` px long side, content ``relu3_2``, style ``relu1_1..relu3_1``, the default
weighting and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.provenance import environment, measured_on
from jaxstyle.cache import atomic_write

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"content_layers": "relu3_2", "style_layers": "relu1_1,relu2_1,relu3_1"}


def real_inputs(raw: str, size: int):
    """``(jaxstyle, params, preprocess, content, style)``: the real blocks 1-3 converted
    once (cached in the temp dir) by the user's path, Tübingen at ``size``, Starry Night."""
    import jaxstyle as js

    sys.path.insert(0, str(ROOT / "tests"))
    from keras_h5 import convert_real, read_keras_npz

    cache = Path(tempfile.gettempdir()) / "jaxstyle-bench-real"
    cache.mkdir(exist_ok=True)
    path = cache / "real.npz"
    if not path.exists():
        convert_real(read_keras_npz(raw), cache)
    params, meta = js.load_weights(path)
    content = js.load_image(js.bundled("tubingen.jpg"), size)
    style = js.load_image(js.bundled("starry_night.jpg"))
    return js, params, meta.preprocess, content, style


def evaluations(args: argparse.Namespace) -> list[dict]:
    import jax

    js, params, pre, content, style = real_inputs(args.raw, args.size)
    rows = []
    for init, seeds in (("noise", list(range(args.seeds))), ("content", [0])):
        keys = jax.numpy.stack([jax.random.key(s) for s in seeds])
        lb = js.Config(
            **{**LAYERS, "init": init, "iterations": args.iterations, "optimizer": "lbfgs"}
        )
        h = js.stylize(content, style, params, pre, [lb] * len(seeds), key=keys).history
        target, lb_evals = h.total[:, -1], h.evaluations.sum(axis=1)
        for rate in args.rates:
            ad = js.Config(
                **{
                    **LAYERS,
                    "init": init,
                    "iterations": args.adam_iterations,
                    "optimizer": "adam",
                    "learning_rate": rate,
                }
            )
            ha = js.stylize(content, style, params, pre, [ad] * len(seeds), key=keys).history
            for i, s in enumerate(seeds):
                hit = np.nonzero(ha.total[i] <= target[i])[0]
                rows.append(
                    {
                        "init": init,
                        "seed": s,
                        "rate": rate,
                        "lbfgs_loss": float(target[i]),
                        "lbfgs_evaluations": int(lb_evals[i]),
                        # record i holds the loss at the iterate after i steps: i + 1 evaluations
                        "adam_evaluations": int(hit[0] + 1) if hit.size else None,
                        "adam_final_loss": float(ha.total[i, -1]),
                    }
                )
    return rows


def seconds(args: argparse.Namespace) -> float:
    """One process: seconds per evaluation of ``args.optimizer`` after a warm-up chunk."""
    import jax

    js, params, pre, content, style = real_inputs(args.raw, args.size)
    opt = {"optimizer": args.optimizer, "chunk_size": 10}
    opt.update({"linesearch": "none"} if args.optimizer == "lbfgs" else {})
    marks = []

    def tick(done, image, history):
        marks.append((time.perf_counter(), int(history.evaluations.sum())))

    config = js.Config(**LAYERS, **opt, iterations=40, init="content")
    js.stylize(content, style, params, pre, config, key=jax.random.key(0), callback=tick)
    (t0, e0), (t1, e1) = marks[0], marks[-1]
    return (t1 - t0) / (e1 - e0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--raw", required=True, help="the real blocks 1-3 .npz (Keras names)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--adam-iterations", type=int, default=1000)
    p.add_argument("--rates", type=lambda s: [float(v) for v in s.split(",")], default=[0.02, 0.05])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--job", choices=("all", "seconds"), default="all")
    p.add_argument("--optimizer", default="adam")
    args = p.parse_args()
    if args.job == "seconds":
        print(json.dumps({"seconds_per_evaluation": seconds(args)}))
        return
    start = time.time()
    machine = environment(ROOT / "jaxstyle", jax_side=True)
    per_eval: dict[str, list[float]] = {"lbfgs": [], "adam": []}
    for _ in range(args.rounds):
        for opt in per_eval:  # alternated, each in a fresh process
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.adam",
                "--job",
                "seconds",
                "--raw",
                args.raw,
                "--size",
                str(args.size),
                "--optimizer",
                opt,
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            per_eval[opt].append(json.loads(out.strip().splitlines()[-1])["seconds_per_evaluation"])
    rows = evaluations(args)
    sec = {k: float(np.median(v)) for k, v in per_eval.items()}
    for r in rows:
        r["time_ratio"] = (
            None
            if r["adam_evaluations"] is None
            else r["adam_evaluations"] * sec["adam"] / (r["lbfgs_evaluations"] * sec["lbfgs"])
        )
    result = {
        "machine": machine,
        "size": args.size,
        "iterations": args.iterations,
        "adam_iterations": args.adam_iterations,
        "seconds_per_evaluation": per_eval,
        "rows": rows,
        "loadavg_end": list(os.getloadavg()),
        "wall_s": time.time() - start,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        out = Path(args.json)
        atomic_write(out, lambda t: Path(t).write_text(text + "\n"))
        atomic_write(out.with_suffix(".md"), lambda t: Path(t).write_text(markdown(result)))


def markdown(r: dict) -> str:
    """The result as a table: per start and rate, the spread over seeds."""
    sec = {k: float(np.median(v)) for k, v in r["seconds_per_evaluation"].items()}
    m = r["machine"]
    lines = [
        "# Adam against L-BFGS",
        "",
        f"{measured_on(m)}. Tübingen x Starry Night, {r['size']} px, real VGG19 blocks "
        f"1-3; L-BFGS (strong Wolfe) {r['iterations']} iterations sets the target; Adam up to "
        f"{r['adam_iterations']}. Seconds per evaluation (median of fresh processes): "
        f"lbfgs {sec['lbfgs']:.4f}, adam {sec['adam']:.4f}.",
        "",
        "| start | rate | reached | Adam evaluations | L-BFGS evaluations | time Adam / L-BFGS |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list] = {}
    for row in r["rows"]:
        groups.setdefault((row["init"], row["rate"]), []).append(row)

    def span(values: list) -> str:
        v = [x for x in values if x is not None]
        if not v:
            return "-"
        med = float(np.median(v))
        return f"{min(v):.3g}-{max(v):.3g} (median {med:.3g})" if len(v) > 1 else f"{v[0]:.3g}"

    for (init, rate), rows in groups.items():
        reached = sum(x["adam_evaluations"] is not None for x in rows)
        lines.append(
            f"| {init} | {rate:g} | {reached}/{len(rows)} | "
            f"{span([x['adam_evaluations'] for x in rows])} | "
            f"{span([x['lbfgs_evaluations'] for x in rows])} | "
            f"{span([x['time_ratio'] for x in rows])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
