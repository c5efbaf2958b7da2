"""How the loss takes part in VGG19's forward pass: reductions, row masks, remat.

The network (:class:`~jaxstyle.model.vgg.VGG19`) computes named activations and calls
a :class:`~jaxstyle.model.visitor.Visitor`; :class:`Evaluation` is the loss's. It reduces
each wanted layer inside its block (a layer's loss terms against their targets, so
that a rematerialised block keeps only those), zeroes the rows outside the image
when the image was padded (spatial sharding) or cut into strips
(:mod:`jaxstyle.loss.tiling`), and starts from a later block when the first ones
were computed elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax

from jaxstyle.model.conv import valid_rows

Array = jax.Array


class Pass(NamedTuple):
    """What an :class:`Evaluation` reads per call (traced).

    Attributes:
        context: layer -> what its ``reduce`` reads (e.g. its targets and weights).
        row0: the image row of ``x``'s first row (a strip), ``None`` for row 0.
    """

    context: Any = None
    row0: Array | None = None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The loss's :class:`~jaxstyle.model.visitor.Visitor` (static, hashable).

    Attributes:
        reduce: ``reduce(name, activation, context[name]) -> pytree`` for each wanted
            layer, inside its block; ``None`` keeps the activation.
        height: the image's true height when ``x`` is padded below it or is a strip
            of it: every activation is zero on the rows outside the image at its
            level (``height >> pools``; :func:`~jaxstyle.model.conv.valid_rows`), so
            each layer's 'same' padding and pooling see exactly the image.
        first_block: the first block computed (see the visitor).
        remat: rematerialise each block in the backward pass; values and gradients
            are unchanged.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxstyle.model.vgg import features, init_params
        >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
        >>> x = jnp.ones((16, 16, 3))
        >>> sums = Evaluation(reduce=lambda name, f, ctx: f.sum() * ctx)
        >>> out = features(p, x, ["relu1_1"], visitor=sums, state=Pass({"relu1_1": 2.0}))
        >>> bool(jnp.allclose(out["relu1_1"], 2 * features(p, x, ["relu1_1"])["relu1_1"].sum()))
        True
    """

    reduce: Any = None
    height: int | None = None
    first_block: int = 1
    remat: bool = False

    def flow(self, x: Array, pools: int, state: Pass | None) -> Array:
        return valid_rows(x, self.height, pools, None if state is None else state.row0)

    def keep(self, name: str, x: Array, state: Pass | None) -> Any:
        if self.reduce is None:
            return x
        context = {} if state is None or state.context is None else state.context
        return self.reduce(name, x, context.get(name))
