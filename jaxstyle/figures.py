"""The paper's Figs. 3-7, reproduced with the bundled images: specs, batched runs, grids.

A :class:`Figure` is one content photo and a grid of :class:`Panel` s. Every result
panel of a figure is computed by **one** batched :func:`jaxstyle.stylize` call (one
compiled, vmapped program): all panels share the content photo and differ only in
per-item settings (style image, alpha/beta, layer sets, init, noise seed).

Where the paper's material is not bundled, and what stands in for it:

* Fig. 3 E, Picasso's *Femme nue assise* (in copyright, Picasso died 1973): Hokusai's
  *The Great Wave off Kanagawa*, at the same alpha/beta = 5e-4.
* Fig. 5, Lyonel Feininger's *Jesuiten III* (1915; Feininger died 1956, so still in
  copyright in life+70 countries): *The Starry Night*.
* Fig. 6: the painting is our choice, *The Starry Night*.
* Fig. 7, New York by night onto London by day: a city skyline at sunset
  (``beach_city.jpg``) onto the Golden Gate Bridge by day (``golden_gate.jpg``).

matplotlib is needed only to draw the grid (:func:`render_grid`). It is imported there,
lazily, and used through its object API on an Agg canvas, so it never changes the global
pyplot backend (a notebook's inline backend keeps working).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import ConfigError, JaxstyleError
from jaxstyle.files import atomic_write
from jaxstyle.image import bundled, load_image, save_image
from jaxstyle.optimize import DEFAULT_RATIOS, Config, History, resize, stylize
from jaxstyle.vgg import Params, Preprocess, min_size

#: The figures this module reproduces (the paper's numbering).
FIGURES = (3, 4, 5, 6, 7)

#: ``--tiny``: the smallest size at which every bundled photo keeps >= 16 px a side
#: (relu5_1 needs it; Golden Gate is 1280x595), and a handful of iterations.
TINY = {"size": 48, "iterations": 3}

#: alpha/beta as the grids print it (escapes: ruff's RUF001 flags a literal Greek alpha).
AB = "\u03b1/\u03b2"

MATPLOTLIB_MISSING = (
    "drawing the figures needs matplotlib: pip install 'jaxstyle[figures]' (or matplotlib)"
)

#: Paper Fig. 3: (panel, bundled painting, caption, alpha/beta from the caption).
FIG3_STYLES = (
    ("B", "shipwreck.jpg", "The Shipwreck of the Minotaur (Turner)", 1e-3),
    ("C", "starry_night.jpg", "The Starry Night (van Gogh)", 8e-4),
    ("D", "the_scream.jpg", "The Scream (Munch)", 5e-3),
    ("E", "great_wave.jpg", "The Great Wave (Hokusai), for Picasso", 5e-4),
    ("F", "composition_vii.jpg", "Composition VII (Kandinsky)", 5e-4),
)

#: Paper Fig. 4: columns alpha/beta, rows style layers relu1_1 .. up to relu5_1.
FIG4_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)

#: The ratio that stands for the paper's alpha/beta under the default weighting: the
#: paper's 1e-3 (its Figs. 3 B, 5, 6) is the default ratio, and every other value
#: keeps its factor to it. Checked on the real blocks 1-3 (README, "Loss weighting").
PAPER_TO_AUTHORS = DEFAULT_RATIOS["authors"] / DEFAULT_RATIOS["paper"]


def strength(paper_ratio: float, weighting: str) -> float:
    """The ``Config.ratio`` a panel runs for the paper's alpha/beta ``paper_ratio``.

    Example:
        >>> strength(1e-3, "paper"), round(strength(1e-3, "authors"), 6), round(strength(1e-5, "authors"), 6)
        (0.001, 0.02, 0.0002)
    """
    return paper_ratio if weighting == "paper" else paper_ratio * PAPER_TO_AUTHORS


def strength_label(paper_ratio: float, weighting: str) -> str:
    """How a panel names its strength: the ratio run, and the paper's alpha/beta beside it.

    Example:
        >>> strength_label(1e-3, "authors").replace(AB, "a/b"), strength_label(1e-3, "paper")[-4:]
        ('ratio 2e-2 (paper a/b 1e-3)', '1e-3')
    """
    if weighting == "paper":
        return f"{AB} = {_ratio(paper_ratio)}"
    return f"ratio {_ratio(strength(paper_ratio, weighting))} (paper {AB} {_ratio(paper_ratio)})"


def paper_layers(blocks: int = 5) -> tuple[str, tuple[str, ...]]:
    """The paper's content layer and style layers, moved into VGG19's first ``blocks``.

    With the whole network: ``relu4_2`` and ``relu1_1 .. relu5_1``. With fewer blocks
    (a weights file of the first blocks only) the content layer becomes the deepest
    block's ``_2`` and the style layers stop at its ``_1``.

    Example:
        >>> paper_layers(5)[0], paper_layers(3)
        ('relu4_2', ('relu3_2', ('relu1_1', 'relu2_1', 'relu3_1')))
    """
    content = "relu4_2" if blocks >= 4 else f"relu{blocks}_2"
    return content, tuple(f"relu{b}_1" for b in range(1, min(blocks, 5) + 1))


@dataclasses.dataclass(frozen=True)
class Panel:
    """One cell of a figure's grid.

    Attributes:
        name: file-name stem of the panel's image, unique in its figure.
        title: caption above the cell ("" for none).
        row: grid row.
        col: grid column.
        kind: ``"result"`` (stylised), ``"content"`` or ``"style"`` (an input, shown as
            the optimiser sees it: the style resized to the content's size).
        style: bundled painting (results and style panels).
        config: the item's :class:`~jaxstyle.optimize.Config` (results only).
        seed: PRNG seed of the noise init (results only).
        inset: draw the style as a thumbnail in the lower-left corner, as the paper does.
    """

    name: str
    title: str
    row: int
    col: int
    kind: str = "result"
    style: str | None = None
    config: Config | None = None
    seed: int = 0
    inset: bool = False


@dataclasses.dataclass(frozen=True)
class Figure:
    """A paper figure: one content photo, a grid of panels, labels and a note.

    Attributes:
        number: the paper's figure number.
        title: the grid's heading.
        content: bundled content photo.
        panels: the cells.
        row_labels: labels left of each row ("" or empty for none).
        note: how this reproduction differs from the paper.
    """

    number: int
    title: str
    content: str
    panels: tuple[Panel, ...]
    row_labels: tuple[str, ...] = ()
    note: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the grid."""
        return max(p.row for p in self.panels) + 1, max(p.col for p in self.panels) + 1

    @property
    def results(self) -> tuple[Panel, ...]:
        """The panels to compute, in batch order."""
        return tuple(p for p in self.panels if p.kind == "result")

    @property
    def styles(self) -> tuple[str, ...]:
        """Every painting the figure uses, each once, in panel order."""
        return tuple(dict.fromkeys(p.style for p in self.panels if p.style))


def _ratio(r: float) -> str:
    """``1.6e-2``, ``2e-2``: two significant digits, the second only where it is not 0.

    Example:
        >>> _ratio(0.016), _ratio(2e-2), _ratio(5e-4)
        ('1.6e-2', '2e-2', '5e-4')
    """
    mantissa, exponent = f"{r:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _at(base: Config, paper_ratio: float, **fields: object) -> Config:
    return dataclasses.replace(base, ratio=strength(paper_ratio, base.weighting), **fields)


def _fig3(base: Config, blocks: int) -> Figure:
    panels = [Panel("content", "A  Tübingen (content)", 0, 0, "content")]
    for i, (letter, style, caption, ratio) in enumerate(FIG3_STYLES, start=1):
        panels.append(
            Panel(
                name=Path(style).stem,
                title=f"{letter}  {caption}\n{strength_label(ratio, base.weighting)}",
                row=i // 3,
                col=i % 3,
                style=style,
                config=_at(base, ratio),
                inset=True,
            )
        )
    return Figure(
        3,
        "Fig. 3: Tübingen in the style of five paintings",
        "tubingen.jpg",
        tuple(panels),
        note="E: Hokusai's Great Wave replaces Picasso's Femme nue assise (in copyright).",
    )


def _fig4(base: Config, blocks: int) -> Figure:
    style = paper_layers(blocks)[1]
    layer_sets = [style[:n] for n in range(1, len(style) + 1)]
    panels = []
    for r, layers in enumerate(layer_sets):
        for c, ratio in enumerate(FIG4_RATIOS):
            panels.append(
                Panel(
                    name=f"{layers[-1]}_ratio{_ratio(ratio)}",
                    title=strength_label(ratio, base.weighting).replace(" (", "\n(")
                    if r == 0
                    else "",
                    row=r,
                    col=c,
                    style="composition_vii.jpg",
                    config=_at(base, ratio, style_layers=",".join(layers)),
                )
            )
    labels = tuple(
        layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}" for layers in layer_sets
    )
    return Figure(
        4,
        "Fig. 4: style layers (rows) x strength (columns), Composition VII",
        "tubingen.jpg",
        tuple(panels),
        row_labels=labels,
        note="Style layers weighted equally, summing to 1; one batched run.",
    )


def _fig5(base: Config, blocks: int) -> Figure:
    style = "starry_night.jpg"
    panels = [
        Panel("content", "content", 0, 0, "content"),
        Panel("style", "style", 0, 1, "style", style=style),
    ]
    deep = paper_layers(blocks)[0]
    shallow = "relu2_2" if blocks >= 3 else "relu1_1"
    for col, layer in enumerate((shallow, deep), start=2):
        panels.append(
            Panel(
                f"content_{layer}",
                f"content at {layer}",
                0,
                col,
                style=style,
                config=_at(base, 1e-3, content_layers=layer),
            )
        )
    return Figure(
        5,
        f"Fig. 5: content matched at {shallow} vs {deep}, {strength_label(1e-3, base.weighting)}",
        "tubingen.jpg",
        tuple(panels),
        note="Style: The Starry Night in place of Feininger's Jesuiten III (in copyright).",
    )


def _fig6(base: Config, blocks: int) -> Figure:
    style = "starry_night.jpg"
    config = _at(base, 1e-3)
    panels = [
        Panel("content", "content", 0, 0, "content"),
        Panel("style", "style", 0, 1, "style", style=style),
        Panel(
            "init_content",
            "A  from the content",
            0,
            2,
            style=style,
            config=dataclasses.replace(config, init="content"),
        ),
        Panel(
            "init_style",
            "B  from the style",
            0,
            3,
            style=style,
            config=dataclasses.replace(config, init="style"),
        ),
    ]
    for seed in range(4):
        panels.append(
            Panel(
                f"init_noise{seed}",
                f"C  from noise, seed {seed}",
                1,
                seed,
                style=style,
                config=dataclasses.replace(config, init="noise"),
                seed=seed,
            )
        )
    return Figure(
        6,
        "Fig. 6: initialisation (content, style, four noise seeds), "
        + strength_label(1e-3, base.weighting),
        "tubingen.jpg",
        tuple(panels),
        note="Style: The Starry Night (our choice); one batched run, a key per item.",
    )


def _fig7(base: Config, blocks: int) -> Figure:
    style = "beach_city.jpg"
    config = _at(base, 1e-2, init="content")
    title = f"result, {strength_label(1e-2, base.weighting)}, content init"
    panels = (
        Panel("content", "content: Golden Gate by day", 0, 0, "content"),
        Panel("style", "style: city at sunset", 0, 1, "style", style=style),
        Panel("result", title, 0, 2, style=style, config=config),
    )
    return Figure(
        7,
        "Fig. 7: photorealistic style transfer",
        "golden_gate.jpg",
        panels,
        note="Photos in place of the paper's New York by night and London by day.",
    )


_BUILDERS = {3: _fig3, 4: _fig4, 5: _fig5, 6: _fig6, 7: _fig7}


def figure(number: int, base: Config | None = None, blocks: int = 5) -> Figure:
    """The spec of paper figure ``number``; ``base`` sets the fields shared by all panels.

    Per-panel fields (ratio, layers, init) are set by the figure: the paper's
    alpha/beta as :func:`strength` maps it for ``base.weighting``, and the paper's
    layers moved into the ``blocks`` the weights hold (:func:`paper_layers`; the
    figure's note says so). Everything else (iterations, optimizer, pooling,
    chunk_size, ...) comes from ``base``.

    Raises:
        ConfigError: for a figure this module does not reproduce.

    Example:
        >>> fig = figure(4, Config(iterations=10))
        >>> fig.shape, len(fig.results), fig.results[0].config.iterations
        ((5, 4), 20, 10)
        >>> figure(4, blocks=3).shape
        (3, 4)
    """
    if number not in _BUILDERS:
        raise ConfigError(f"figure must be one of {', '.join(map(str, FIGURES))}, got {number}")
    content, style = paper_layers(blocks)
    base = dataclasses.replace(
        Config() if base is None else base, content_layers=content, style_layers=",".join(style)
    )
    fig = _BUILDERS[number](base, blocks)
    if blocks < 5:
        moved = (
            f"Layers within blocks 1-{blocks} (the weights hold no more): content {content}, "
            f"style {style[0]} … {style[-1]}."
        )
        fig = dataclasses.replace(fig, note=f"{fig.note} {moved}".strip())
    return fig


class FigureRun(NamedTuple):
    """A computed figure.

    Attributes:
        figure: the spec.
        content: ``(H, W, 3)`` content photo in [0, 1].
        styles: painting -> ``(H, W, 3)``, resized to the content's size.
        images: result panel name -> ``(H, W, 3)`` result in [0, 1].
        histories: result panel name -> its per-iteration :class:`History`.
        seconds: wall time of the stylisation, compilation included.
    """

    figure: Figure
    content: np.ndarray
    styles: dict[str, np.ndarray]
    images: dict[str, np.ndarray]
    histories: dict[str, History]
    seconds: float


def load_inputs(fig: Figure, size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The content at long side ``size`` and each painting resized to its exact size.

    The paintings are resized here, as :func:`~jaxstyle.stylize` would (``style_scale``
    None), so that they stack into one ``(B, H, W, 3)`` batch.
    """
    content = load_image(bundled(fig.content), size)
    h, w = content.shape[:2]
    styles = {s: np.asarray(resize(jnp.asarray(load_image(bundled(s))), h, w)) for s in fig.styles}
    return content, styles


def check_size(fig: Figure, size: int) -> None:
    """Fails fast, before any compilation, if ``size`` is too small for ``fig``'s layers.

    Raises:
        ConfigError: naming the figure, the content's size and the pixels needed.

    Example:
        >>> check_size(figure(7), 30)
        Traceback (most recent call last):
        ...
        jaxstyle.errors.ConfigError: Fig. 7 at size 30: golden_gate.jpg becomes 30x14 px; its layers need at least 16 px a side
    """
    h, w = load_image(bundled(fig.content), size).shape[:2]
    need = max(min_size(p.config.layers) for p in fig.results)
    if min(h, w) < need:
        raise ConfigError(
            f"Fig. {fig.number} at size {size}: {fig.content} becomes {w}x{h} px; "
            f"its layers need at least {need} px a side"
        )


def _item(history: History, i: int) -> History:
    return History(*jax.tree.map(lambda a: a[i], tuple(history)))


def run(
    fig: Figure,
    params: Params,
    preprocess: Preprocess,
    *,
    size: int,
    progress: bool = False,
) -> FigureRun:
    """Computes every result panel of ``fig`` in one batched, compiled stylisation.

    Example:
        >>> from jaxstyle.vgg import CAFFE, init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> out = run(figure(7, Config(iterations=2)), params, CAFFE, size=40)
        >>> out.images["result"].shape
        (19, 40, 3)
    """
    content, styles = load_inputs(fig, size)
    panels = fig.results
    batch = np.stack([styles[p.style] for p in panels])
    keys = jnp.stack([jax.random.key(p.seed) for p in panels])
    start = time.perf_counter()
    out = stylize(
        content, batch, params, preprocess, [p.config for p in panels], key=keys, progress=progress
    )
    seconds = time.perf_counter() - start
    images = {p.name: out.image[i] for i, p in enumerate(panels)}
    histories = {p.name: _item(out.history, i) for i, p in enumerate(panels)}
    return FigureRun(fig, content, styles, images, histories, seconds)


def run_sequential(fig: Figure, params: Params, preprocess: Preprocess, *, size: int) -> FigureRun:
    """The same figure computed one panel at a time (one :func:`stylize` call each).

    For timing against :func:`run`: the batch shares one compilation and one loop; the
    sequential path compiles once per distinct layer set and runs the loop per panel.
    """
    content, styles = load_inputs(fig, size)
    images, histories = {}, {}
    start = time.perf_counter()
    for p in fig.results:
        out = stylize(
            content, styles[p.style], params, preprocess, p.config, key=jax.random.key(p.seed)
        )
        images[p.name], histories[p.name] = out.image, out.history
    seconds = time.perf_counter() - start
    return FigureRun(fig, content, styles, images, histories, seconds)


class Comparison(NamedTuple):
    """Batched against one-by-one, for the same figure, size and iterations.

    Attributes:
        batched_s: seconds of :func:`run` (compilation included).
        sequential_s: seconds of :func:`run_sequential` (compilation included).
        max_abs_diff: largest pixel difference between the two sets of results.
    """

    batched_s: float
    sequential_s: float
    max_abs_diff: float


def compare(batched: FigureRun, sequential: FigureRun) -> Comparison:
    """Timings of two runs of one figure and how far their images differ.

    Example:
        >>> fig = figure(4, Config(iterations=5))
        >>> c = compare(run(fig, params, pre, size=64), run_sequential(fig, params, pre, size=64))  # doctest: +SKIP
        >>> speedup = c.sequential_s / c.batched_s  # doctest: +SKIP
    """
    diff = max(
        float(np.max(np.abs(batched.images[k] - sequential.images[k]))) for k in batched.images
    )
    return Comparison(batched.seconds, sequential.seconds, diff)


def with_inset(image: np.ndarray, thumb: np.ndarray, fraction: float = 0.3) -> np.ndarray:
    """``image`` with ``thumb`` shrunk to ``fraction`` of its size in the lower-left corner.

    The paper shows each painting this way; a 1 px white border sets it apart.

    Example:
        >>> out = with_inset(np.zeros((40, 40, 3)), np.ones((40, 40, 3)), 0.25)
        >>> out.shape, float(out[-5, 5, 0]), float(out[5, 35, 0])
        ((40, 40, 3), 1.0, 0.0)
    """
    h, w = image.shape[:2]
    th, tw = max(1, round(h * fraction)), max(1, round(w * fraction))
    small = np.asarray(resize(jnp.asarray(thumb, jnp.float32), th, tw))
    out = np.array(image, np.float32, copy=True)
    out[h - th - 1 :, : tw + 1] = 1.0
    out[h - th :, :tw] = small
    return out


def panel_image(result: FigureRun, panel: Panel) -> np.ndarray:
    """What a grid cell shows: a result (with its inset, if any) or an input."""
    if panel.kind == "content":
        return result.content
    if panel.kind == "style":
        return result.styles[panel.style]
    image = result.images[panel.name]
    return with_inset(image, result.styles[panel.style]) if panel.inset else image


def require_matplotlib() -> None:
    """Raises :class:`JaxstyleError` (one line) if matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise JaxstyleError(MATPLOTLIB_MISSING) from None


def render_grid(result: FigureRun, path: str | os.PathLike[str], *, note: str = "") -> None:
    """Draws the labelled grid of ``result`` to a PNG at ``path``, atomically.

    Args:
        result: a computed figure.
        path: output ``.png``.
        note: a footer line, e.g. the size, iterations and weights used.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = result.figure
    rows, cols = fig.shape
    h, w = result.content.shape[:2]
    cell = 2.6  # inches per cell width; heights follow the content's aspect
    canvas_fig = MplFigure(
        figsize=(cols * cell + 0.8, rows * cell * h / w + 1.0), dpi=150, layout="constrained"
    )
    FigureCanvasAgg(canvas_fig)
    axes = canvas_fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for p in fig.panels:
        ax = axes[p.row][p.col]
        ax.imshow(np.clip(panel_image(result, p), 0.0, 1.0))
        if p.title:
            ax.set_title(p.title, fontsize=7)
    for r, label in enumerate(fig.row_labels):
        axes[r][0].text(
            -0.04,
            0.5,
            label,
            transform=axes[r][0].transAxes,
            rotation=90,
            ha="right",
            va="center",
            fontsize=7,
        )
    canvas_fig.suptitle(fig.title, fontsize=10)
    footer = "\n".join(s for s in (fig.note, note) if s)
    if footer:
        canvas_fig.supxlabel(footer, fontsize=6)  # a super-label: the layout makes room

    def write(tmp: str) -> None:
        canvas_fig.savefig(tmp, format="png")

    atomic_write(path, write, ".png")


def save(result: FigureRun, out_dir: str | os.PathLike[str], *, note: str = "") -> list[Path]:
    """Writes ``figN.png`` (the grid) and ``figN_<panel>.png`` per result into ``out_dir``.

    Returns:
        the paths written, the grid first.
    """
    out = Path(out_dir)
    n = result.figure.number
    grid = out / f"fig{n}.png"
    render_grid(result, grid, note=note)
    paths = [grid]
    for p in result.figure.results:
        path = out / f"fig{n}_{p.name}.png"
        save_image(path, result.images[p.name])
        paths.append(path)
    return paths


def timing_record(
    comparison: Comparison, result: FigureRun, extra: Mapping[str, object] | None = None
) -> dict[str, object]:
    """A JSON-ready record of a batched-vs-sequential comparison."""
    h, w = result.content.shape[:2]
    first = result.figure.results[0].config
    return {
        "figure": result.figure.number,
        "items": len(result.figure.results),
        "size": [h, w],
        "iterations": first.iterations,
        "optimizer": first.optimizer,
        "batched_s": round(comparison.batched_s, 2),
        "sequential_s": round(comparison.sequential_s, 2),
        "speedup": round(comparison.sequential_s / comparison.batched_s, 2),
        "max_abs_diff": comparison.max_abs_diff,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        **dict(extra or {}),
    }


def write_json(path: str | os.PathLike[str], record: Mapping[str, object]) -> None:
    """Writes ``record`` as indented JSON, atomically."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    atomic_write(path, write, ".json")


def parse_numbers(values: Sequence[str]) -> tuple[int, ...]:
    """``["3", "4"]`` or ``["all"]`` -> figure numbers, in the order given.

    Example:
        >>> parse_numbers(["all"]), parse_numbers(["7", "3"])
        ((3, 4, 5, 6, 7), (7, 3))
    """
    if list(values) == ["all"]:
        return FIGURES
    numbers = []
    for v in values:
        try:
            n = int(v)
        except ValueError:
            raise ConfigError(
                f"figure must be one of {', '.join(map(str, FIGURES))} or all, got {v!r}"
            ) from None
        if n not in FIGURES:
            raise ConfigError(
                f"figure must be one of {', '.join(map(str, FIGURES))} or all, got {n}"
            )
        numbers.append(n)
    return tuple(dict.fromkeys(numbers))
