"""How much memory ``stylize`` needs at a size, read from XLA's own buffer assignment.

    python -m benchmarks.memory_plan --sizes 256,512,2048,4096 \\
        --precisions float32,bfloat16 --history 10,100 \\
        --json benchmarks/results/cpu_memory_plan.json

Compiles, without running, the two programs whose buffers dominate (the targets'
forward passes and the evaluation ``optimize.probe`` the default optimiser calls) for
the backend at hand, and reads ``compiled.memory_analysis()``: argument, output and
temporary bytes. The plan for a run is the probe's arguments + temporaries + outputs,
plus what ``jaxstyle.lbfgs`` keeps between evaluations: the history (``2 x history``
images) and four more images (gradient, direction, the best point and its gradient).
The targets program runs before the history exists and is reported on its own.

This is a plan, not a measurement: allocator overhead and the runtime are not in it.
On a CPU it is XLA:CPU's plan; run it on a GPU for XLA:GPU's (its temporaries include
the convolution workspaces). Nothing is allocated, so any size can be planned anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

GIB = 2**30


def plan(size: int, precision: str, history: tuple[int, ...]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    import jaxstyle
    from jaxstyle import optimize
    from jaxstyle.vgg import convs_reached, with_backward_kernels

    config = jaxstyle.Config(precision=precision)
    network = optimize.network_config(optimize.static_config([config]))
    plain = jax.eval_shape(lambda: jaxstyle.init_params(jax.random.key(0)))
    params = jax.eval_shape(
        lambda p: with_backward_kernels(
            p,
            layers=convs_reached(network.layers),
            winograd=optimize.winograd_layers(network, (size, size)),
            tile=optimize.winograd_tile(network),
        ),
        plain,
    )
    image = jax.ShapeDtypeStruct((size, size, 3), jnp.float32)
    pre = jaxstyle.CAFFE
    # As stylize: the targets from the plain params, the loop with the prepared ones.
    lowered = optimize._targets.lower(plain, image, image, network, pre)
    targets, made = lowered.out_info, lowered.compile()
    weights = optimize.loss_weights(config, network)
    tb, wb = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct((1, *a.shape), a.dtype), (targets, weights)
    )
    xb = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.float32)
    probe = optimize.probe.lower(xb, xb, t, params, tb, wb, network, pre).compile()

    def bytes_of(compiled: Any) -> dict[str, int]:
        m = compiled.memory_analysis()
        return {
            "arguments": int(m.argument_size_in_bytes),
            "outputs": int(m.output_size_in_bytes),
            "temporaries": int(m.temp_size_in_bytes),
        }

    image_bytes = size * size * 3 * 4
    p = bytes_of(probe)
    run = sum(p.values()) + 4 * image_bytes
    return {
        "size": size,
        "precision": precision,
        "targets_program": bytes_of(made),
        "probe_program": p,
        "probe_temporaries_per_pixel": p["temporaries"] / size**2,
        "plan_bytes": {str(h): run + 2 * h * image_bytes for h in history},
    }


def markdown(report: dict[str, Any]) -> str:
    from benchmarks import compare

    m = report["machine"]
    hs = report["history"]
    lines = [
        *compare.header(
            m,
            "Memory plan from XLA's buffer assignment",
            "Compiled, not run: a plan (no allocator overhead, no runtime), see "
            "`benchmarks/memory_plan.py`.",
            where=f"{m['backend']} ({m['device']})",
        ),
        "| size | precision | targets program (GiB) | probe temporaries (GiB, B/px) | "
        + " | ".join(f"plan, history {h} (GiB)" for h in hs)
        + " |",
        "|---|---|---|---|" + "---|" * len(hs),
    ]
    for r in report["plans"]:
        tg = sum(r["targets_program"].values()) / GIB
        tmp = r["probe_program"]["temporaries"] / GIB
        cells = " | ".join(f"{r['plan_bytes'][str(h)] / GIB:.2f}" for h in hs)
        lines.append(
            f"| {r['size']}² | {r['precision']} | {tg:.2f} | {tmp:.2f} "
            f"({r['probe_temporaries_per_pixel']:.0f}) | {cells} |"
        )
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """memory_plan's command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="256,512,2048,4096")
    p.add_argument("--precisions", default="float32,bfloat16")
    p.add_argument("--history", default="10,100")
    p.add_argument("--json", default="benchmarks/results/cpu_memory_plan.json")
    return p


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(sys.argv[1:] if argv is None else argv)
    from benchmarks import compare

    history = tuple(int(h) for h in a.history.split(","))
    plans = [
        plan(int(s), prec, history) for s in a.sizes.split(",") for prec in a.precisions.split(",")
    ]
    report = {"machine": compare.machine(), "history": list(history), "plans": plans}
    compare.write_report(Path(a.json), report, markdown(report))


if __name__ == "__main__":
    main()
