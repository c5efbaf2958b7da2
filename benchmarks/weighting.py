"""How strongly each loss weighting stylises, on real VGG19 weights (blocks 1-3).

    python -m benchmarks.weighting --raw ../shared/weights/vgg19_imagenet_blocks1-3.npz \\
        --json benchmarks/results/cpu_weighting.json

The raw Keras arrays are written in the published ``.h5`` layout and converted by
``jaxstyle.convert.convert`` (the user's path, the paper's normalisation). Tübingen x
Starry Night (Pillow-resized to the content), noise start with seed 0, content
``relu3_2``, style ``relu1_1,relu2_1,relu3_1``. Each weighting's ratios run as one
batched ``stylize`` call per size. The measures are float64 PyTorch on the raw weights
(``tests/torch_reference.py``), independent of jaxstyle's loss code:

- style distance: ``sum_l E_l(result, painting) / sum_l E_l(photo, painting)``;
- content: Eq. 1 at ``relu3_2`` between the result and the photo, over the same for the
  starting noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.worker import environment, measured_on

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

#: (weighting, ratios, sizes): the paper's value and two decades below it, the default
#: and a decade either side of it.
GRID = (
    ("paper", (1e-3, 1e-5, 1e-7), (128,)),
    ("authors", (2e-1, 2e-2, 2e-3), (128,)),
    ("authors", (2e-2,), (256,)),
)
CONTENT, STYLE = "relu3_2", ("relu1_1", "relu2_1", "relu3_1")


def run(raw_path: Path, iterations: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import torch_reference as ref
    from keras_h5 import convert_real, read_keras_npz
    from PIL import Image

    import jaxstyle as js

    raw = read_keras_npz(raw_path)
    with tempfile.TemporaryDirectory() as d:
        params, meta = js.load_weights(convert_real(raw, Path(d)))
    raw64 = ref.to_torch_params(raw, np.float64)
    rows = []
    for weighting, ratios, sizes in GRID:
        for size in sizes:
            content = js.load_image(js.bundled("tubingen.jpg"), size)
            h, w = content.shape[:2]
            with Image.open(js.bundled("starry_night.jpg")) as im:
                resized = im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
            painting = np.clip(np.asarray(resized, np.float32) / 255.0, 0.0, 1.0)
            configs = [
                js.Config(
                    content_layers=CONTENT,
                    style_layers=",".join(STYLE),
                    weighting=weighting,
                    ratio=r,
                    iterations=iterations,
                )
                for r in ratios
            ]
            start = time.perf_counter()
            out = js.stylize(
                content, painting, params, meta.preprocess, configs, key=jax.random.key(0)
            )
            seconds = time.perf_counter() - start
            x0 = js.initial_image(
                jnp.asarray(content),
                jnp.asarray(painting),
                configs[0].init,
                meta.preprocess,
                jax.random.key(0),
            )
            noise = np.clip(np.asarray(meta.preprocess.invert(x0)), 0.0, 1.0)
            noise_distance = ref.content_distance(raw64, noise, content, CONTENT)
            for r, image in zip(ratios, out.image, strict=True):
                rows.append(
                    {
                        "weighting": weighting,
                        "ratio": r,
                        "size": [h, w],
                        "style_distance": ref.style_distance(
                            raw64, image, painting, content, STYLE
                        ),
                        "content_over_noise": ref.content_distance(raw64, image, content, CONTENT)
                        / noise_distance,
                        "batch_seconds": round(seconds, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return {"iterations": iterations, "raw": str(raw_path), "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Stylisation strength by loss weighting, real VGG19 blocks 1-3",
        "",
        f"{measured_on(m)}; `python -m benchmarks.weighting`, "
        f"{report['iterations']} iterations per run.",
    ]
    lines += [
        "",
        "| weighting | ratio | size (w x h) | style distance | content / noise's |",
        "|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        h, w = r["size"]
        lines.append(
            f"| {r['weighting']} | {r['ratio']:g} | {w}x{h} | {r['style_distance']:.3f} "
            f"| {r['content_over_noise']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    import jaxstyle
    from jaxstyle.cache import atomic_write

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", type=Path, required=True, help="raw Keras-named .npz (blocks 1-3)")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--json", type=Path, required=True, help="report; its .md is written beside")
    a = p.parse_args()
    jaxstyle.setup(compilation_cache=False)
    machine = environment(Path(jaxstyle.__file__).resolve().parent, jax_side=True)
    report = {"machine": machine, **run(a.raw, a.iterations)}
    atomic_write(a.json, lambda t: Path(t).write_text(json.dumps(report, indent=1) + "\n"))
    atomic_write(a.json.with_suffix(".md"), lambda t: Path(t).write_text(markdown(report)))


if __name__ == "__main__":
    main()
