"""jaxstyle against PyTorch, side by side, in one run on one machine.

    python -m benchmarks.compare --sizes 128,256 --repeats 20 --iterations 100 \\
        --json benchmarks/results/cpu.json
    python -m benchmarks.compare --quick --json /tmp/quick.json     # CI: tiny, seconds

Measures, alternating the frameworks (jax, torch, jax, torch, ...) so that load on the
machine hits both alike:

1. ``evaluation``: seconds per loss+gradient evaluation at each size (median, quartiles
   over ``--repeats``), and how far the two losses and gradients differ;
2. ``quality``: torch's L-BFGS for ``--iterations`` iterations (``torch_gatys``), then
   each jaxstyle variant from the same starting image; the wall time at which jaxstyle
   first reaches torch's final loss, and evaluations per iteration for both;
3. ``compile``: in a fresh process with an empty persistent compilation cache (cold)
   and again with the cache it left (warm), every program ``stylize`` runs compiled
   ahead of time, and apart from that a real first ``stylize`` call, each program it
   compiled timed and counted;
4. ``memory``: a fresh process per framework and size; peak RSS above the process's
   baseline (CPU) or peak device memory (GPU), a linear fit in pixels, and the square
   size that fit predicts for this machine's memory (an extrapolation, said so).

Writes JSON, a markdown table (``.md``) and a loss-versus-time plot (``.png``) side by
side, each naming the machine, versions and flags. Speed is never asserted here.

Weights: random He-initialised VGG19 of the real shapes unless ``--weights`` is given;
speed does not depend on the values, and both frameworks read the same file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
#: JAX's event for one backend compile (or persistent-cache load), tagged ``fun_name``.
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
#: Seconds of idle before each timed call (see timed).
IDLE_S = 0.05
SLIM = (8, 16, 16, 24, 24)


#: What one run measures, in this order (``--skip`` leaves some out).
SECTIONS = ("evaluation", "quality", "compile", "memory")

# --- machine ---------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        # A lent GPU's image has no jaxopt; only the jaxopt variants need it.
        return "not installed"


def _commit() -> str:
    # A lent GPU gets the working tree without .git (and may have no git): gpu.sh's
    # caller names the commit in JAXSTYLE_COMMIT there.
    if os.environ.get("JAXSTYLE_COMMIT"):
        return os.environ["JAXSTYLE_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        out = ""
    return out or "unknown"


def machine() -> dict[str, Any]:
    """Where and with what the numbers were measured."""
    import jax
    import torch

    dev = jax.devices()[0]
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_total_gib(), 1),
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "torch_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            **{k: _version(k) for k in ("jax", "jaxlib", "flax", "optax", "jaxopt")},
            "torch": torch.__version__,
        },
        "flags": {
            k: os.environ.get(k, "") for k in ("XLA_FLAGS", "JAXSTYLE_XLA_FLAGS", "JAX_PLATFORMS")
        },
        "git_commit": _commit(),
        # Other processes sharing the cores skew the numbers: say how loaded it was.
        "load_average_at_start": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


# --- inputs ----------------------------------------------------------------------------


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:field=value,field=value"`` -> ``(name, overrides)`` for ``jaxstyle.Config``."""
    import jaxstyle

    name, _, body = text.partition(":")
    fields = {f.name: f for f in dataclasses.fields(jaxstyle.Config)}
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, eq, raw = item.partition("=")
        if not eq or key not in fields:
            known = ", ".join(sorted(fields))
            raise SystemExit(f"compare: error: bad variant item {item!r}; fields: {known}")
        default = getattr(jaxstyle.Config, key)
        value: Any = raw
        if raw == "None":
            value = None
        elif isinstance(default, bool):
            value = raw.lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            value = int(raw)
        elif isinstance(default, float):
            value = float(raw)
        elif default is None:  # optional numbers (weights, history_size) or linesearch
            for kind in (int, float):
                try:
                    value = kind(raw)
                    break
                except ValueError:
                    continue
        overrides[key] = value
    return name or body or "default", overrides


def make_weights(path: Path, quick: bool, seed: int = 0) -> None:
    import jax

    import jaxstyle
    from jaxstyle.weights import WeightsMeta

    widths = SLIM if quick else None
    params = jaxstyle.init_params(jax.random.key(seed), *(() if widths is None else (widths,)))
    meta = WeightsMeta(source="random", preprocess=jaxstyle.CAFFE, normalised=False)
    jaxstyle.save_weights(path, params, meta)


def paper_config(**overrides: Any) -> Any:
    """A ``jaxstyle.Config`` on the objective ``torch_gatys`` computes: the paper's
    literal equations (``weighting="paper"``, alpha/beta 1e-3), so that both frameworks
    minimise the same loss."""
    import jaxstyle

    return jaxstyle.Config(**{"weighting": "paper", **overrides})


def images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The bundled Tuebingen photo and Starry Night, resized to ``size`` x ``size``."""
    import jax.numpy as jnp

    import jaxstyle
    from jaxstyle.optimize import resize

    out = []
    for name in ("tubingen.jpg", "starry_night.jpg"):
        rgb = jnp.asarray(jaxstyle.load_image(jaxstyle.bundled(name), 2 * size))
        out.append(np.asarray(resize(rgb, size, size), np.float32))
    return out[0], out[1]


def _stats(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return {
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(np.min(xs)),
        "n": len(xs),
    }


# --- 1. evaluation ---------------------------------------------------------------------


def timed(fn: Callable[[], Any], times: list[float], idle: float = IDLE_S) -> None:
    """Calls ``fn`` after ``idle`` seconds of idle and appends its wall time to ``times``.

    Why the idle: torch's OpenMP workers (and XLA's Eigen threads, less so) spin for
    milliseconds after their work, taking a core from whatever is timed next. A GPU
    needs none (its clocks may even drop in it): pass ``idle=0`` there.
    """
    time.sleep(idle)
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)


def evaluation_inputs(
    weights_path: Path, size: int, config: Any = None, variants: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One loss+gradient evaluation's inputs in both frameworks, from one weights file.

    Args:
        config: the ``jaxstyle.Config`` whose network is measured (default: the default).
        variants: further ``jaxstyle.Config`` s by name, measured at the same image.

    Returns:
        ``probe_args``: the arguments of ``optimize.probe`` as ``stylize`` passes them
        per evaluation (params as ``optimize.prepare_params`` makes them for
        ``config``, a batch of one), at the
        content photo plus noise; ``variant_probe_args``: the same per variant;
        ``objective`` and ``x_torch``: torch's objective and the same image in its
        layout.
    """
    import jax
    import jax.numpy as jnp

    import jaxstyle
    from benchmarks import torch_gatys as tg
    from jaxstyle import optimize

    params, meta = jaxstyle.load_weights(weights_path)
    content, style = images(size)
    rng = np.random.default_rng(size)
    rgb = np.clip(content + 0.1 * rng.standard_normal(content.shape), 0, 1).astype(np.float32)
    x = meta.preprocess.apply(jnp.asarray(rgb))[None]
    t = jnp.zeros((1,), jnp.float32)

    def probe_args(item: Any) -> tuple[Any, ...]:
        static = optimize.static_config([item])
        targets = optimize.make_targets(
            params, jnp.asarray(content), jnp.asarray(style), static, meta.preprocess
        )
        # As stylize: the targets from the plain params, then the prepared ones.
        prepared = optimize.prepare_params(params, static, (size, size))
        batch = jax.tree.map(lambda a: a[None], (targets, optimize.loss_weights(item, static)))
        return (x, jnp.zeros_like(x), t, prepared, *batch, static, meta.preprocess)

    tw, tmeta = tg.load_npz(str(weights_path))
    return {
        "probe_args": probe_args(paper_config() if config is None else config),
        "variant_probe_args": {name: probe_args(c) for name, c in (variants or {}).items()},
        "objective": tg.Objective(tw, tg.preprocess(content, tmeta), tg.preprocess(style, tmeta)),
        "x_torch": tg.preprocess(rgb, tmeta).cpu().numpy(),
    }


def bench_evaluation(
    weights_path: Path,
    size: int,
    repeats: int,
    variants: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Seconds per loss+gradient evaluation: jaxstyle's default config, each jaxstyle
    ``variant`` and torch, alternated call by call; each jaxstyle program's loss and
    gradient are compared with torch's."""
    import jax
    import torch

    from benchmarks import torch_gatys as tg
    from jaxstyle import optimize

    configs = {name: paper_config(**overrides) for name, overrides in variants or []}
    inputs = evaluation_inputs(weights_path, size, variants=configs)
    objective, x_torch = inputs["objective"], inputs["x_torch"]
    probe_args = {"jax": inputs["probe_args"]}
    probe_args |= {f"jax {n}": a for n, a in inputs["variant_probe_args"].items()}

    def vg(name: str) -> tuple[float, jax.Array]:
        x, d, t, *rest = probe_args[name]
        _, value, grad, slope, _ = optimize.probe(x, d, t, *rest)
        float(slope[0])
        return float(value[0]), grad[0]

    for name in probe_args:
        jax.block_until_ready(vg(name))  # compile outside the timing
    tg.value_and_grad(objective, x_torch)
    times: dict[str, list[float]] = {name: [] for name in [*probe_args, "torch"]}

    def torch_call() -> None:
        tg.value_and_grad(objective, x_torch)
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    idle = IDLE_S if jax.default_backend() == "cpu" else 0.0
    for _ in range(repeats):
        for name in probe_args:
            timed(lambda name=name: jax.block_until_ready(vg(name)), times[name], idle)
        timed(torch_call, times["torch"], idle)
    vt, gt = tg.value_and_grad(objective, x_torch)

    def against_torch(name: str) -> dict[str, Any]:
        vj, gj = vg(name)
        gj = np.asarray(gj).transpose(2, 0, 1)[None]
        return {
            "s": _stats(times[name]),
            "ratio_over_torch": float(np.median(times[name]) / np.median(times["torch"])),
            "ratio_over_default": float(np.median(times[name]) / np.median(times["jax"])),
            "loss_rel_diff": abs(float(vj) - vt) / abs(vt),
            "grad_rel_diff": float(np.linalg.norm(gj - gt) / np.linalg.norm(gt)),
        }

    default = against_torch("jax")
    return {
        "size": size,
        "jax_s": default["s"],
        "torch_s": _stats(times["torch"]),
        "ratio_jax_over_torch": default["ratio_over_torch"],
        "loss_rel_diff": default["loss_rel_diff"],
        "grad_rel_diff": default["grad_rel_diff"],
        "variants": {
            name.removeprefix("jax "): against_torch(name) for name in probe_args if name != "jax"
        },
    }


# --- 2. time to quality ----------------------------------------------------------------


def _iteration_times(chunk_ends: list[tuple[int, float]]) -> np.ndarray:
    """Wall time of each iteration, linear within each chunk between callbacks."""
    out: list[float] = []
    prev_n, prev_t = 0, 0.0
    for n, t in chunk_ends:
        steps = n - prev_n
        out += [prev_t + (k + 1) / steps * (t - prev_t) for k in range(steps)]
        prev_n, prev_t = n, t
    return np.asarray(out)


def _race(
    content: np.ndarray,
    style: np.ndarray,
    params: Any,
    preprocess: Any,
    config: Any,
    key: Any,
    reference: Any,
) -> dict[str, Any]:
    """One jaxstyle config from ``key``'s start: a first call (compiling), then a timed
    one, with the iteration and time at which its loss first reached ``torch``'s final
    loss (``reference``: ``torch_gatys.run_lbfgs``'s trace)."""
    import jaxstyle

    t0 = time.perf_counter()
    jaxstyle.stylize(content, style, params, preprocess, config, key=key)
    first = time.perf_counter() - t0
    ends: list[tuple[int, float]] = []
    start = time.perf_counter()

    def record(n: int, _img: Any, _h: Any) -> None:
        ends.append((n, time.perf_counter() - start))

    out = jaxstyle.stylize(content, style, params, preprocess, config, key=key, callback=record)
    seconds = time.perf_counter() - start
    times = _iteration_times(ends)
    losses = out.history.total
    hit = np.flatnonzero(losses <= reference.final_loss)
    return {
        "first_call_s": first,
        "seconds": seconds,
        "final_loss": float(losses[-1]),
        "evaluations_per_iteration": float(np.mean(out.history.evaluations)),
        "iterations_to_torch_loss": int(hit[0]) + 1 if hit.size else None,
        "seconds_to_torch_loss": float(times[hit[0]]) if hit.size else None,
        "ratio_to_torch_time": float(times[hit[0]] / reference.seconds) if hit.size else None,
        "curve": {"t": times.tolist(), "loss": losses.tolist()},
    }


def bench_quality(
    weights_path: Path,
    size: int,
    iterations: int,
    variants: list[tuple[str, dict[str, Any]]],
    seed: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Torch's L-BFGS for ``iterations`` from jaxstyle's noise start, then each jaxstyle
    ``variant`` from the same start: when it reached torch's final loss. ``progress``
    gets the result so far after torch and after each variant."""
    import jax
    import jax.numpy as jnp

    import jaxstyle
    from benchmarks import torch_gatys as tg
    from jaxstyle import optimize

    params, meta = jaxstyle.load_weights(weights_path)
    content, style = images(size)
    tw, tmeta = tg.load_npz(str(weights_path))
    objective = tg.Objective(tw, tg.preprocess(content, tmeta), tg.preprocess(style, tmeta))
    key = jax.random.key(seed)
    x0 = optimize.initial_image(
        jnp.asarray(content), jnp.asarray(style), paper_config(), meta.preprocess, key
    )
    trace = tg.run_lbfgs(objective, np.asarray(x0).transpose(2, 0, 1)[None], iterations)
    target = trace.final_loss
    result: dict[str, Any] = {
        "size": size,
        "iterations": iterations,
        "seed": seed,
        "init": f"noise (jaxstyle's, seed {seed}; torch starts from the same array)",
        "torch": {
            "seconds": trace.seconds,
            "final_loss": target,
            "evaluations_per_iteration": trace.evaluations_per_iteration,
            "curve": {"t": trace.times, "loss": trace.losses},
        },
        "jax": {},
    }
    for name, overrides in variants:
        if progress is not None:
            progress(result)
        config = paper_config(
            **{"iterations": iterations, "chunk_size": 5, "init": "noise", **overrides}
        )
        try:
            race = _race(content, style, params, meta.preprocess, config, key, trace)
        except Exception as e:
            # A first run on a new backend (a lent GPU, once): record the failure and
            # race the other variants.
            race = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
        result["jax"][name] = {"config": overrides, **race}
    return result


# --- 3./4. probes in fresh processes ---------------------------------------------------


def _probe(kind: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.compare", "--probe", kind, *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def run_probe(kind: str, rest: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--framework", default="jax")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--config", default="{}", help="jaxstyle.Config overrides, JSON")
    a = p.parse_args(rest)
    import jax

    import jaxstyle

    content, style = images(a.size)
    config = paper_config(
        **{"iterations": a.iterations, "chunk_size": a.iterations, "init": "content"},
        **json.loads(a.config),
    )
    if kind == "compile":
        import jax.numpy as jnp

        from jaxstyle import optimize
        from jaxstyle.vgg import convs_reached

        # Each program stylize needs, compiled ahead of time and timed alone: the run
        # time of the first L-BFGS iterations (up to ~20 evaluations) is not compile.
        t_import = time.perf_counter()
        params, meta = jaxstyle.load_weights(a.weights)
        static = optimize.static_config([config])
        w = optimize.loss_weights(config, static)
        c, s = jnp.asarray(content), jnp.asarray(style)
        parts = {}
        t0 = time.perf_counter()
        network = optimize.network_config(static)  # what stylize keys these two on
        make = optimize._targets.lower(params, c, s, network, meta.preprocess).compile()
        parts["targets"] = time.perf_counter() - t0
        targets = jax.block_until_ready(make(params, c, s))
        t0 = time.perf_counter()
        kernels = {n: params[n]["kernel"] for n in convs_reached(static.layers)}
        optimize._prepared_kernels.lower(
            kernels,
            winograd=optimize.winograd_layers(static, (a.size, a.size)),
            tile=optimize.winograd_tile(static),
        ).compile()
        parts["kernels"] = time.perf_counter() - t0
        params = jax.block_until_ready(optimize.prepare_params(params, static, (a.size, a.size)))
        x0 = meta.preprocess.apply(c)
        if static.optimizer == "lbfgs":
            from jaxstyle import lbfgs

            # One probe program for every evaluation, two small ones for the memory.
            xb, tb, wb = jax.tree.map(lambda v: v[None], (x0, targets, w))
            t = jnp.zeros((1,), jnp.float32)
            t0 = time.perf_counter()
            optimize.probe.lower(xb, xb, t, params, tb, wb, network, meta.preprocess).compile()
            parts["probe"] = time.perf_counter() - t0
            memory = lbfgs.init_memory(xb, static.history_size)
            t0 = time.perf_counter()
            lbfgs.direction.lower(memory, xb).compile()
            lbfgs.push.lower(memory, xb, xb, jnp.zeros((1,), bool)).compile()
            parts["direction_push"] = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            state = jax.block_until_ready(
                optimize.init_state(x0, params, targets, static, meta.preprocess, w)
            )
            parts["init_state"] = time.perf_counter() - t0
            step = optimize.run_step if optimize.host_loop(static) else optimize.run_chunk
            args = (state, params, targets)
            args += () if step is optimize.run_step else (jnp.int32(1),)
            t0 = time.perf_counter()
            step.lower(*args, static, meta.preprocess, w).compile()
            parts[step.__name__] = time.perf_counter() - t0
        total = time.perf_counter() - t_import
        print(json.dumps({"compile_s": sum(parts.values()), "parts": parts, "load_s": total}))
        return
    if kind == "first_call":
        # What a user's first call pays: one stylize iteration, every program it compiles
        # (or loads from the persistent cache) timed by JAX itself, by name, so a
        # program compiled twice shows as twice.
        from jax import monitoring

        params, meta = jaxstyle.load_weights(a.weights)
        programs: dict[str, list[float]] = {}

        def listen(event: str, seconds: float, **kwargs: Any) -> None:
            if event == BACKEND_COMPILE_EVENT:
                name = str(kwargs.get("fun_name", "?"))  # "jit(probe)"
                name = name[4:-1] if name.startswith("jit(") else name
                programs.setdefault(name, []).append(seconds)

        monitoring.register_event_duration_secs_listener(listen)
        one = dataclasses.replace(config, iterations=1, chunk_size=1)
        t0 = time.perf_counter()
        jaxstyle.stylize(content, style, params, meta.preprocess, one)
        wall = time.perf_counter() - t0
        named = {n: {"count": len(v), "seconds": sum(v)} for n, v in programs.items()}
        compile_s = sum(sum(v) for v in programs.values())
        print(json.dumps({"wall_s": wall, "compile_s": compile_s, "programs": named}))
        return
    if a.framework == "jax":
        gpu = jax.default_backend() != "cpu"
        params, meta = jaxstyle.load_weights(a.weights)

        def run() -> None:
            jaxstyle.stylize(content, style, params, meta.preprocess, config)

    else:
        import torch

        from benchmarks import torch_gatys as tg

        gpu = torch.cuda.is_available()
        tw, tmeta = tg.load_npz(a.weights)
        c, s = (tg.preprocess(img, tmeta) for img in (content, style))

        def run() -> None:
            tg.run_lbfgs(tg.Objective(tw, c, s), c.cpu().numpy(), a.iterations)

    # One run, from after imports and loading, with jax's programs already in the
    # persistent cache (see bench_memory). A second run in the same process would read
    # less: both allocators keep and reuse what the first run freed.
    base = 0 if gpu else _rss_kib("VmRSS")
    run()
    if not gpu:
        peak = (_rss_kib("VmHWM") - base) * 1024
    elif a.framework == "jax":
        peak = (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0)
    else:
        peak = torch.cuda.max_memory_allocated()
    kind = "device_peak" if gpu else "rss_peak_above_baseline"
    print(json.dumps({"peak_bytes": int(peak), "kind": kind}))


def bench_compile(
    weights_path: Path,
    size: int,
    home: str,
    variants: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Cold: ``home``'s cache is empty (this runs first); warm: what the cold run left.

    Twice: every program ahead of time, timed alone (``cold``, ``warm``), and a real
    first ``stylize`` call with its own cache (``first_call``), which also counts how
    often each program was compiled. The same for each jaxstyle ``variant``, in a
    cache of its own.
    """

    def runs(config: dict[str, Any], home: Path) -> dict[str, Any]:
        env = {"JAXSTYLE_HOME": str(home), "JAXSTYLE_COMPILATION_CACHE": "1"}
        args = ("--weights", str(weights_path), "--size", str(size), "--config", json.dumps(config))
        out = {k: _probe("compile", *args, env=env) for k in ("cold", "warm")}
        env = {**env, "JAXSTYLE_HOME": str(home / "first_call")}
        out["first_call"] = {k: _probe("first_call", *args, env=env) for k in ("cold", "warm")}
        return out

    report = {"size": size, **runs({}, Path(home))}
    report["variants"] = {
        name: runs(config, Path(home) / f"variant-{i}")
        for i, (name, config) in enumerate(variants or [])
    }
    return report


def bench_memory(
    weights_path: Path,
    sizes: list[int],
    available: float,
    home: str,
    iterations: int = 3,
    variants: list[tuple[str, dict[str, Any]]] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    frameworks: Sequence[str] = ("jax", "torch"),
) -> dict[str, Any]:
    """Peak memory per size: jaxstyle's default and torch (``frameworks``), then each
    jaxstyle ``variant``. ``progress`` gets the result so far after each of them."""
    out: dict[str, Any] = {"sizes": sizes, "iterations": iterations, "variants": {}}
    env = {"JAXSTYLE_HOME": home, "JAXSTYLE_COMPILATION_CACHE": "1"}
    runs = [(fw, fw, {}) for fw in frameworks]
    runs += [(f"jax {name}", "jax", cfg) for name, cfg in variants or []]
    for label, framework, cfg in runs:
        rows = []
        args = ["--weights", str(weights_path), "--config", json.dumps(cfg)]
        for size in sizes:
            if framework == "jax":
                # Prime the shared compilation cache, so that the measured process loads
                # the program instead of compiling it (XLA's compile memory is not the
                # program's).
                _probe("compile", *args, "--size", str(size), env=env)
            r = _probe(
                "memory",
                *args,
                "--size",
                str(size),
                "--framework",
                framework,
                "--iterations",
                str(iterations),
                # torch's process resizes its images with jax: on the CPU, or JAX would
                # take 75 % of the GPU's memory first and leave torch the rest.
                env=env if framework == "jax" else {**env, "JAX_PLATFORMS": "cpu"},
            )
            rows.append({"size": size, **r})
        fit = None
        good = [r for r in rows if "peak_bytes" in r]
        if len(good) >= 2:
            px = np.array([r["size"] ** 2 for r in good], float)
            b = np.array([r["peak_bytes"] for r in good], float)
            slope, icpt = np.polyfit(px, b, 1)
            side = int(np.sqrt(max(available - icpt, 0) / slope)) if slope > 0 else None
            fit = {
                "bytes_per_pixel": slope,
                "intercept_bytes": icpt,
                "extrapolated_max_square": side,
                "note": "linear fit in pixels, extrapolated to this machine's available memory",
            }
        entry = {"runs": rows, "fit": fit, "config": cfg}
        if label in ("jax", "torch"):
            out[label] = entry
        else:
            out["variants"][label] = entry
        if progress is not None:
            progress(out)
    return out


# --- report ----------------------------------------------------------------------------


def _fmt(x: float | None, unit: str = "") -> str:
    return "—" if x is None else f"{x:.3g}{unit}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# jaxstyle vs PyTorch — {m['device']} ({m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB), {m['date']}",
        "",
        f"jax {m['versions']['jax']}, torch {m['versions']['torch']}, optax "
        f"{m['versions']['optax']}, jaxopt {m['versions']['jaxopt']}; XLA_FLAGS="
        f"`{m['flags']['XLA_FLAGS']}`; commit {m['git_commit']}; weights: {report['weights']}.",
        f"Command: `{m['command']}`. Load average (1/5/15 min) at start "
        f"{m['load_average_at_start']}, at end {m.get('load_average_at_end')}.",
    ]
    done = report.get("done", [])
    if done and done[-1] != "all":
        lines += ["", f"**Partial: the run stopped after {done[-1]}** ({', '.join(done)})."]
    if report["evaluation"]:
        lines += [
            "",
            "## Seconds per loss+gradient evaluation (median [q1, q3])",
            "",
            "| size | jaxstyle | torch | jax / torch | loss rel. diff | grad rel. diff |",
            "|---|---|---|---|---|---|",
        ]
    for r in report["evaluation"]:
        j, t = r["jax_s"], r["torch_s"]
        lines.append(
            f"| {r['size']}² | {j['median']:.3f} [{j['q1']:.3f}, {j['q3']:.3f}] | "
            f"{t['median']:.3f} [{t['q1']:.3f}, {t['q3']:.3f}] | "
            f"{r['ratio_jax_over_torch']:.2f} | {r['loss_rel_diff']:.1e} | "
            f"{r['grad_rel_diff']:.1e} |"
        )
    variant_rows = [
        (r, n, v) for r in report["evaluation"] for n, v in r.get("variants", {}).items()
    ]
    if variant_rows:
        lines += [
            "",
            "Variants, timed in the same alternation (`--evaluation-variant`):",
            "",
            "| size | jaxstyle variant | seconds | / torch | / default | loss rel. diff "
            "| grad rel. diff |",
            "|---|---|---|---|---|---|---|",
        ]
        for r, name, v in variant_rows:
            s = v["s"]
            lines.append(
                f"| {r['size']}² | {name} | {s['median']:.3f} [{s['q1']:.3f}, {s['q3']:.3f}] "
                f"| {v['ratio_over_torch']:.2f} | {v['ratio_over_default']:.2f} "
                f"| {v['loss_rel_diff']:.1e} | {v['grad_rel_diff']:.1e} |"
            )
    for q in report["quality"]:
        t = q["torch"]
        lines += [
            "",
            f"## Time to torch's loss after {q['iterations']} iterations, {q['size']}², "
            f"seed {q.get('seed', 0)} (torch: {t['seconds']:.1f} s, "
            f"{t['evaluations_per_iteration']:.2f} "
            f"evaluations/iteration, final loss {t['final_loss']:.4g})",
            "",
            "| jaxstyle variant | first call (s) | iterations to torch's loss | seconds "
            "| x torch's time | evaluations / iteration | loss after "
            f"{q['iterations']} it. |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, j in q["jax"].items():
            if "error" in j:
                lines.append(f"| {name} `{j['config']}` | error: {j['error']} | | | | | |")
                continue
            lines.append(
                f"| {name} `{j['config']}` | {j['first_call_s']:.1f} | "
                f"{j['iterations_to_torch_loss'] or 'not reached'} | "
                f"{_fmt(j['seconds_to_torch_loss'])} | {_fmt(j['ratio_to_torch_time'])} | "
                f"{j['evaluations_per_iteration']:.2f} | {j['final_loss']:.4g} |"
            )
    lines += _quality_summary_table(report["quality"])
    c = report.get("compile")
    if c:
        lines += [
            "",
            f"## Compiling stylize's programs in a fresh process, {c['size']}²",
            "",
            "Programs are compiled ahead of time and timed alone (loading them from the "
            "cache when warm), except optax/jaxopt's `init_state`, which is timed as a "
            "first call (compile and run).",
            "",
            "| cache | per program (s) | total (s) |",
            "|---|---|---|",
        ]
        runs = [("", c), *((f"{n}: ", v) for n, v in c.get("variants", {}).items())]
        for label, run in runs:
            for k in ("cold", "warm"):
                r = run[k]
                if "error" in r:
                    lines.append(f"| {label}{k} | error: {r['error']} | |")
                    continue
                parts = ", ".join(f"`{n}` {v:.2f}" for n, v in r["parts"].items())
                lines.append(f"| {label}{k} | {parts} | {r['compile_s']:.2f} |")
        lines += [
            "",
            "A real first call, `stylize` for one iteration in a fresh process with its own "
            "cache: every program it compiled (cold) or loaded from the cache (warm), as "
            "JAX times them, with how often; programs under 0.05 s are summed.",
            "",
            "| cache | programs (s) | compile total (s) | whole call, with its iteration (s) |",
            "|---|---|---|---|",
        ]
        for label, run in runs:
            for k, r in run.get("first_call", {}).items():
                if "error" in r:
                    lines.append(f"| {label}{k} | error: {r['error']} | | |")
                    continue
                big = {n: p for n, p in r["programs"].items() if p["seconds"] >= 0.05}
                small = [p for n, p in r["programs"].items() if n not in big]
                repeat = {n: f" x{p['count']}" if p["count"] > 1 else "" for n, p in big.items()}
                cells = [f"`{n}`{repeat[n]} {p['seconds']:.2f}" for n, p in big.items()]
                if small:
                    count = sum(p["count"] for p in small)
                    cells.append(f"{count} more {sum(p['seconds'] for p in small):.2f}")
                lines.append(
                    f"| {label}{k} | {', '.join(cells)} | {r['compile_s']:.2f} | "
                    f"{r['wall_s']:.1f} |"
                )
    mem = report.get("memory")
    if mem:
        n = mem.get("iterations", 3)
        lines += ["", f"## Peak memory (MiB) of {n} L-BFGS iterations", ""]
        if n <= 100:
            lines += [
                "jaxstyle's history (100 pairs by default) is allocated in full at the start; "
                f"torch's grows by one pair per iteration, so after {n} iterations it holds "
                f"at most {n}.",
                "",
            ]
        lines.append("| framework | " + " | ".join(f"{s}²" for s in mem["sizes"]) + " | fit |")
        lines.append("|---|" + "---|" * (len(mem["sizes"]) + 1))
        rows = {k: mem[k] for k in ("jax", "torch") if k in mem} | mem.get("variants", {})
        for fw, entry in rows.items():
            cells = [
                f"{r['peak_bytes'] / 2**20:.0f}" if "peak_bytes" in r else "error"
                for r in entry["runs"]
            ]
            fit = entry["fit"]
            note = (
                f"{fit['bytes_per_pixel']:.0f} B/px; largest square ≈ "
                f"{fit['extrapolated_max_square']} px (extrapolated)"
                if fit
                else "—"
            )
            label = f"{fw} `{entry['config']}`" if entry.get("config") else fw
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines) + "\n"


def quality_summary(quality: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size and variant, the time-to-quality ratio over the seeds' runs."""
    out = []
    for size in sorted({q["size"] for q in quality}):
        sized = [q for q in quality if q["size"] == size]
        for name in sized[0]["jax"]:
            # A run stopped at a time limit lacks its last variants: summarise those over
            # the runs that have them.
            runs = [q for q in sized if name in q["jax"]]
            ratios = [q["jax"][name].get("ratio_to_torch_time") for q in runs]
            hit = [r for r in ratios if r is not None]
            out.append(
                {
                    "size": size,
                    "variant": name,
                    "seeds": [q.get("seed", 0) for q in runs],
                    "ratios": ratios,
                    "reached": len(hit),
                    # A run that never reached torch's loss counts as slower than any
                    # that did: the median is taken with those as +inf.
                    "median_ratio": float(np.median([np.inf if r is None else r for r in ratios])),
                }
            )
    return out


def _quality_summary_table(quality: list[dict[str, Any]]) -> list[str]:
    if len({q.get("seed", 0) for q in quality}) < 2:
        return []
    lines = [
        "",
        "## Time to quality over seeds (jaxstyle's time / torch's, each seed its own torch run)",
        "",
        "| size | variant | per seed | reached | median |",
        "|---|---|---|---|---|",
    ]
    for row in quality_summary(quality):
        per = ", ".join(f"{s}: {_fmt(r)}" for s, r in zip(row["seeds"], row["ratios"], strict=True))
        med = row["median_ratio"]
        lines.append(
            f"| {row['size']}² | {row['variant']} | {per} | {row['reached']}/"
            f"{len(row['ratios'])} | {'not reached' if med == np.inf else f'{med:.3f}'} |"
        )
    return lines


def header(m: dict[str, Any], title: str, how: str, *, where: str | None = None) -> list[str]:
    """A report's first lines: title, machine, date, versions, commit, flags, command.

    ``where`` names the machine (default: CPU model and cores); ``how`` says what each
    number is.
    """
    where = where or f"{m['cpu']}, {m['cores']} cores"
    return [
        f"# {title} — {where}, {m['date']}",
        "",
        f"jax {m['versions']['jax']}, torch {m['versions']['torch']}; commit "
        f"{m['git_commit']}; XLA_FLAGS=`{m['flags']['XLA_FLAGS']}`. Command: "
        f"`{m['command']}`. {how}",
        "",
    ]


def write_report(out: Path, report: dict[str, Any], table: str, *, echo: bool = True) -> None:
    """Writes ``out`` (JSON) and its ``.md`` table beside it, each atomically; prints the
    table if ``echo``."""
    from jaxstyle.files import atomic_write

    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1)))
    atomic_write(out.with_suffix(".md"), lambda tmp: Path(tmp).write_text(table))
    if echo:
        print(table)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = report["quality"]
    fig, axes = plt.subplots(1, len(qs), figsize=(6 * len(qs), 4.5), squeeze=False)
    for ax, q in zip(axes[0], qs, strict=True):
        t = q["torch"]["curve"]
        ax.plot(t["t"], t["loss"], "k-", label="torch LBFGS (lr=1, no line search)")
        for name, j in q["jax"].items():
            if "curve" in j:  # not a variant that failed
                ax.plot(j["curve"]["t"], j["curve"]["loss"], label=f"jaxstyle {name}")
        ax.axhline(q["torch"]["final_loss"], color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("total loss")
        ax.set_title(f"{q['size']}², seed {q.get('seed', 0)}, {q['iterations']} torch iterations")
        ax.legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(
        f"{m['device']} — {m['cpu']}, {m['cores']} cores; jax {m['versions']['jax']}, "
        f"torch {m['versions']['torch']}",
        fontsize=9,
    )
    fig.tight_layout()
    from jaxstyle.files import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


# --- main ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    """compare's command line (``benchmarks/gpu.sh``'s stages are checked against it)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="128,256")
    p.add_argument("--quality-sizes", default=None, help="default: the largest of --sizes")
    p.add_argument("--memory-sizes", default=None, help="default: --sizes")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument(
        "--seeds",
        default="0",
        help="comma list of noise seeds for time to quality; each gets its own torch run "
        "(torch's path, and so its final loss, depends on the start)",
    )
    p.add_argument("--weights", default=None, help="a jaxstyle .npz (default: random)")
    p.add_argument(
        "--variant",
        action="append",
        default=None,
        help='jaxstyle config to race, "name:field=value,..." (repeatable)',
    )
    p.add_argument(
        "--evaluation-variant",
        action="append",
        default=None,
        help='a further jaxstyle config for the per-evaluation timing, "name:field=value,..."',
    )
    p.add_argument(
        "--compile-variant",
        action="append",
        default=None,
        help='a further jaxstyle config for the compile runs, "name:field=value,..."',
    )
    p.add_argument(
        "--memory-iterations",
        type=int,
        default=3,
        help="iterations per memory run; past the history size (100) both frameworks hold "
        "a full L-BFGS history",
    )
    p.add_argument(
        "--memory-variant",
        action="append",
        default=None,
        help='a further jaxstyle config for the memory runs, "name:field=value,..."',
    )
    p.add_argument(
        "--memory-frameworks",
        choices=["jax,torch", "jax", "torch"],
        default="jax,torch",
        help="the baselines the memory runs measure, before any --memory-variant",
    )
    p.add_argument("--skip", default="", help=f"comma list of {','.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="tiny CI run: proves it works")
    p.add_argument("--json", default=str(RESULTS / "cpu.json"))
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        run_probe(argv[1], argv[2:])
        return
    # This process measures first calls itself: keep it off any warm user cache (set
    # before jaxstyle is first imported). Probes get their own, fresh cache directory.
    os.environ["JAXSTYLE_COMPILATION_CACHE"] = "0"
    a = parser().parse_args(argv)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if a.quick:
        a.sizes, a.repeats, a.iterations, a.seeds = "32", 2, 3, "0,1"
    sizes = [int(s) for s in a.sizes.split(",")]
    quality_sizes = [int(s) for s in (a.quality_sizes or str(max(sizes))).split(",")]
    memory_sizes = [int(s) for s in (a.memory_sizes or a.sizes).split(",")]
    if a.quick:
        memory_sizes = [32]  # one size: no fit, but every code path runs
    variants = [parse_variant(v) for v in (a.variant or ["default:"])]
    seeds = [int(s) for s in a.seeds.split(",")]
    skip = set(filter(None, a.skip.split(",")))
    if skip - set(SECTIONS):
        parser().error(f"--skip takes {','.join(SECTIONS)}, not {','.join(sorted(skip))}")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "weights": a.weights
        or ("random slim VGG19 (quick)" if a.quick else "random He-init, real VGG19 shapes"),
        "evaluation": [],
        "quality": [],
        "done": [],
    }

    def save(section: str) -> None:
        # After every section, so that a run stopped at a time limit (a lent GPU's
        # lease, a Colab session) still leaves what it measured, marked partial.
        report["done"].append(section)
        report["quality_summary"] = quality_summary(report["quality"])
        report["machine"]["load_average_at_end"] = list(os.getloadavg())
        write_report(out, report, markdown(report), echo=section == "all")
        if section.startswith("quality") and report["quality"][-1]["jax"]:
            plot(report, out.with_suffix(".png"))

    with tempfile.TemporaryDirectory() as tmp:
        weights_path = Path(a.weights) if a.weights else Path(tmp) / "random.npz"
        if not a.weights:
            make_weights(weights_path, a.quick)
        if "evaluation" not in skip:
            variants_e = [parse_variant(v) for v in a.evaluation_variant or []]
            for s in sizes:
                report["evaluation"].append(
                    bench_evaluation(weights_path, s, a.repeats, variants_e)
                )
                save(f"evaluation {s}")
        if "quality" not in skip:

            def progress(q: dict[str, Any]) -> None:
                # bench_quality hands over one dict per race, filled in as it goes.
                if not report["quality"] or report["quality"][-1] is not q:
                    report["quality"].append(q)
                save(f"quality {q['size']} seed {q['seed']}: torch, {len(q['jax'])} jax")

            for s in quality_sizes:
                for seed in seeds:
                    progress(bench_quality(weights_path, s, a.iterations, variants, seed, progress))
        if "compile" not in skip:
            report["compile"] = bench_compile(
                weights_path,
                max(sizes),
                tmp,
                [parse_variant(v) for v in a.compile_variant or []],
            )
            save("compile")
        if "memory" not in skip:
            import jax

            available = (
                (jax.devices()[0].memory_stats() or {}).get("bytes_limit", 0)
                if jax.default_backend() != "cpu"
                else _mem_total_gib() * 2**30
            )

            def memory_progress(m: dict[str, Any]) -> None:
                report["memory"] = m
                done = [k for k in ("jax", "torch") if k in m] + list(m["variants"])
                save(f"memory: {', '.join(done)}")

            bench_memory(
                weights_path,
                memory_sizes,
                float(available),
                tmp,
                a.memory_iterations,
                [parse_variant(v) for v in a.memory_variant or []],
                memory_progress,
                a.memory_frameworks.split(","),
            )
    save("all")


if __name__ == "__main__":
    main()
