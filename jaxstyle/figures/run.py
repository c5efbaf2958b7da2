"""Computing a figure: its inputs at one size and every result panel in one batch."""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import ConfigError
from jaxstyle.figures.specs import Figure
from jaxstyle.images.arrays import resize
from jaxstyle.images.read import bundled, load_image
from jaxstyle.model.layers import min_size
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params
from jaxstyle.run.history import History
from jaxstyle.run.stylize import stylize


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
        >>> from jaxstyle.figures import figure
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
        >>> from jaxstyle.figures import figure
        >>> from jaxstyle.config import Config
        >>> from jaxstyle.model.preprocess import CAFFE
        >>> from jaxstyle.model.vgg import init_params
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
