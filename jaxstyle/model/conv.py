"""The layers VGG19 is built of: 3x3 'same' convolutions, 2x2 pooling, row masks.

Plain ``lax`` operations, differentiable in every mode. :class:`Conv3x3` takes a
backend-specific :class:`ConvPlugin` (:mod:`jaxstyle.cpu.plugin`, CPU only) for the
layers it names; :func:`valid_rows` zeroes the rows outside an image when it has been
padded (spatial sharding) or cut into strips (:mod:`jaxstyle.loss.tiling`).
"""

from __future__ import annotations

from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class ConvPlugin(Protocol):
    """A replacement for some of the network's convolutions (see :mod:`jaxstyle.cpu.plugin`).

    ``layers`` names the convolutions it computes; ``conv(name, x, kernel, prepared,
    precision)`` returns the same values as the plain convolution, from the
    ``prepared`` arrays it made for that layer. Must be hashable (it is static).
    """

    layers: tuple[str, ...]

    def conv(self, name: str, x: Array, kernel: Array, prepared: Any, precision: Any) -> Array: ...


def pool2x2(x: Array, kind: str) -> Array:
    """2x2 stride-2 pooling of NHWC ``x``; odd edges are dropped (as Caffe/torch floor).

    Written on ``lax.reduce_window`` (not ``nn.avg_pool``) so that averaging divides
    by a float and stays clean under strict dtype promotion.
    """
    window, strides = (1, 2, 2, 1), (1, 2, 2, 1)
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, "VALID")
    # Scalar inits select lax's differentiable reduce_window_{sum,max} monoids.
    summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, "VALID")
    return summed * jnp.array(0.25, x.dtype)


_NHWC = ("NHWC", "HWIO", "NHWC")


def valid_rows(x: Array, height: int | None, pools: int, row0: Array | None = None) -> Array:
    """NHWC ``x`` with the rows outside the image's zeroed (``height=None``: ``x``).

    Row ``j`` of ``x`` is the image's row ``(row0 >> pools) + j`` at this level
    (``row0``: the input row of ``x``'s first, a multiple of ``2**pools``, may be
    negative; default 0); the image's rows there are ``0 .. (height >> pools) - 1``.

    Example:
        >>> valid_rows(jnp.ones((1, 4, 1, 1)), 7, 1)[0, :, 0, 0]
        Array([1., 1., 1., 0.], dtype=float32)
        >>> valid_rows(jnp.ones((1, 4, 1, 1)), 7, 1, jnp.int32(-2))[0, :, 0, 0]
        Array([0., 1., 1., 1.], dtype=float32)
    """
    if height is None:
        return x
    rows = jnp.arange(x.shape[1])
    if row0 is None:
        if (height >> pools) >= x.shape[1]:
            return x
    else:
        rows = rows + (row0 >> pools)
    keep = ((rows >= 0) & (rows < (height >> pools)))[None, :, None, None]
    return jnp.where(keep, x, jnp.zeros((), x.dtype))


def conv3x3(x: Array, kernel: Array, precision: Any = None) -> Array:
    """3x3 stride-1 'same' convolution of NHWC ``x`` by an HWIO ``kernel``, no bias."""
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC, precision=precision
    )


class Conv3x3(nn.Module):
    """3x3 stride-1 'same' convolution with bias, params ``kernel`` (HWIO) and ``bias``.

    With a ``kernels`` plug-in that names this layer, the convolution is the plug-in's,
    fed from this layer's entry of the ``"prepared"`` collection; otherwise it is
    :func:`conv3x3`.
    """

    features: int
    precision: Any = None
    dtype: Any = None
    kernels: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (3, 3, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        dtype = self.dtype or x.dtype
        x, kernel, bias = x.astype(dtype), kernel.astype(dtype), bias.astype(dtype)
        if self.kernels is not None and self.name in self.kernels.layers:
            if not self.has_variable("prepared", "arrays"):
                raise ValueError(
                    f"the convolution plug-in needs its prepared arrays for {self.name}; "
                    "pass prepared=kernels.prepare(params)"
                )
            prepared = self.get_variable("prepared", "arrays")
            y = self.kernels.conv(self.name, x, kernel, prepared, self.precision)
        else:
            y = conv3x3(x, kernel, self.precision)
        return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
