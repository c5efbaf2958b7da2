"""What a figure is (:class:`Figure`, :class:`Panel`) and the paper's alpha/beta and layers in it.

A :class:`Figure` is one content photo and a grid of :class:`Panel` s. Every result
panel of a figure is computed by **one** batched :func:`jaxstyle.stylize` call (one
compiled, vmapped program): all panels share the content photo and differ only in
per-item settings (style image, alpha/beta, layer sets, init, noise seed). The paper's
figures themselves are built in :mod:`jaxstyle.figures.paper`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.options import DEFAULT_RATIOS

#: The figures this module reproduces (the paper's numbering).
FIGURES = (1, 3, 4, 5, 6, 7)

#: ``--tiny``: the smallest size at which every bundled photo keeps >= 16 px a side
#: (relu5_1 needs it; Golden Gate is 1280x595), and a handful of iterations.
TINY = {"size": 48, "iterations": 3}

#: alpha/beta as the grids print it (escapes: ruff's RUF001 flags a literal Greek alpha).
AB = "\u03b1/\u03b2"

#: The ratio that stands for the paper's alpha/beta under the default weighting: the
#: paper's 1e-3 (its Figs. 3 B, 5, 6) is the default ratio, and every other value
#: keeps its factor to it. Checked on the whole real VGG19 (README, "Loss weighting").
PAPER_TO_AUTHORS = DEFAULT_RATIOS["authors"] / DEFAULT_RATIOS["paper"]


def strength(paper_ratio: float, weighting: str) -> float:
    """The ``Config.ratio`` a panel runs for the paper's alpha/beta ``paper_ratio``.

    Example:
        >>> strength(1e-3, "paper"), round(strength(1e-3, "authors"), 6), round(strength(1e-5, "authors"), 6)
        (0.001, 0.006, 6e-05)
    """
    return paper_ratio if weighting == "paper" else paper_ratio * PAPER_TO_AUTHORS


def strength_label(paper_ratio: float, weighting: str) -> str:
    """How a panel names its strength: the ratio run, and the paper's alpha/beta beside it.

    Example:
        >>> strength_label(1e-3, "authors").replace(AB, "a/b"), strength_label(1e-3, "paper")[-4:]
        ('ratio 6e-3 (paper a/b 1e-3)', '1e-3')
    """
    if weighting == "paper":
        return f"{AB} = {short_ratio(paper_ratio)}"
    return f"ratio {short_ratio(strength(paper_ratio, weighting))} (paper {AB} {short_ratio(paper_ratio)})"


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


def short_ratio(r: float) -> str:
    """``1.6e-2``, ``2e-2``: two significant digits, the second only where it is not 0.

    Example:
        >>> short_ratio(0.016), short_ratio(2e-2), short_ratio(5e-4)
        ('1.6e-2', '2e-2', '5e-4')
    """
    mantissa, exponent = f"{r:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def parse_numbers(values: Sequence[str]) -> tuple[int, ...]:
    """``["3", "4"]`` or ``["all"]`` -> figure numbers, in the order given.

    Example:
        >>> parse_numbers(["all"]), parse_numbers(["7", "3"])
        ((1, 3, 4, 5, 6, 7), (7, 3))
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
