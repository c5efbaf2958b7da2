"""The paper's Figs. 3-7 as specs: which panels, paintings, ratios and layers.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from jaxstyle.config import DEFAULT_RATIOS, Config
from jaxstyle.errors import ConfigError

#: The figures this module reproduces (the paper's numbering).
FIGURES = (3, 4, 5, 6, 7)

#: ``--tiny``: the smallest size at which every bundled photo keeps >= 16 px a side
#: (relu5_1 needs it; Golden Gate is 1280x595), and a handful of iterations.
TINY = {"size": 48, "iterations": 3}

#: alpha/beta as the grids print it (escapes: ruff's RUF001 flags a literal Greek alpha).
AB = "\u03b1/\u03b2"

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


#: Fig. 7's second panel: the matting-Laplacian weight (Luan et al. 2017), chosen on the
#: real blocks 1-3 at 128 px: the result's matting loss per pixel falls from 0.031 to
#: 0.008 while its style loss rises from 0.33 to 0.51 (README, "Controls").
PHOTOREALISM = 3.0


def _fig7(base: Config, blocks: int) -> Figure:
    style = "beach_city.jpg"
    config = _at(base, 1e-2, init="content")
    title = f"result, {strength_label(1e-2, base.weighting)}, content init"
    photo = dataclasses.replace(config, photorealism=PHOTOREALISM)
    panels = (
        Panel("content", "content: Golden Gate by day", 0, 0, "content"),
        Panel("style", "style: city at sunset", 0, 1, "style", style=style),
        Panel("result", title, 0, 2, style=style, config=config),
        Panel(
            "photoreal",
            f"+ photorealism {PHOTOREALISM:g} (Luan et al. 2017)",
            0,
            3,
            style=style,
            config=photo,
        ),
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
