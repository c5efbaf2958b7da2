"""L-BFGS's starting inverse Hessian ``H0``: the identity, or a spectral preconditioner.

The two-loop recursion (:mod:`jaxstyle.solve.twoloop`) starts from ``H0 = gamma P``.
With ``P = I`` (``"none"``) it is textbook L-BFGS, torch's. Style transfer's loss is
badly conditioned across spatial frequencies: the Gram matrices of the deep layers move
with an image's large-scale structure, which a pixel-space gradient changes slowly
next to its fine texture. ``"spectral"`` gives each spatial frequency ``f`` (cycles
per pixel, per colour channel) the weight

    ``w(f) = 1 + (f0 / max(f, 1 / N))**2``,  ``f0 = CYCLES / N``,  ``N = max(H, W)``,

so that structure coarser than about ``CYCLES`` (2) periods across the image takes
larger steps (the mean colour ``1 + CYCLES**2`` times) while finer detail keeps the
plain gradient's (``w -> 1``). ``P`` is symmetric positive definite (a real, even
filter), so ``-P g`` is a descent direction and the curvature pairs keep ``H``
positive definite. It is the same idea as optimising a Fourier-scaled parametrisation
of the image (Olah et al., *Feature Visualization*, Distill 2017), kept on the pixels:
the iterates, the loss and the line search are unchanged. Raced against torch in ``benchmarks/README.md`` ("Time to torch's look").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
#: Structure this many periods across the image's long side or coarser gets the boost.
CYCLES = 2.0


def spectral_weights(h: int, w: int, cycles: float = CYCLES) -> Array:
    """``w(f)`` on ``rfft2``'s grid: ``(h, w // 2 + 1)`` float32, at least 1.

    Example:
        >>> wt = spectral_weights(8, 8)
        >>> float(wt[0, 0]), float(wt[0, 4])  # the mean colour; 2 px stripes (f = 0.5)
        (5.0, 1.25)
    """
    n = max(h, w)
    f = jnp.sqrt(jnp.fft.fftfreq(h)[:, None] ** 2 + jnp.fft.rfftfreq(w)[None, :] ** 2)
    return (1.0 + (cycles / n / jnp.maximum(f, 1.0 / n)) ** 2).astype(jnp.float32)


def spectral(q: Array) -> Array:
    """``P q`` for ``q`` ``(..., H, W, C)`` float32, each channel by :func:`spectral_weights`.

    Example:
        >>> q = jnp.ones((8, 8, 3))  # a flat image: its mean colour is boosted 5x
        >>> float(spectral(q)[0, 0, 0])
        5.0
    """
    h, w = q.shape[-3], q.shape[-2]
    wt = spectral_weights(h, w).reshape((1,) * (q.ndim - 3) + (h, w // 2 + 1, 1))
    spectrum = jnp.fft.rfft2(q, axes=(-3, -2))
    filtered = spectrum * wt.astype(spectrum.dtype)
    return jnp.fft.irfft2(filtered, s=(h, w), axes=(-3, -2)).astype(q.dtype)


def identity(q: Array) -> Array:
    """``P = I``: plain L-BFGS."""
    return q


#: ``Config.precondition`` -> ``P``, a linear map of one item's ``(H, W, C)`` array (which
#: optimiser offers which name: :data:`jaxstyle.options.PRECONDITIONERS`).
OPERATORS: dict[str, Callable[[Array], Array]] = {"none": identity, "spectral": spectral}


class Precondition(NamedTuple):
    """``P`` for one item, hashable (a ``jit`` static argument): a name and the image's size.

    Attributes:
        name: a key of :data:`OPERATORS`.
        hw: ``(H, W)`` of the image inside an item that a row split padded below
            (:mod:`jaxstyle.scale.sharding`): ``P`` filters that image alone and leaves
            the padding 0, so a padded run takes the steps of an unpadded one. ``None``:
            the whole item.

    Example:
        >>> p = Precondition("spectral", (6, 8))
        >>> out = p(jnp.ones((8, 8, 3)))  # two padded rows
        >>> out.shape, float(out[5, 0, 0]), float(out[6, 0, 0])
        ((8, 8, 3), 5.0, 0.0)
    """

    name: str = "none"
    hw: tuple[int, int] | None = None

    def __call__(self, q: Array) -> Array:
        p = OPERATORS[self.name]
        if self.name == "none" or self.hw is None or tuple(q.shape[-3:-1]) == self.hw:
            return p(q)
        h, w = self.hw
        inner = p(q[..., :h, :w, :])
        pad = [(0, 0)] * (q.ndim - 3) + [(0, q.shape[-3] - h), (0, q.shape[-2] - w), (0, 0)]
        return jnp.pad(inner, pad)
