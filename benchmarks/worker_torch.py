"""The worker's PyTorch side: one job with ``benchmarks/torch_gatys.py``.

torch's L-BFGS (its defaults, or strong Wolfe) and ``torch.optim.Adam``, recording the
loss after every iteration and the wall time at which it was known, as
:func:`benchmarks.worker.run_jax` does for jaxstyle.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks.objective import ADAM_RATE, Reached, objective_fields


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
