"""Coarse-to-fine: a stylisation run at growing sizes, each stage started from the last.

The authors' 2017 code paints 512 px for 500 iterations, then upsamples the result to
1024 px and runs 200 more; crowsonkb's implementation does the same over more scales.
Each stage here is one :func:`jaxstyle.stylize` call at its size: the content resized to
the stage's long side, the targets recomputed there (the style resized by the
style-scale rule, masks resized to the content), and the start the previous stage's
result, upsampled. Every control works in every stage; a batch stays a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import resize
from jaxstyle.images.read import long_side_shape
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params
from jaxstyle.run.history import Result
from jaxstyle.run.stylize import stylize

Array = jax.Array


def stage_sizes(hw: tuple[int, int], scales: Sequence[int]) -> list[tuple[int, int]]:
    """``(H, W)`` of each stage: long side ``scales[i]``, the content's aspect kept.

    Raises:
        ConfigError: scales not positive and strictly increasing.

    Example:
        >>> stage_sizes((768, 1024), (256, 512))
        [(192, 256), (384, 512)]
    """
    scales = [int(s) for s in scales]
    if not scales or any(s <= 0 for s in scales) or sorted(set(scales)) != scales:
        raise ConfigError(f"scales must be positive and increasing, got {list(scales)}")
    return [long_side_shape(hw, s) for s in scales]


def stage_iterations(iterations: int | Sequence[int], n: int) -> list[int]:
    """One iteration count per stage: a number for every stage, or one per stage.

    Example:
        >>> stage_iterations(100, 3), stage_iterations([500, 200], 2)
        ([100, 100, 100], [500, 200])
    """
    counts = [int(iterations)] if isinstance(iterations, int) else [int(i) for i in iterations]
    counts = counts * n if len(counts) == 1 else counts
    if len(counts) != n or any(i < 0 for i in counts):
        raise ConfigError(f"give one iteration count, or {n} (one per scale), got {counts}")
    return counts


def coarse_to_fine(
    content: Array | np.ndarray,
    style: Any,
    params: Params,
    preprocess: Preprocess,
    config: Config | Sequence[Config],
    scales: Sequence[int],
    iterations: int | Sequence[int],
    **kwargs: Any,
) -> list[Result]:
    """Runs :func:`jaxstyle.stylize` at each of ``scales`` (long sides), coarse to fine.

    Args:
        content: ``(H, W, 3)`` or ``(B, H, W, 3)`` in [0, 1], at least the last scale's
            size is best (it is resized to every stage's size).
        style, params, preprocess, config: as for :func:`jaxstyle.stylize`; the
            configs' ``iterations`` are replaced by ``iterations``.
        scales: strictly increasing long sides; the last is the output size.
        iterations: one count for every stage, or one per stage (the authors: 500, 200).
        **kwargs: passed to every stage (``key``, ``masks``, ``init_image`` for the
            first stage, ``extra_loss``, ``progress``, ...).

    Returns:
        One :class:`~jaxstyle.run.history.Result` per stage, each at its stage's size; the
        last is the output. A stage ended by an interrupt or a failure (its ``stopped``
        or ``failed`` set) is the last one run.

    Example:
        >>> from jaxstyle.model.preprocess import TORCHVISION
        >>> from jaxstyle.model.vgg import init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> img = jnp.full((48, 64, 3), 0.5)
        >>> out = coarse_to_fine(img, img, params, TORCHVISION, Config(), (32, 64), 2, key=jax.random.key(1))
        >>> [r.image.shape for r in out]
        [(24, 32, 3), (48, 64, 3)]
    """
    content = jnp.asarray(content, jnp.float32)
    sizes = stage_sizes(content.shape[-3:-1], scales)
    counts = stage_iterations(iterations, len(sizes))
    configs = [config] if isinstance(config, Config) else list(config)
    start = kwargs.pop("init_image", None)
    results: list[Result] = []
    for hw, n in zip(sizes, counts, strict=True):
        stage = [dataclasses.replace(c, iterations=n) for c in configs]
        if start is not None:
            start = resize(jnp.asarray(start, jnp.float32), *hw)
        out = stylize(
            resize(content, *hw),
            style,
            params,
            preprocess,
            stage[0] if isinstance(config, Config) else stage,
            init_image=start,
            **kwargs,
        )
        results.append(out)
        if out.stopped or out.failed:
            break
        start = out.image
    return results
