"""Drawing a computed figure: the labelled grid and one image per panel.

matplotlib is needed only to draw the grid (:func:`render_grid`). It is imported there,
lazily, and used through its object API on an Agg canvas, so it never changes the
global pyplot backend (a notebook's inline backend keeps working).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxstyle.cache import atomic_write
from jaxstyle.errors import JaxstyleError
from jaxstyle.figures.run import FigureRun
from jaxstyle.figures.specs import Panel
from jaxstyle.images.arrays import resize
from jaxstyle.images.write import save_image

MATPLOTLIB_MISSING = (
    "drawing the figures needs matplotlib: pip install 'jaxstyle[figures]' (or matplotlib)"
)


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
