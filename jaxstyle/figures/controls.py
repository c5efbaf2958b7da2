"""The controls gallery (``jaxstyle figures controls``): colours, blended styles, regions.

Tübingen with Starry Night in each colour mode (Gatys et al. 2017, section 5), Starry
Night and The Scream blended 3:1 and 1:3, and the sky and the town painted by two
paintings through the bundled sky mask (section 4). The colour and blend panels are
one batched call (every item blends the two paintings, the colour panels with
weights 1:0); the regions are a second call, as masks change the compiled program.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxstyle.cache import atomic_write
from jaxstyle.config import Config
from jaxstyle.figures.render import require_matplotlib
from jaxstyle.figures.specs import paper_layers
from jaxstyle.images.read import bundled, load_image, load_mask
from jaxstyle.images.write import save_image
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params
from jaxstyle.run.stylize import stylize

CONTENT = "tubingen.jpg"
STYLES = ("starry_night.jpg", "the_scream.jpg")
#: The bundled sky/town mask of the Tübingen photo (white = sky), see docs/make_sky_mask.py.
SKY_MASK = "tubingen_sky.png"
#: (panel name, title, config fields): one batched call.
BATCHED = (
    ("colors_style", "colours: style (paper)", {"colors": "style", "style_blend_weights": (1, 0)}),
    (
        "colors_luminance",
        "colours: luminance",
        {"colors": "luminance", "style_blend_weights": (1, 0)},
    ),
    ("colors_match", "colours: match (pca)", {"colors": "match", "style_blend_weights": (1, 0)}),
    ("colors_swap", "colours: swap", {"colors": "swap", "style_blend_weights": (1, 0)}),
    ("blend_3_1", "Starry Night : Scream 3:1", {"style_blend_weights": (3, 1)}),
    ("blend_1_3", "Starry Night : Scream 1:3", {"style_blend_weights": (1, 3)}),
)
REGIONS = ("regions", "sky: Starry Night, town: Scream")


class Gallery(NamedTuple):
    """The computed gallery: panel name -> ``(title, (H, W, 3) image)``, and the seconds."""

    content: np.ndarray
    panels: dict[str, tuple[str, np.ndarray]]
    seconds: float


def gallery(
    params: Params,
    preprocess: Preprocess,
    base: Config,
    *,
    size: int,
    blocks: int = 5,
    progress: bool = False,
) -> Gallery:
    """Runs the gallery at long side ``size`` with ``base``'s iterations and solver.

    The layers are the paper's moved into the weights' ``blocks``
    (:func:`~jaxstyle.figures.paper_layers`).

    Example:
        >>> from jaxstyle.model.preprocess import CAFFE
        >>> from jaxstyle.model.vgg import init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> g = gallery(params, CAFFE, Config(iterations=1), size=32)
        >>> sorted(g.panels)[:2], g.panels["regions"][1].shape
        (['blend_1_3', 'blend_3_1'], (24, 32, 3))
    """
    content_layer, style_layers = paper_layers(blocks)
    layers = {"content_layers": content_layer, "style_layers": ",".join(style_layers)}
    content = load_image(bundled(CONTENT), size)
    styles = [load_image(bundled(s)) for s in STYLES]
    configs = [dataclasses.replace(base, **layers, **f) for _, _, f in BATCHED]
    start = time.perf_counter()
    key = jax.random.key(0)
    out = stylize(content, styles, params, preprocess, configs, key=key, progress=progress)
    sky = load_mask(bundled(SKY_MASK), content.shape[:2])
    masks = [sky, 1.0 - sky]
    config = dataclasses.replace(base, **layers)
    regions = stylize(
        content, styles, params, preprocess, config, masks=masks, key=key, progress=progress
    )
    seconds = time.perf_counter() - start
    panels = {name: (title, out.image[i]) for i, (name, title, _) in enumerate(BATCHED)}
    panels[REGIONS[0]] = (REGIONS[1], regions.image)
    return Gallery(content, panels, seconds)


def save(result: Gallery, out_dir: str | os.PathLike[str], *, note: str = "") -> list[Path]:
    """Writes ``controls.png`` (a labelled grid) and ``controls_<panel>.png`` into ``out_dir``."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out_dir)
    cells = [("content", ("content: Tübingen", result.content)), *result.panels.items()]
    cols = 4
    rows = -(-len(cells) // cols)
    h, w = result.content.shape[:2]
    fig = Figure(figsize=(cols * 2.6, rows * 2.6 * h / w + 0.8), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (_, (title, image)) in zip(axes.flat, cells, strict=False):
        ax.imshow(np.clip(image, 0.0, 1.0))
        ax.set_title(title, fontsize=7)
    fig.suptitle("Controls (Gatys et al. 2017): colour, blended styles, regions", fontsize=10)
    if note:
        fig.supxlabel(note, fontsize=6)
    grid = out / "controls.png"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(grid, lambda tmp: fig.savefig(tmp, format="png"), ".png")
    paths = [grid]
    for name, (_, image) in result.panels.items():
        paths.append(out / f"controls_{name}.png")
        save_image(paths[-1], image)
    return paths
