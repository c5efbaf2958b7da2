"""One layer's unweighted loss terms: Eq. 1 and Eq. 4 (or their variants) at that layer.

:class:`LayerTerms` is the ``reduce`` of :class:`~jaxstyle.loss.evaluate.Evaluation`: applied to a
layer's activation inside its block, so that under rematerialisation only these
scalars outlive the block. :meth:`LayerTerms.terms` computes the same terms from a
layer's parts computed elsewhere (its Gram summed over strips, its features
stitched from them; :mod:`jaxstyle.loss.tiling`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.loss import equations, wasserstein
from jaxstyle.loss.guides import guided_gram
from jaxstyle.loss.spec import Spec
from jaxstyle.model.layers import pools_before

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class LayerTerms:
    """One layer's unweighted loss terms (an :class:`~jaxstyle.loss.evaluate.Evaluation`'s ``reduce``).

    Given ``(name, (H_l, W_l, C_l) activation, {"content": P, "style": target,
    "guides": guides})``, returns ``{"content": L_c, "content_factor", "style": E_l,
    "style_factor"}`` for the layer's roles (the factors: the ``"authors"``
    weighting's, from the shape; float32 scalars), and ``"features"`` when ``keep``.

    Attributes:
        spec: the :class:`~jaxstyle.loss.spec.Spec` (layers, style loss, regions,
            true height of a padded image, plug-in).
        keep: also hand back the activation itself (for an extra loss term).

    Example:
        >>> from jaxstyle.loss.spec import Spec
        >>> f = jnp.ones((2, 3, 4))
        >>> t = LayerTerms(Spec(content_layers=("relu1_1",), style_layers=()))
        >>> float(t("relu1_1", f, {"content": jnp.zeros((2, 3, 4))})["content"])
        12.0
    """

    spec: Spec
    keep: bool = False

    def __call__(self, name: str, f: Array, ctx: dict[str, Any]) -> dict[str, Array]:
        return self.terms(name, f.shape, ctx, features=f)

    def terms(
        self,
        name: str,
        shape: tuple[int, ...],
        ctx: dict[str, Any],
        *,
        features: Array | None = None,
        gram: Array | None = None,
    ) -> dict[str, Array]:
        """The terms of layer ``name`` of ``shape`` ``(H_l, W_l, C_l)`` from its parts.

        ``features`` are needed for a content layer (and ``keep``); a style layer
        takes its Gram ``gram`` when given (Eq. 4 of the plain Gram loss), else its
        ``features``.
        """
        out: dict[str, Array] = {}
        rows = shape[0]
        if self.spec.height is not None:  # padded rows are zero; count the true ones
            rows = self.spec.height >> pools_before(name)
        positions, channels = rows * shape[1], shape[-1]
        like = jax.ShapeDtypeStruct(tuple(shape), jnp.float32)  # what the factors read
        if name in self.spec.content_layers:
            out["content"] = equations.content_loss(features, ctx["content"])
            out["content_factor"] = jnp.float32(2.0 / (positions * channels))
        if name in self.spec.style_layers:
            if self.spec.style_loss == "wasserstein":
                out["style_factor"] = jnp.float32(wasserstein.authors_factor(like))
                out["style"] = wasserstein.wasserstein_layer_loss(features, ctx["style"])
            else:
                out["style_factor"] = jnp.float32(equations.authors_style_factor(like))
                out["style"] = (
                    equations.gram_loss(gram, ctx["style"], positions)
                    if gram is not None
                    else self._gram_term(features, ctx["style"], ctx.get("guides"), positions)
                )
        if self.keep:
            out["features"] = features
        return out

    def _gram_term(self, f: Array, target: Array, guides: Array | None, positions: int) -> Array:
        """Eq. 4 of one layer, or its mean over regions on guided Grams (Gatys et al. 2017)."""
        gram = equations.gram if self.spec.kernels is None else self.spec.kernels.gram
        regions = self.spec.regions
        if not regions:
            return equations.style_layer_loss(f, target, gram, positions)
        parts = [  # guides (R, H_l, W_l), target Grams (R, C, C)
            equations.style_layer_loss(
                f, target[r], functools.partial(guided_gram, guide=guides[r], gram_fn=gram)
            )
            for r in range(regions)
        ]
        return sum(parts[1:], parts[0]) / float(regions)
