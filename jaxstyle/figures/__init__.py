"""The paper's Figs. 1 and 3-7, reproduced with the bundled images: specs, batched runs, grids."""

from jaxstyle.figures.paper import FIG3_STYLES, FIG4_RATIOS, figure
from jaxstyle.figures.render import (
    MATPLOTLIB_MISSING,
    panel_image,
    render_grid,
    require_matplotlib,
    save,
    with_inset,
)
from jaxstyle.figures.run import FigureRun, check_size, load_inputs, run
from jaxstyle.figures.specs import (
    AB,
    FIGURES,
    PAPER_TO_AUTHORS,
    TINY,
    Figure,
    Panel,
    paper_layers,
    parse_numbers,
    strength,
    strength_label,
)

__all__ = [
    "AB",
    "FIG3_STYLES",
    "FIG4_RATIOS",
    "FIGURES",
    "MATPLOTLIB_MISSING",
    "PAPER_TO_AUTHORS",
    "TINY",
    "Figure",
    "FigureRun",
    "Panel",
    "check_size",
    "figure",
    "load_inputs",
    "panel_image",
    "paper_layers",
    "parse_numbers",
    "render_grid",
    "require_matplotlib",
    "run",
    "save",
    "strength",
    "strength_label",
    "with_inset",
]
