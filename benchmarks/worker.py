"""One measurement in one fresh process, printed to stdout as one JSON line.

    python -m benchmarks.worker --framework jax --job race --weights W.npz --size 128 \\
        --iterations 100 --seed 0 --init noise [--target-loss L] [--config ratio=1e-2]

Uses only jaxstyle's public API (``import jaxstyle``). Both frameworks get the same
arrays: the bundled photo at ``--size`` (long side) and the painting resized to the
photo's exact shape here with PIL, and, for ``--init noise``, the same numpy noise
``mean_rgb + noise_std * N(0, 1)`` from ``--seed`` (handed to ``stylize`` as
``init_image`` when it takes one; otherwise jaxstyle draws its own noise from
``jax.random.key(seed)`` and the result says ``"same_start": false``). The objective
is the paper's (``weighting="paper"``, ratio 1e-3) unless ``--config`` says
``weighting=authors`` (jaxstyle's default, ratio 6e-3), on both sides
(:mod:`benchmarks.objective`; torch's side: :mod:`benchmarks.worker_torch`).
``torch-adam`` is ``torch.optim.Adam`` at jaxstyle's default step,
:data:`~benchmarks.objective.ADAM_RATE` pixel units. With ``--target-loss`` a race ends once
the loss is at most it.

Jobs: ``speed`` (seconds per iteration, one evaluation each: jaxstyle's L-BFGS with
``linesearch="none"`` against ``torch.optim.LBFGS`` without ``line_search_fn``, after a
2-iteration warm-up), ``race`` (loss after every iteration and the wall time at which
it was known, after a 2-iteration warm-up whose time is reported apart) and
``memory`` (peak RSS after ``--iterations``, and the RSS right after the imports).

``JAXSTYLE_CODE=DIR`` imports jaxstyle from ``DIR`` (e.g. a git worktree of an older
commit); this file and ``torch_gatys`` always come from the current ``benchmarks/``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.objective import Reached, first_reach, objective_fields
from benchmarks.provenance import environment

JOBS = {"speed": 40, "race": 100, "memory": 5}  # job -> default iterations
FRAMEWORKS = ("jax", "torch", "torch-wolfe", "torch-adam")


def use_code() -> Path | None:
    """Puts ``$JAXSTYLE_CODE`` first on ``sys.path`` (call before importing jaxstyle)."""
    code = os.environ.get("JAXSTYLE_CODE")
    if code:
        sys.path.insert(0, str(Path(code).resolve()))
    return Path(code).resolve() if code else None


def parse_config(text: str | None) -> dict[str, Any]:
    """``"ratio=1e-2,style_layers=relu1_1,relu2_1"`` -> ``{"ratio": 0.01, ...}``.

    A comma starts a new item only when ``key=`` follows it, so a value may hold
    commas (layer lists). Python literals (``None``, ``3``, ``1e-3``) are converted;
    anything else (``linesearch=none``) stays a string.
    """
    out: dict[str, Any] = {}
    for item in filter(str.strip, re.split(r",(?=\s*\w+=)", text or "")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--config item {item!r} is not key=value")
        try:
            out[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = raw.strip()
    return out


def parse_aspect(text: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``: width to height, both positive."""
    w, _, h = text.partition(":")
    if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"expected W:H, e.g. 16:9, got {text!r}")
    return int(w), int(h)


def images(
    jaxstyle: Any, size: int, aspect: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The photo at long side ``size`` (``aspect`` ``(w, h)``: its centre crop of that
    shape, e.g. ``(16, 9)`` and 7680 -> 7680x4320), and the painting resized (Lanczos)
    to its shape."""
    path = jaxstyle.bundled("tubingen.jpg")
    if aspect is None:
        content = jaxstyle.load_image(path, size=size)
    else:
        w, h = aspect
        out_h, out_w = (round(size * h / w), size) if w >= h else (size, round(size * w / h))
        with Image.open(path) as im:
            scale = max(out_w / im.size[0], out_h / im.size[1])  # the photo covers the crop
            long_side = int(np.ceil(max(im.size) * scale))
        content = jaxstyle.load_image(path, size=long_side)
        top, left = (content.shape[0] - out_h) // 2, (content.shape[1] - out_w) // 2
        content = np.ascontiguousarray(content[top : top + out_h, left : left + out_w])
        assert content.shape[:2] == (out_h, out_w), (content.shape, out_h, out_w)
    painting = jaxstyle.load_image(jaxstyle.bundled("starry_night.jpg"))
    h, w = content.shape[:2]
    channels = [
        np.asarray(Image.fromarray(painting[..., c], "F").resize((w, h), Image.Resampling.LANCZOS))
        for c in range(3)
    ]
    return content, np.clip(np.stack(channels, -1), 0.0, 1.0).astype(np.float32)


def start_image(meta: dict, content: np.ndarray, init: str, seed: int, std: float) -> np.ndarray:
    """RGB start: the content, or ``mean_rgb + std * noise`` as jaxstyle's noise init."""
    if init == "content":
        return content
    p = meta["preprocess"]
    mean_rgb = np.asarray(p["mean"], np.float32) / np.float32(p["scale"])  # invert(0)
    mean_rgb = mean_rgb[::-1] if p["channel_order"] == "BGR" else mean_rgb
    noise = np.random.default_rng(seed).standard_normal(content.shape)
    return (mean_rgb + std * noise).astype(np.float32)


def run_jax(args: argparse.Namespace, jaxstyle: Any, content: Any, style: Any, rgb0: Any) -> dict:
    """The job with ``jaxstyle.stylize`` (only public API)."""
    import inspect

    import jax

    params, meta = jaxstyle.load_weights(args.weights)
    fields = {**objective_fields(args.overrides), "init": args.init, **args.overrides}
    if args.job == "speed":
        fields.update(optimizer="lbfgs", linesearch="none")
    if args.job == "race":
        fields["chunk_size"] = 1
    same = args.init == "content" or "init_image" in inspect.signature(jaxstyle.stylize).parameters
    extra = {"init_image": rgb0} if args.init == "noise" and same else {}

    def call(iterations: int, callback: Any = None) -> Any:
        config = jaxstyle.Config(**{**fields, "iterations": iterations})
        return jaxstyle.stylize(
            content, style, params, meta.preprocess, config,
            key=jax.random.key(args.seed), callback=callback, **extra,
        )  # fmt: skip

    start_kind = "content" if args.init == "content" else "numpy" if same else "jax.random"
    out: dict[str, Any] = {"same_start": same, "start": start_kind, "config": fields}
    if args.job == "memory":
        hist = call(args.iterations).history
        stats = jax.local_devices()[0].memory_stats() or {}  # None on a CPU
        peak, limit = stats.get("peak_bytes_in_use"), stats.get("bytes_limit")
        out.update(device_peak_bytes=peak, device_bytes_limit=limit)
        return {**out, "final_loss": float(hist.total[-1])}
    t = time.perf_counter()
    call(2)  # compiles (or loads from the persistent cache) every program
    out["first_call_seconds"] = time.perf_counter() - t
    times: list[float] = []
    last: list[Any] = [None]

    def record(_done: int, _image: Any, hist: Any) -> None:
        times.append(time.perf_counter() - start)
        last[0] = hist
        if args.target_loss is not None and float(hist.total[-1]) <= args.target_loss:
            raise Reached

    start = time.perf_counter()
    try:
        call(args.iterations, record)
    except Reached:
        out["stopped_at_target"] = True
    seconds, hist = time.perf_counter() - start, last[0]
    out.update(seconds=seconds, final_loss=float(hist.total[-1]))
    evals = [int(e) for e in hist.evaluations]  # per iteration
    out["start_evaluations"] = 0 if fields.get("optimizer") == "adam" else 1  # L-BFGS' probe
    if args.job == "speed":
        spi = seconds / args.iterations
        return {**out, "seconds_per_iteration": spi, "evaluations": 1 + sum(evals)}
    return {**out, "times": times, "losses": [float(v) for v in hist.total], "evaluations": evals}


def main(argv: list[str] | None = None) -> None:
    """Runs one job and prints its result as one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=FRAMEWORKS, required=True)
    p.add_argument("--job", choices=tuple(JOBS), required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--iterations", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", choices=("noise", "content"), default="noise")
    p.add_argument("--target-loss", type=float)
    p.add_argument(
        "--torch-loss-scale", type=float, default=1.0,
        help="torch minimises this times the loss (reported without it): its L-BFGS "
        "keeps a step pair only if y's > 1e-10, an absolute threshold",
    )  # fmt: skip
    p.add_argument("--config", default="", help="Config overrides: key=value,...")
    p.add_argument(
        "--aspect", type=parse_aspect, help="W:H crop of the photo (default 4:3, its own)"
    )
    args = p.parse_args(argv)
    args.iterations = args.iterations or JOBS[args.job]
    args.overrides = parse_config(args.config)
    code = use_code()
    import jaxstyle  # after use_code: from $JAXSTYLE_CODE when set

    if hasattr(jaxstyle, "setup"):  # since the redesign: the CLI's XLA:CPU flags, explicitly
        jaxstyle.setup(compilation_cache=False)
    where = Path(jaxstyle.__file__).resolve().parent
    if code is not None and not where.is_relative_to(code):
        raise SystemExit(f"JAXSTYLE_CODE={code} but jaxstyle was imported from {where}")
    if args.framework == "jax":
        import jax  # noqa: F401  (jaxstyle imported it; named for the baseline's sake)
    else:
        from benchmarks import torch_gatys  # noqa: F401  (torch, before the baseline)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: after the imports
    content, style = images(jaxstyle, args.size, args.aspect)
    with np.load(args.weights) as data:
        meta = json.loads(bytes(data["__meta__"]).decode())
    std = float(args.overrides.get("noise_std", 0.1))
    rgb0 = start_image(meta, content, args.init, args.seed, std)
    if args.framework == "jax":
        result = run_jax(args, jaxstyle, content, style, rgb0)
    else:
        from benchmarks.worker_torch import run_torch

        result = run_torch(args, content, style, rgb0)
    result = {
        "framework": args.framework, "job": args.job, "size": args.size,
        "shape": list(content.shape[:2]), "seed": args.seed, "init": args.init,
        "iterations": args.iterations, "overrides": args.overrides, **result,
    }  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # every job: its whole run
    result.update(baseline_rss_kib=baseline, peak_rss_kib=peak, rss_above_kib=peak - baseline)
    if args.target_loss is not None and "times" in result:
        result["target_loss"] = args.target_loss
        counts = {k: result[k] for k in ("evaluations", "start_evaluations") if k in result}
        result["reached"] = first_reach(
            result["times"], result["losses"], args.target_loss, **counts
        )
    result["env"] = environment(where, args.framework == "jax")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
