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
(``benchmarks/torch_gatys.py``). ``torch-adam`` is ``torch.optim.Adam`` at jaxstyle's
default step, :data:`ADAM_RATE` pixel units. With ``--target-loss`` a race ends once
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
import datetime
import json
import os
import re
import resource
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

JOBS = {"speed": 40, "race": 100, "memory": 5}  # job -> default iterations
FRAMEWORKS = ("jax", "torch", "torch-wolfe", "torch-adam")
#: Adam's step in [0, 1] pixel units, both sides (jaxstyle's default learning_rate).
ADAM_RATE = 0.05


#: The ratio each weighting takes when ``--config`` names none, both sides (jaxstyle's
#: ``DEFAULT_RATIOS``; written here so that an older jaxstyle gets the same objective).
RATIOS = {"paper": 1e-3, "authors": 6e-3}


def objective_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """``weighting`` (default ``"paper"``) and its ``ratio`` unless ``overrides`` sets
    the weights: the objective both sides minimise."""
    weighting = overrides.get("weighting", "paper")
    if weighting not in RATIOS:
        raise SystemExit(f"weighting must be one of {sorted(RATIOS)}, not {weighting!r}")
    explicit = "ratio" in overrides or "content_weight" in overrides
    return {"weighting": weighting, **({} if explicit else {"ratio": RATIOS[weighting]})}


class Reached(Exception):
    """Raised from inside a run once its loss is at most ``--target-loss``: the race
    needs the time to the target, not the rest of the run."""


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


def first_reach(
    times: list[float],
    losses: list[float],
    target: float,
    evaluations: list[int] | None = None,
    start_evaluations: int = 0,
) -> dict | None:
    """The first iteration (1-based) and time at which ``loss <= target``, or None; with
    ``evaluations`` (per iteration) also the evaluations up to it, plus those made
    before the first iteration (L-BFGS evaluates its start; Adam's first step does)."""
    for i, (t, loss) in enumerate(zip(times, losses, strict=True)):
        if loss <= target:
            hit: dict[str, Any] = {"iteration": i + 1, "seconds": t}
            if evaluations is not None:
                hit["evaluations"] = start_evaluations + sum(evaluations[: i + 1])
            return hit
    return None


def _git(where: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _proc(path: str, key: str) -> str:
    """A field of /proc/cpuinfo or /proc/meminfo ("unknown" elsewhere)."""
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(key)), "unknown")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def measured_on(env: dict[str, Any], when: str | None = None) -> str:
    """Who measured a table, from :func:`environment`: machine, ``when`` (default: the
    date), commit and jax version, e.g. ``"Xeon, 2 cores, 23.4 GiB, 2026-12-04, commit
    63c7813 (dirty); jax 0.7.2"``."""
    dirty = " (dirty)" if env.get("jaxstyle_dirty") else ""
    return (
        f"{env.get('cpu')}, {env.get('cores')} cores, {env.get('memory_gib')} GiB, "
        f"{when or str(env.get('date'))[:10]}, commit {env.get('jaxstyle_commit')}{dirty}; "
        f"jax {env.get('versions', {}).get('jax')}"
    )


def environment(jaxstyle_dir: Path, jax_side: bool) -> dict[str, Any]:
    """Versions, machine, flags and the commit of the jaxstyle this process imported."""
    mem = _proc("/proc/meminfo", "MemTotal").split()
    status = _git(jaxstyle_dir, "status", "--porcelain", "--", ".")
    env: dict[str, Any] = {
        "date": utc_now(),
        "cpu": _proc("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem[0]) / 2**20, 1) if mem and mem[0].isdigit() else None,
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in ("jax", "jaxlib", "torch", "numpy")},
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jaxstyle_dir": str(jaxstyle_dir),
        "jaxstyle_commit": _git(jaxstyle_dir, "rev-parse", "--short", "HEAD"),
        "jaxstyle_dirty": None if status == "unknown" else status != "",
        "bench_commit": _git(Path(__file__).parent, "rev-parse", "--short", "HEAD"),
    }
    if jax_side:
        import jax

        dev = jax.devices()[0]
        env.update(backend=jax.default_backend(), device=getattr(dev, "device_kind", str(dev)))
        return {**env, "compilation_cache": jax.config.jax_compilation_cache_dir or None}
    import torch

    gpu = torch.cuda.is_available()
    env.update(backend="cuda" if gpu else "cpu", torch_threads=torch.get_num_threads())
    return {**env, "device": torch.cuda.get_device_name(0) if gpu else "cpu"}


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


def torch_curve(
    tg: Any,
    objective: Any,
    x0: np.ndarray,
    iterations: int,
    ls: str | None,
    history: int,
    target: float | None = None,
) -> dict[str, Any]:
    """``iterations`` of torch's L-BFGS with the loss and time known after each iteration.

    As ``torch_gatys.run_lbfgs`` (lr 1, tolerances off), but without a line
    search the last iterate is evaluated inside the clock (jaxstyle evaluates each new
    iterate too), and with strong Wolfe the evaluation budget is 25 per iteration, not
    torch's 1.25 per iteration, so that all ``iterations`` run. The strong-Wolfe loss of
    each iterate is what torch's line search returns (read by wrapping it, unchanged).
    """
    import torch
    from torch.optim import lbfgs as torch_lbfgs

    # A copy: on the CPU torch.from_numpy shares x0's memory and L-BFGS writes into it.
    x = torch.tensor(x0, dtype=torch.float32, device=tg.DEVICE, requires_grad=True)
    budget = iterations + 1 if ls is None else 25 * iterations
    opt = torch.optim.LBFGS(
        [x], lr=1, max_iter=iterations, max_eval=budget, history_size=history,
        tolerance_grad=-1, tolerance_change=-1, line_search_fn=ls,
    )  # fmt: skip
    evals: list[tuple[float, float]] = []
    searches: list[tuple[float, float, int]] = []
    start = time.perf_counter()
    loss_fn = objective()  # the targets: jaxstyle's stylize computes them inside its clock

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        evals.append((time.perf_counter() - start, loss.item() / loss_fn.scale))
        if ls is None and len(evals) > 1 and target is not None and evals[-1][1] <= target:
            raise Reached
        return loss

    search = torch_lbfgs._strong_wolfe

    def recorded(*a: Any, **k: Any) -> Any:
        out = search(*a, **k)
        searches.append((time.perf_counter() - start, float(out[0]) / loss_fn.scale, int(out[3])))
        if target is not None and searches[-1][1] <= target:
            raise Reached
        return out

    torch_lbfgs._strong_wolfe = recorded
    stopped = False
    try:
        opt.step(closure)
        if ls is None:
            closure()  # the last iterate's loss, as jaxstyle's last probe
    except Reached:
        stopped = True
    finally:
        torch_lbfgs._strong_wolfe = search
    seconds = time.perf_counter() - start
    curve = [(t, f, 1) for t, f in evals[1:]] if ls is None else searches
    times, losses, counts = (list(c) for c in zip(*curve, strict=True))
    out = {"seconds": seconds, "times": times, "losses": losses, "evaluations": counts}
    out.update(start_evaluations=1, stopped_at_target=stopped)
    return {**out, "initial_loss": evals[0][1], "final_loss": losses[-1]}


def torch_adam(
    tg: Any,
    objective: Any,
    x0: np.ndarray,
    pixel: np.ndarray,
    iterations: int,
    target: float | None = None,
) -> dict[str, Any]:
    """``iterations`` of ``torch.optim.Adam`` (lr :data:`ADAM_RATE` in pixel units),
    the loss of the iterate each step starts from recorded after it, as jaxstyle's Adam.

    The network input is ``pixel * v`` per channel (``pixel = scale / std``), and Adam
    steps ``v``: its step is free of the gradient's scale, so this is a step of
    ``ADAM_RATE`` pixel units in every channel. With ``target``, the run ends at the
    first iterate whose loss is at most it.
    """
    import torch

    k = torch.tensor(pixel, dtype=torch.float32, device=tg.DEVICE).reshape(1, -1, 1, 1)
    v = torch.tensor(x0, dtype=torch.float32, device=tg.DEVICE) / k
    v.requires_grad_(True)
    opt = torch.optim.Adam([v], lr=ADAM_RATE)
    times: list[float] = []
    losses: list[float] = []
    start = time.perf_counter()
    loss_fn = objective()  # the targets, inside the clock as for L-BFGS
    for _ in range(iterations):
        opt.zero_grad()
        loss = loss_fn(v * k)
        loss.backward()
        times.append(time.perf_counter() - start)
        losses.append(loss.item() / loss_fn.scale)
        if target is not None and losses[-1] <= target:
            break
        opt.step()
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "times": times, "losses": losses, "evaluations": [1] * len(losses)}
    out.update(start_evaluations=0, stopped_at_target=target is not None and losses[-1] <= target)
    return {**out, "initial_loss": losses[0], "final_loss": losses[-1]}


def run_torch(
    args: argparse.Namespace, content: np.ndarray, style: np.ndarray, rgb0: np.ndarray
) -> dict[str, Any]:
    """The job with ``benchmarks/torch_gatys.py`` (which honours a few ``--config`` keys)."""
    from benchmarks import torch_gatys as tg

    weights, meta = tg.load_npz(args.weights)
    o = {**objective_fields(args.overrides), **args.overrides}
    if (o.get("tv_weight", 0), o.get("pooling", "avg")) != (0, "avg"):
        raise SystemExit("torch_gatys has no TV term and avg pooling only")
    kw: dict[str, Any] = {"alpha": o.get("content_weight", o["ratio"]), "weighting": o["weighting"]}
    kw["beta"] = o.get("style_weight", 1.0)
    kw["scale"] = args.torch_loss_scale
    kw.update({k: tuple(filter(None, str(o[k]).split(","))) for k in o if k.endswith("_layers")})
    c, s = tg.preprocess(content, meta), tg.preprocess(style, meta)
    x0 = tg.preprocess(rgb0, meta).cpu().numpy()
    ls = "strong_wolfe" if args.framework == "torch-wolfe" else None
    if args.framework == "torch-adam" and args.job != "race":
        raise SystemExit("torch-adam runs the race job only")
    history = int(o.get("history_size") or 100)
    out: dict[str, Any] = {"line_search_fn": ls, "objective": kw, "history_size": history}
    out["start"] = "content" if args.init == "content" else "numpy"

    def objective() -> Any:
        return tg.Objective(weights, c, s, **kw)

    def lbfgs(iterations: int) -> Any:  # x0 copied: run_lbfgs writes into it on the CPU
        return tg.run_lbfgs(objective(), x0.copy(), iterations, ls, history)

    if args.job == "memory":
        trace = lbfgs(args.iterations)
        out.update(final_loss=trace.final_loss, evaluations=len(trace.losses))
        gpu = tg.torch.cuda.is_available()  # the device's peak, as jaxstyle's peak_bytes_in_use
        return {**out, "device_peak_bytes": tg.torch.cuda.max_memory_allocated() if gpu else None}
    t = time.perf_counter()
    if args.job == "race" and args.framework == "torch-adam":
        p = meta["preprocess"]
        pixel = np.float32(p["scale"]) / np.broadcast_to(np.asarray(p["std"], np.float32), 3)
        torch_adam(tg, objective, x0, pixel, 2)  # warm-up
        out["first_call_seconds"] = time.perf_counter() - t
        out.update(line_search_fn=None, history_size=None, learning_rate=ADAM_RATE)
        return {**out, **torch_adam(tg, objective, x0, pixel, args.iterations, args.target_loss)}
    if args.job == "race":  # warm-up (reported apart, as jaxstyle's compiling call)
        torch_curve(tg, objective, x0, 2, ls, history)
        out["first_call_seconds"] = time.perf_counter() - t
        curve = torch_curve(tg, objective, x0, args.iterations, ls, history, args.target_loss)
        return {**out, **curve}
    lbfgs(2)
    start = time.perf_counter()
    trace = lbfgs(args.iterations)
    seconds = time.perf_counter() - start
    out.update(seconds=seconds, seconds_per_iteration=seconds / max(trace.iterations, 1))
    out.update(final_loss=trace.final_loss, iterations_done=trace.iterations)
    return {**out, "evaluations": len(trace.losses)}


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
