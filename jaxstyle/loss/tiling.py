"""Row-tiled evaluation of VGG19's first blocks: their memory bounded by one strip.

At high resolution the first blocks hold most of an evaluation's memory: their
convolutions run at full, half and quarter resolution with 64-256 channels, about
1,000 of the ~1,160 float32 bytes per pixel that every convolution output of the
paper's layers adds up to. :func:`first_blocks` computes blocks ``1..TILED_BLOCKS``
one horizontal strip at a time (``jax.lax.map``, each strip ``jax.checkpoint``-ed, so
the backward pass recomputes one strip's activations at a time) and hands back only
what the losses read of them: the Gram matrices of the style layers summed over the
strips, the features of the content layers, and ``pool3``, from which the deep
blocks run on the whole image as usual.

Each strip carries :func:`halo` rows of the image above and below its own, enough
that its own rows are exact through every convolution of the tiled blocks; rows
outside the image are zeroed at every layer (:func:`jaxstyle.model.conv.valid_rows`), as
the whole image's 'same' padding does, so the strips' rows are the whole image's
rows exactly, whatever the image's height. Strips start on multiples of
``2**TILED_BLOCKS`` rows, so the poolings see the whole image's windows.

Only the plain Gram style loss of an unsplit image is tiled (:func:`refusal`: spatial
control and the Wasserstein loss read every position of a layer together).

Example:
    >>> from jaxstyle.loss.spec import Spec
    >>> from jaxstyle.model.vgg import features, init_params
    >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
    >>> x = jax.random.normal(jax.random.key(1), (37, 16, 3))
    >>> out = first_blocks(p, x, Spec(tiles=3), grams=("relu2_1",), rows=("pool3",))
    >>> whole = features(p, x, ["relu2_1", "pool3"])
    >>> bool(jnp.allclose(out["pool3"]["rows"], whole["pool3"], atol=1e-5))
    True
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.loss import equations
from jaxstyle.loss.evaluate import Evaluation, Pass
from jaxstyle.loss.spec import Spec
from jaxstyle.model.layers import LAYERS, VGG19_DEPTHS, block_of, pools_before
from jaxstyle.model.vgg import Params, features

Array = jax.Array

#: The blocks computed strip by strip; the deep blocks (a 64th of the pixels and
#: less) run on the whole image.
TILED_BLOCKS = 3


def halo(blocks: int = TILED_BLOCKS) -> int:
    """Image rows each side of a strip that keep its own rows exact through ``blocks``.

    A 3x3 'same' convolution spoils one more row at a strip's edge, a pooling halves
    the spoiled rows (rounding up); the halo is the largest spoiled depth, in image
    rows, rounded up to a multiple of ``2**blocks``.

    Example:
        >>> halo(1), halo(3)
        (2, 24)
    """
    spoiled, need = 0, 0
    for b in range(blocks):
        spoiled += VGG19_DEPTHS[b]
        need = max(need, spoiled << b)
        spoiled = -(-spoiled // 2)
    need = max(need, spoiled << blocks)
    unit = 1 << blocks
    return -(-need // unit) * unit


def refusal(style_loss: str, regions: int, spatial: bool) -> str | None:
    """Why a run cannot be computed by strips, in one line, or ``None`` where it can.

    Example:
        >>> refusal("gram", 0, False) is None, refusal("wasserstein", 0, False)
        (True, "tiles take the Gram style loss, not style_loss 'wasserstein'")
    """
    if style_loss != "gram":
        return f"tiles take the Gram style loss, not style_loss {style_loss!r}"
    if regions or spatial:
        return (
            "tiles compute the plain Gram loss strip by strip; they do not take masks "
            "or spatial sharding (use tiles=0)"
        )
    return None


def strips(height: int, tiles: int, blocks: int = TILED_BLOCKS) -> tuple[int, int]:
    """``(rows, count)``: a strip's own rows (a multiple of ``2**blocks``) and how many.

    ``tiles`` strips are asked for; fewer come back when the rounding leaves some
    empty.

    Example:
        >>> strips(4096, 8), strips(100, 8)
        ((512, 8), (16, 7))
    """
    unit = 1 << blocks
    rows = -(-math.ceil(height / tiles) // unit) * unit
    return rows, math.ceil(height / rows)


def split_layers(layers: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``layers`` split into those of the tiled blocks and those after them.

    Example:
        >>> split_layers(["relu1_1", "relu3_1", "relu4_2"])
        (('relu1_1', 'relu3_1'), ('relu4_2',))
    """
    head = tuple(k for k in layers if block_of(k) <= TILED_BLOCKS)
    return head, tuple(k for k in layers if block_of(k) > TILED_BLOCKS)


def first_blocks(
    params: Params,
    x: Array,
    spec: Spec,
    *,
    grams: Sequence[str] = (),
    rows: Sequence[str] = (),
    prepared: Any = None,
) -> dict[str, dict[str, Array]]:
    """Layers of the tiled blocks of ``x`` ``(H, W, 3)``, computed in ``spec.tiles`` strips.

    Args:
        params: VGG19 params.
        x: network input ``(H, W, 3)`` float32.
        spec: the :class:`~jaxstyle.loss.spec.Spec` (its network settings, ``tiles``
            and convolution plug-in).
        grams: layers whose ``(C, C)`` float32 Gram matrix (Eq. 3) is wanted.
        rows: layers whose ``(H_l, W_l, C)`` features are wanted (e.g. ``"pool3"``).
        prepared: the plug-in's prepared arrays, when ``spec.kernels``.

    Returns:
        layer -> ``{"gram": G}`` and/or ``{"rows": F}``, equal to those of the whole
        image to float32 round-off; differentiable (reverse mode).
    """
    h = x.shape[0]
    own, count = strips(h, spec.tiles)
    extra = halo()
    padded = jnp.pad(x, ((extra, extra + own * count - h), (0, 0), (0, 0)))
    layers = tuple(k for k in LAYERS if k in {*grams, *rows})
    visitor = Evaluation(_Central(_Pick(tuple(grams), tuple(rows), spec.kernels), extra, own), h)

    @functools.partial(jax.checkpoint, prevent_cse=False)
    def strip(i: Array) -> dict[str, dict[str, Array]]:
        start = i * own
        window = jax.lax.dynamic_slice_in_dim(padded, start, own + 2 * extra, axis=0)
        return features(
            params,
            window,
            layers,
            **spec.network(),
            kernels=spec.kernels,
            prepared=prepared,
            visitor=visitor,
            state=Pass(row0=start - extra),
        )

    per = jax.lax.map(strip, jnp.arange(count, dtype=jnp.int32))
    out: dict[str, dict[str, Array]] = {}
    for k, parts in per.items():
        out[k] = {}
        if "gram" in parts:
            out[k]["gram"] = jnp.sum(parts["gram"], axis=0)
        if "rows" in parts:
            f = parts["rows"]
            out[k]["rows"] = f.reshape(-1, *f.shape[2:])[: h >> pools_before(k)]
    return out


def evaluate(
    params: Params,
    x: Array,
    spec: Spec,
    *,
    grams: Sequence[str] = (),
    rows: Sequence[str] = (),
    prepared: Any = None,
    reduce: Any = None,
    context: Any = None,
) -> dict[str, Any]:
    """``grams`` and ``rows`` of ``x`` for any layers: the tiled blocks' by strips.

    The layers of the tiled blocks come from :func:`first_blocks`; the deep ones
    (block ``TILED_BLOCKS + 1`` on) run on the whole image from its stitched
    ``pool3``, so no tiled block's activations of the whole image are ever held.
    The objective (:mod:`jaxstyle.objective`) and the targets both evaluate this
    way. Differentiable (reverse mode).

    Args:
        params, x, spec, grams, rows, prepared: as :func:`first_blocks`.
        reduce: the deep layers' ``reduce`` (:class:`~jaxstyle.loss.evaluate.Evaluation`, with
            ``context``); by default they give ``{"gram": G}`` and/or
            ``{"rows": F}`` as the tiled ones do.
        context: layer -> what ``reduce`` reads.

    Returns:
        layer -> its parts, for every layer of ``grams`` and ``rows``.

    Example:
        >>> from jaxstyle.loss.spec import Spec
        >>> from jaxstyle.model.vgg import init_params
        >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
        >>> x = jax.random.normal(jax.random.key(1), (40, 16, 3))
        >>> out = evaluate(p, x, Spec(tiles=2), grams=("relu1_1", "relu5_1"))
        >>> whole = equations.gram(features(p, x, ["relu5_1"])["relu5_1"])
        >>> bool(jnp.allclose(out["relu5_1"]["gram"], whole, rtol=1e-4))
        True
    """
    head_g, tail_g = split_layers(grams)
    head_r, tail_r = split_layers(rows)
    pool = f"pool{TILED_BLOCKS}"
    tail = tuple(k for k in LAYERS if k in {*tail_g, *tail_r})
    out: dict[str, Any] = first_blocks(
        params,
        x,
        spec,
        grams=head_g,
        rows=(*head_r, pool) if tail else head_r,
        prepared=prepared,
    )
    if tail:
        deep = features(
            params,
            out[pool]["rows"],
            tail,
            **spec.network(),
            kernels=spec.kernels,
            prepared=prepared,
            visitor=Evaluation(
                reduce or _Pick(tail_g, tail_r, spec.kernels),
                first_block=TILED_BLOCKS + 1,
                remat=spec.remat,
            ),
            state=Pass(context or {}),
        )
        out.update(deep)
    return {k: out[k] for k in (*grams, *rows)}


@dataclasses.dataclass(frozen=True)
class _Pick:
    """What the losses read of a layer: its Gram and/or the features (a ``reduce``)."""

    grams: tuple[str, ...]
    rows: tuple[str, ...]
    kernels: Any

    def __call__(self, name: str, f: Array, context: Any) -> dict[str, Array]:
        out = {}
        if name in self.grams:
            out["gram"] = (equations.gram if self.kernels is None else self.kernels.gram)(f)
        if name in self.rows:
            out["rows"] = f
        return out


@dataclasses.dataclass(frozen=True)
class _Central:
    """A strip's own rows of a layer, picked as :class:`_Pick` does (a ``reduce``)."""

    pick: _Pick
    extra: int
    own: int

    def __call__(self, name: str, f: Array, context: Any) -> dict[str, Array]:
        pools = pools_before(name)
        return self.pick(name, f[self.extra >> pools : (self.extra + self.own) >> pools], context)
