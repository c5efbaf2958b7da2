"""The README's picture: Tübingen in three paintings, one batched call of the public API.

    python docs/readme_picture.py -o docs/tubingen_three.jpg --scales 256,512 --iterations 150,50

With a weights file of VGG19's first blocks only (``jaxstyle weights info`` says which),
the paper's layers move into them (content ``relu3_2``, style ``relu1_1 .. relu3_1`` for
blocks 1-3); every other setting is the default. ``--scales`` paints coarse to fine
(:func:`jaxstyle.coarse_to_fine`). Without ``--weights``, the CLI's default weights
(:func:`jaxstyle.resolve_weights`). Needs matplotlib (``jaxstyle[figures]``).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import jaxstyle as js
from jaxstyle.figures import paper_layers, with_inset
from jaxstyle.images.arrays import resize
from jaxstyle.model.vgg import blocks_of

PAINTINGS = (
    ("shipwreck.jpg", "The Shipwreck of the Minotaur"),
    ("starry_night.jpg", "The Starry Night"),
    ("the_scream.jpg", "The Scream"),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights (default: the CLI's)")
    p.add_argument("-o", "--output", required=True, help="picture (.jpg or .png)")
    p.add_argument("--scales", default="512", help="long sides, coarse to fine, e.g. 256,512")
    p.add_argument("--iterations", default="300", help="per scale, e.g. 150,50")
    p.add_argument("--label", default="", help="the weights, as the caption names them")
    a = p.parse_args()

    params, meta = js.load_weights(js.resolve_weights(a.weights))
    blocks = blocks_of(params)
    content_layer, style_layers = paper_layers(blocks)
    config = js.Config(content_layers=content_layer, style_layers=",".join(style_layers))
    scales = [int(v) for v in a.scales.split(",")]
    iterations = [int(v) for v in a.iterations.split(",")]
    content = js.load_image(js.bundled("tubingen.jpg"), size=scales[-1])
    h, w = content.shape[:2]
    styles = np.stack(
        [np.asarray(resize(js.load_image(js.bundled(f)), h, w)) for f, _ in PAINTINGS]
    )
    start = time.perf_counter()
    stages = js.coarse_to_fine(
        content, styles, params, meta.preprocess, config, scales, iterations, key=jax.random.key(0)
    )
    out = stages[-1]
    seconds = time.perf_counter() - start

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * 2.6, 2.6 * h / w + 0.7), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    panels = [(content, "Tübingen (content)")] + [
        (with_inset(out.image[i], styles[i]), title) for i, (_, title) in enumerate(PAINTINGS)
    ]
    for ax, (image, title) in zip(axes, panels, strict=True):
        ax.imshow(np.clip(image, 0.0, 1.0))
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    steps = " then ".join(f"{n} at {s} px" for s, n in zip(scales, iterations, strict=True))
    fig.supxlabel(
        f"{a.label or meta.source}; content {content_layer}, style {style_layers[0]} … "
        f"{style_layers[-1]}; default weighting and ratio ({config.ratio:g}), {config.init} "
        f"start, L-BFGS {steps}; {w}x{h} px, {seconds / 60:.0f} min",
        fontsize=6,
    )
    fig.savefig(a.output, pil_kwargs={"quality": 90} if a.output.endswith(".jpg") else None)
    print(f"wrote {a.output} ({seconds:.0f} s, final losses {out.history.total[:, -1]})")


if __name__ == "__main__":
    main()
