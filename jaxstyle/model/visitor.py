"""How a caller takes part in VGG19's forward pass: the :class:`Visitor` protocol.

The network calls its visitor after each convolution and pooling and for each
wanted layer; what a loss does there is its own visitor
(:class:`jaxstyle.loss.evaluate.Evaluation`). :class:`Plain` is the plain pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax

Array = jax.Array


class Visitor(Protocol):
    """How a caller takes part in a forward pass, without the network knowing why.

    A visitor is static (hashable); what it reads per call (targets, a strip's first
    row) comes as the ``state`` argument. :mod:`jaxstyle.loss.evaluate` has the loss's.

    Attributes:
        first_block: the first block computed (1: ``x`` is the image; ``b``: ``x`` is
            block ``b - 1``'s output, ``pool{b-1}``).
        remat: rematerialise each block in the backward pass (``nn.checkpoint``).
    """

    first_block: int
    remat: bool

    def flow(self, x: Array, pools: int, state: Any) -> Array:
        """The activation the network goes on with, after each convolution and pooling
        (``pools``: poolings before it)."""
        ...

    def keep(self, name: str, x: Array, state: Any) -> Any:
        """What the network returns for the wanted layer ``name``."""
        ...


@dataclasses.dataclass(frozen=True)
class Plain:
    """The visitor of a plain forward pass: every wanted activation, as it is."""

    first_block: int = 1
    remat: bool = False

    def flow(self, x: Array, pools: int, state: Any) -> Array:
        return x

    def keep(self, name: str, x: Array, state: Any) -> Any:
        return x


@dataclasses.dataclass(frozen=True)
class Unbatched:
    """A per-image visitor on the network's batch-of-one activations."""

    visitor: Any

    @property
    def first_block(self) -> int:
        return self.visitor.first_block

    @property
    def remat(self) -> bool:
        return self.visitor.remat

    def flow(self, x: Array, pools: int, state: Any) -> Array:
        return self.visitor.flow(x, pools, state)

    def keep(self, name: str, x: Array, state: Any) -> Any:
        return self.visitor.keep(name, x[0], state)
