"""CPU-only kernels: a plug-in for VGG19's convolutions and the Gram's gradient.

XLA:CPU leaves two costs in a VGG19 loss+gradient evaluation that a precomputed
array removes, so :func:`jaxstyle.stylize` plugs these in on a CPU
(``Config.convolution="auto"``) and never elsewhere (cuDNN and TPUs choose their own
algorithms):

- the input gradient of a convolution flips and transposes its kernel on every call,
  which XLA:CPU cannot hoist out of a program whose kernels are arguments; the
  plug-in uses a precomputed backward kernel instead;
- Winograd F(2x2, 3x3) (:mod:`jaxstyle.cpu.winograd`) for blocks 3-5, where the
  products' saving beats the transforms' memory traffic;
- the Gram's autodiff gradient comes out in ``(C, H*W)`` layout and is transposed
  element by element; :func:`gram` has a hand-written VJP in the activations' layout.

Each is a ``jax.custom_vjp``: exact in value and in reverse mode (tested against the
plain functions), but without a forward-mode rule. :func:`jaxstyle.objective` uses
none of them unless asked, so ``jax.jvp`` and Hessian-vector products work on it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.cpu import winograd
from jaxstyle.loss.equations import gram as plain_gram
from jaxstyle.model.conv import conv3x3
from jaxstyle.model.layers import CONV_LAYERS, convs_reached
from jaxstyle.model.vgg import Params

Array = jax.Array

#: The convolutions run in Winograd form: blocks 3-5 (128 or more input channels).
#: Blocks 1-2 lose: over 64-128 channels at full resolution the transforms cost more
#: than the products save.
WINOGRAD_LAYERS: tuple[str, ...] = tuple(c for c in CONV_LAYERS if int(c[4]) >= 3)
#: ``convolution="auto"`` adds Winograd from this many pixels up: below it the
#: longer compile is never won back.
WINOGRAD_MIN_PIXELS = 128 * 128


def backward_kernel(kernel: Array) -> Array:
    """The kernel of a 3x3 'same' convolution's input gradient: flipped, in/out swapped.

    Example:
        >>> k = jnp.arange(18.0).reshape(3, 3, 1, 2)
        >>> backward_kernel(k).shape
        (3, 3, 2, 1)
    """
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _conv(x: Array, kernel: Array, prepared: Any, method: str, precision: Any) -> Array:
    if method == "winograd":
        return winograd.conv3x3(x, prepared[0], precision)
    return conv3x3(x, kernel, precision)


def _conv_fwd(
    x: Array, kernel: Array, prepared: Any, method: str, precision: Any
) -> tuple[Array, Any]:
    return _conv(x, kernel, prepared, method, precision), (x, kernel, prepared)


def _conv_bwd(method: str, precision: Any, res: Any, g: Array) -> tuple[Any, ...]:
    x, kernel, prepared = res
    # The kernel's gradient is exact too (compiled away when nobody asks for it); the
    # prepared arrays are functions of the kernel, so theirs is zero.
    _, kernel_vjp = jax.vjp(lambda k: conv3x3(x, k, precision), kernel)
    if method == "winograd":
        dx = winograd.conv3x3(g, prepared[1], precision)
    else:
        dx = conv3x3(g, prepared.astype(g.dtype), precision)
    return dx, kernel_vjp(g)[0], jax.tree.map(jnp.zeros_like, prepared)


_conv.defvjp(_conv_fwd, _conv_bwd)


@jax.custom_vjp
def gram(features: Array) -> Array:
    """:func:`jaxstyle.loss.equations.gram` with a hand-written VJP ``F (Gbar + Gbar^T)``.

    One product that comes out in the activations' ``(H*W, C)`` layout, where
    autodiff's transposes the gradient first (slower on XLA:CPU; ``benchmarks/``).

    Example:
        >>> from jaxstyle.loss import equations
        >>> f = jnp.arange(6.0).reshape(1, 3, 2)
        >>> mine, autodiff = (jax.grad(lambda f: g(f)[0, 1])(f) for g in (gram, equations.gram))
        >>> bool(jnp.allclose(mine, autodiff))
        True
    """
    return plain_gram(features)


def _gram_fwd(features: Array) -> tuple[Array, Array]:
    return plain_gram(features), features


def _gram_bwd(features: Array, g: Array) -> tuple[Array]:
    f = features.reshape(-1, features.shape[-1])
    sym = (g + g.T).astype(f.dtype)
    df = jnp.einsum("mi,ij->mj", f, sym, preferred_element_type=jnp.float32)
    return (df.astype(features.dtype).reshape(features.shape),)


gram.defvjp(_gram_fwd, _gram_bwd)


@dataclasses.dataclass(frozen=True)
class CpuKernels:
    """The CPU plug-in (:class:`jaxstyle.model.conv.ConvPlugin`): which layers, in which form.

    Attributes:
        backward: convolutions run with a precomputed backward kernel.
        winograd: convolutions run as Winograd F(2x2, 3x3), float32 only.

    Example:
        >>> from jaxstyle.model.vgg import features, init_params
        >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
        >>> k = CpuKernels(backward=("conv1_1",), winograd=("conv3_1",))
        >>> x = jnp.ones((32, 32, 3))
        >>> fast = features(p, x, ["relu3_1"], kernels=k, prepared=k.prepare(p))
        >>> bool(jnp.allclose(fast["relu3_1"], features(p, x, ["relu3_1"])["relu3_1"], atol=1e-4))
        True
    """

    backward: tuple[str, ...] = ()
    winograd: tuple[str, ...] = ()

    @property
    def layers(self) -> tuple[str, ...]:
        return (*self.backward, *self.winograd)

    def conv(self, name: str, x: Array, kernel: Array, prepared: Any, precision: Any) -> Array:
        method = "winograd" if name in self.winograd else "backward"
        if method == "winograd" and x.dtype != jnp.float32:
            raise ValueError(f"Winograd convolutions are float32 only, got {x.dtype}")
        return _conv(x, kernel, prepared, method, precision)

    def prepare(self, params: Params) -> dict[str, dict[str, Any]]:
        """The ``"prepared"`` collection for these params, computed once per run.

        Not traceable: the Winograd matrices are sliced on the host, because inside a
        compiled program each slice is a copy XLA:CPU compiles apart.
        """
        kernels = {n: params[n]["kernel"] for n in self.layers}
        made = _prepared(kernels, self.winograd)
        out: dict[str, dict[str, Any]] = {}
        for name, arrays in made.items():
            if name in self.winograd:
                arrays = (_points(arrays), _points(arrays, backward=True))
            out[name] = {"arrays": arrays}
        return out

    def gram(self, features: Array) -> Array:
        return gram(features)


@functools.partial(jax.jit, static_argnames=("winograd_layers",))
def _prepared(kernels: dict[str, Array], winograd_layers: tuple[str, ...]) -> dict[str, Array]:
    return {
        n: winograd.transform_kernel_stacked(k) if n in winograd_layers else backward_kernel(k)
        for n, k in kernels.items()
    }


def _points(stacked: Array, backward: bool = False) -> tuple[Array, ...]:
    points = tuple(np.asarray(stacked))
    points = winograd.backward_transform(points) if backward else points
    device = next(iter(stacked.devices())) if stacked.committed else None
    return tuple(jax.device_put(p, device) for p in points)


def choose(
    convolution: str,
    backend: str,
    layers: tuple[str, ...],
    hw: tuple[int, int],
    *,
    precision: str = "float32",
    optimizer: str = "lbfgs",
) -> CpuKernels | None:
    """The plug-in a resolved config runs with, or ``None`` for plain JAX.

    ``"direct"``: none. ``"auto"``: none off a CPU; on a CPU, backward kernels for
    every convolution the layers reach, plus Winograd for blocks 3-5 with the
    ``lbfgs`` optimiser (whose one evaluation program is the only place the network
    is compiled) at float32/tf32 from :data:`WINOGRAD_MIN_PIXELS` up.
    ``"winograd"``: Winograd for blocks 3-5 at any size (CPU only, checked by
    :func:`jaxstyle.config.resolve`).

    Example:
        >>> choose("auto", "gpu", ("relu4_2",), (512, 512)) is None
        True
        >>> choose("auto", "cpu", ("relu3_1",), (256, 256)).winograd
        ('conv3_1',)
    """
    if convolution == "direct" or backend != "cpu":
        return None
    convs = convs_reached(layers)
    fast = convolution == "winograd" or (
        optimizer == "lbfgs" and precision != "bfloat16" and hw[0] * hw[1] >= WINOGRAD_MIN_PIXELS
    )
    wino = tuple(c for c in convs if c in WINOGRAD_LAYERS) if fast else ()
    return CpuKernels(backward=tuple(c for c in convs if c not in wino), winograd=wino)
