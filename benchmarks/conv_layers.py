"""Where an evaluation's time goes: each VGG19 convolution alone, jaxstyle's XLA against torch.

    python -m benchmarks.conv_layers --size 256 --repeats 15 \\
        --json benchmarks/results/cpu_conv_layers.json
    JAXSTYLE_XLA_FLAGS=0 python -m benchmarks.conv_layers ...   # XLA:CPU's own defaults

For every convolution the loss reaches (conv1_1 .. conv5_1, at the shapes a ``--size``
square input gives them), times the forward convolution and its input gradient (the
convolution with the flipped, transposed kernel that ``vgg.backward_kernel`` makes, as
the evaluation program runs it) in JAX, each compiled alone, both as XLA's direct
convolution and as Winograd F(2x2, 3x3) (``jaxstyle.winograd``, kernels transformed
beforehand as ``stylize`` does: the input gradient by its own 16 matrices, and by the
forward's read transposed, the form that needs half the memory) and F(4x4, 3x3)
(``convolution="winograd4"``: the input gradient by its own 36), and the same two in torch
(``conv2d`` and the ``aten.convolution_backward`` autograd calls), alternated
``--repeats`` times, each after a short idle (``compare.timed``). JAX runs with the
XLA flags ``import jaxstyle`` sets (see ``jaxstyle.compilation``) unless
``JAXSTYLE_XLA_FLAGS=0``. Random data: speed does not depend on the values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import compare

COLUMNS = (
    "jax_forward",
    "winograd_forward",
    "torch_forward",
    "jax_input_grad",
    "winograd_input_grad",
    "winograd_input_grad_transposed",
    "torch_input_grad",
    "winograd4_forward",
    "winograd4_input_grad",
)


def layer_shapes(size: int) -> list[tuple[str, int, int, int]]:
    """``(name, side, in_channels, out_channels)`` of conv1_1 .. conv5_1 for a square input."""
    from jaxstyle.vgg import VGG19_DEPTHS, VGG19_WIDTHS

    shapes, side, cin = [], size, 3
    for b, (depth, width) in enumerate(zip(VGG19_DEPTHS, VGG19_WIDTHS, strict=True)):
        for i in range(depth if b < 4 else 1):  # the loss stops at conv5_1
            shapes.append((f"conv{b + 1}_{i + 1}", side, cin, width))
            cin = width
        side //= 2
    return shapes


def bench_layer(side: int, cin: int, cout: int, repeats: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import torch

    from jaxstyle import vgg, winograd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, side, side, cin), np.float32)
    g = rng.standard_normal((1, side, side, cout), np.float32)
    k = (0.05 * rng.standard_normal((3, 3, cin, cout))).astype(np.float32)
    conv = jax.jit(vgg._conv, static_argnums=2)
    xj, gj, kj = jnp.asarray(x), jnp.asarray(g), jnp.asarray(k)
    kt = vgg.backward_kernel(kj)
    wino = jax.jit(winograd.conv3x3)
    wino_t = jax.jit(winograd.conv3x3_transposed)
    u = winograd.transform_kernel(kj)
    u_t = winograd.backward_transform(u)
    u4, u4_t = winograd.transform_kernel(kj, 4), winograd.transform_kernel(kt, 4)
    xt, gt = torch.from_numpy(x.transpose(0, 3, 1, 2)), torch.from_numpy(g.transpose(0, 3, 1, 2))
    kk = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
    calls = {
        "jax_forward": lambda: conv(xj, kj, None).block_until_ready(),
        "jax_input_grad": lambda: conv(gj, kt, None).block_until_ready(),
        "winograd_forward": lambda: wino(xj, u).block_until_ready(),
        "winograd_input_grad": lambda: wino(gj, u_t).block_until_ready(),
        "winograd_input_grad_transposed": lambda: wino_t(gj, u).block_until_ready(),
        "winograd4_forward": lambda: wino(xj, u4).block_until_ready(),
        "winograd4_input_grad": lambda: wino(gj, u4_t).block_until_ready(),
        "torch_forward": lambda: torch.nn.functional.conv2d(xt, kk, padding=1),
        # What autograd calls for conv2d's input gradient (torch.nn.grad.conv2d_input
        # takes another, slower path).
        "torch_input_grad": lambda: torch.ops.aten.convolution_backward(
            gt, xt, kk, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for fn in calls.values():
            fn()  # compile / warm up outside the timing
        for _ in range(repeats):
            for name, fn in calls.items():
                compare.timed(fn, times[name])
    return {name: float(np.median(ts)) for name, ts in times.items()}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        *compare.header(
            m,
            f"VGG19's convolutions one by one, {report['size']}² input",
            f"Median milliseconds of {report['repeats']} alternated calls.",
        ),
        "| layer | side, in → out | jax forward | jax Winograd forward | torch forward "
        "| jax input grad | jax Winograd input grad | the same, forward matrices transposed "
        "| torch input grad | jax F(4x4) forward | jax F(4x4) input grad |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["layers"]:
        cells = " | ".join(f"{1e3 * r[k]:.1f}" for k in COLUMNS)
        lines.append(f"| {r['layer']} | {r['side']}², {r['in']} → {r['out']} | {cells} |")
    t = report["total"]
    lines += [
        "",
        f"All {len(report['layers'])} layers, forward and input gradient: jax direct "
        f"{1e3 * t['jax']:.0f} ms, jax as `stylize` runs them on a CPU (Winograd for "
        f"{', '.join(report['winograd_layers'])}) {1e3 * t['shipped']:.0f} ms, torch "
        f"{1e3 * t['torch']:.0f} ms; jax direct / torch {t['jax'] / t['torch']:.3f}, "
        f"as shipped / torch {t['shipped'] / t['torch']:.3f}. With "
        f'`convolution="winograd4"` (F(4x4, 3x3) for '
        f"{', '.join(report['winograd4_layers'])}): {1e3 * t['winograd4']:.0f} ms, "
        f"{t['winograd4'] / t['torch']:.3f} of torch.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", default="benchmarks/results/cpu_conv_layers.json")
    p.add_argument("--quick", action="store_true", help="tiny CI run: proves it works")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.quick:
        a.size, a.repeats = 32, 2
    import jaxstyle  # noqa: F401  (sets jaxstyle's XLA flags before JAX starts)
    from jaxstyle.vgg import WINOGRAD4_LAYERS, WINOGRAD_LAYERS

    layers = []
    for name, side, cin, cout in layer_shapes(a.size):
        layers.append(
            {"layer": name, "side": side, "in": cin, "out": cout}
            | bench_layer(side, cin, cout, a.repeats)
        )
    total = {
        fw: sum(r[f"{fw}_forward"] + r[f"{fw}_input_grad"] for r in layers)
        for fw in ("jax", "winograd", "torch")
    }

    def run_as(column: str, winograd_layers: tuple[str, ...]) -> float:
        """The 13 convolutions with ``column``'s timings in ``winograd_layers``, direct elsewhere."""
        fw = [column if r["layer"] in winograd_layers else "jax" for r in layers]
        return sum(
            r[f"{f}_forward"] + r[f"{f}_input_grad"] for r, f in zip(layers, fw, strict=True)
        )

    total["shipped"] = run_as("winograd", WINOGRAD_LAYERS)
    total["winograd4"] = run_as("winograd4", WINOGRAD4_LAYERS)
    report = {
        "machine": compare.machine(),
        "size": a.size,
        "repeats": a.repeats,
        "winograd_layers": [r["layer"] for r in layers if r["layer"] in WINOGRAD_LAYERS],
        "winograd4_layers": [r["layer"] for r in layers if r["layer"] in WINOGRAD4_LAYERS],
        "layers": layers,
        "total": total,
    }
    compare.write_report(Path(a.json), report, markdown(report))


if __name__ == "__main__":
    main()
