"""What per-block rematerialisation saves: XLA's temporary bytes, with and without it.

    python -m benchmarks.remat --sizes 256,512 --json benchmarks/results/cpu_remat.json \\
        --markdown benchmarks/results/cpu_remat.md

Compiles (never runs) one loss+gradient evaluation of the paper's objective on a
random VGG19 of the real shapes, batch 1, with ``Spec.remat`` off and on, for plain
convolutions and for the CPU plug-in, and reports ``compile().memory_analysis()``:
temporary bytes per pixel and the drop remat gives. A property of the backend's
compiler, so it is measured per backend (here: the one JAX runs on).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.provenance import environment, measured_on
from jaxstyle.cache import atomic_write
from jaxstyle.config import Config
from jaxstyle.cpu import plugin as cpu
from jaxstyle.loss.objective import Loss, make_targets, spec_of, weights_of
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import init_params
from jaxstyle.solve.host import probe

ROOT = Path(__file__).resolve().parents[1]


def compiled_probe(
    params: Any, hw: tuple[int, int], config: Config, batch: int = 1, convolution: str = "auto"
) -> Any:
    """One loss+gradient evaluation of ``config``'s objective at ``hw``, compiled, not run.

    The targets are abstract (shapes only); ``convolution`` picks the CPU plug-in as
    :func:`jaxstyle.cpu.plugin.choose` does.
    """
    spec = spec_of(config)
    plugin = cpu.choose(convolution, jax.default_backend(), spec.layers, hw)
    prepared = None if plugin is None else plugin.prepare(params)
    img = jax.ShapeDtypeStruct((*hw, 3), jnp.float32)
    targets = jax.eval_shape(lambda p, i: make_targets(p, i, i, spec, TORCHVISION), params, img)
    stack = lambda a: jax.ShapeDtypeStruct((batch, *a.shape), a.dtype)  # noqa: E731
    targets = jax.tree.map(stack, targets)
    weights = jax.tree.map(lambda a: jnp.stack([a] * batch), weights_of(config, spec))
    x = jax.ShapeDtypeStruct((batch, *hw, 3), jnp.float32)
    t = jax.ShapeDtypeStruct((batch,), jnp.float32)
    loss = Loss(dataclasses.replace(spec, kernels=plugin), TORCHVISION)
    return probe.lower(x, x, t, (params, prepared), (targets, weights), loss_fn=loss).compile()


def temp_bytes(params: Any, size: int, convolution: str, remat: bool) -> int:
    compiled = compiled_probe(params, (size, size), Config(remat=remat), convolution=convolution)
    return int(compiled.memory_analysis().temp_size_in_bytes)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    params = init_params(jax.random.key(0))
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for convolution in ("direct", "auto"):
            off, on = (temp_bytes(params, size, convolution, r) for r in (False, True))
            rows.append({"size": size, "convolution": convolution, "off": off, "on": on})
            print(json.dumps(rows[-1]), flush=True)
    env = environment(ROOT / "jaxstyle", jax_side=True)
    report = {"rows": rows, "env": env}
    lines = [
        "# Per-block rematerialisation: XLA's temporary bytes",
        "",
        f"{measured_on(env)}, backend {env['backend']}; one "
        "compiled loss+gradient evaluation, paper's layers, random real-shape VGG19, batch 1 "
        "(benchmarks/remat.py).",
        "",
        "| size | convolution | remat off, B/px | remat on, B/px | drop |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        px = r["size"] ** 2
        drop = 1 - r["on"] / r["off"]
        lines.append(
            f"| {r['size']}² | {r['convolution']} | {r['off'] / px:.0f} | {r['on'] / px:.0f} "
            f"| {drop:+.0%} |"
        )
    text = "\n".join(lines) + "\n"
    if args.json:
        atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(report, indent=1) + "\n"))
    if args.markdown:
        atomic_write(args.markdown, lambda t: Path(t).write_text(text))
    print(text)


if __name__ == "__main__":
    main()
