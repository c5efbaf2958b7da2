"""VGG19 feature extractor as a Flax Linen module.

The network of Gatys et al. (2016): the 16 convolutional and 5 pooling layers of
VGG19 (Simonyan & Zisserman, 2014), no fully connected layers, average pooling by
default. The module holds only static configuration; the params are a plain nested
dict ``{"conv1_1": {"kernel": (3, 3, Cin, Cout), "bias": (Cout,)}, ...}`` passed to
:func:`features` (or ``VGG19(...).apply({"params": params}, x)``).

Layer names follow the Caffe/VGG convention the style-transfer literature uses:
``conv{b}_{i}`` is the convolution's output before the ReLU, ``relu{b}_{i}`` after
it, ``pool{b}`` the pooled output of block ``b``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import winograd
from jaxstyle.errors import WeightsError
from jaxstyle.winograd import backward_transform, transform_kernel

Array = jax.Array
Params = dict[str, dict[str, Any]]

#: Channel width of each of the five blocks of VGG19.
VGG19_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: Convolutions per block in VGG19.
VGG19_DEPTHS: tuple[int, ...] = (2, 2, 4, 4, 4)

CONV_LAYERS: tuple[str, ...] = tuple(
    f"conv{b + 1}_{i + 1}" for b, depth in enumerate(VGG19_DEPTHS) for i in range(depth)
)
#: The convolutions worth running in Winograd form on a CPU: blocks 3-5 (128 or more
#: input channels, 256 or more output). Blocks 1-2 lose: their transforms, memory-bound
#: over 64-128 channels at full resolution, cost more than the products save
#: (``benchmarks/results/cpu_conv_layers.md``).
WINOGRAD_LAYERS: tuple[str, ...] = tuple(c for c in CONV_LAYERS if int(c[4]) >= 3)
#: The convolutions Winograd F(4x4, 3x3) is offered for: blocks 2-5. Its transforms
#: touch 2.25 input values per output pixel where F(2x2)'s touch 4, so at 128² px and
#: 64-128 channels (block 2) the products' saving is no longer eaten by memory traffic.
WINOGRAD4_LAYERS: tuple[str, ...] = tuple(c for c in CONV_LAYERS if int(c[4]) >= 2)


def _layer_sequence() -> tuple[str, ...]:
    names: list[str] = []
    for b, depth in enumerate(VGG19_DEPTHS):
        for i in range(depth):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    return tuple(names)


#: Every named activation, in the order the network computes them.
LAYERS: tuple[str, ...] = _layer_sequence()


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    """Returns ``layers`` as a tuple, raising ``ValueError`` naming any unknown layer."""
    unknown = [name for name in layers if name not in LAYERS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 layer {unknown[0]!r}; known layers are conv1_1..conv5_4, "
            "relu1_1..relu5_4 and pool1..pool5"
        )
    return tuple(layers)


def block_of(layer: str) -> int:
    """The block (1-5) that computes ``layer``.

    Example:
        >>> block_of("conv1_1"), block_of("relu3_2"), block_of("pool4")
        (1, 3, 4)
    """
    check_layers([layer])
    return int(layer.removeprefix("pool")[0] if layer.startswith("pool") else layer[4])


def held_layers(blocks: int) -> tuple[str, ...]:
    """The convolutions of VGG19's first ``blocks`` blocks, in network order.

    Example:
        >>> held_layers(2)
        ('conv1_1', 'conv1_2', 'conv2_1', 'conv2_2')
    """
    return tuple(name for name in CONV_LAYERS if int(name[4]) <= blocks)


def check_depth(layers: Sequence[str], blocks: int) -> None:
    """Raises :class:`~jaxstyle.errors.WeightsError` if a layer lies past ``blocks`` blocks.

    A weights file may hold only VGG19's first blocks (see :func:`blocks_of`); a layer
    past them is an error, never a layer computed from missing weights.

    Example:
        >>> check_depth(["relu1_1", "relu3_1"], 3)
        >>> check_depth(["relu4_2"], 3)
        Traceback (most recent call last):
        ...
        jaxstyle.errors.WeightsError: layer relu4_2 needs block 4 of VGG19, but these weights hold blocks 1-3 only (conv1_1 ... conv3_4); use layers up to relu3_4
    """
    for name in layers:
        if block_of(name) > blocks:
            last = f"conv{blocks}_{VGG19_DEPTHS[blocks - 1]}"
            raise WeightsError(
                f"layer {name} needs block {block_of(name)} of VGG19, but these weights hold "
                f"blocks 1-{blocks} only (conv1_1 ... {last}); use layers up to "
                f"{last.replace('conv', 'relu')}"
            )


def min_size(layers: Sequence[str]) -> int:
    """Smallest image side (pixels) for which every layer in ``layers`` is non-empty.

    Each pooling before a layer halves (floors) the side, so a layer after ``k``
    pools needs ``2**k`` pixels.

    Example:
        >>> min_size(["relu1_1"]), min_size(["relu5_1"]), min_size(["pool5"])
        (1, 16, 32)
    """
    deepest = max((LAYERS.index(name) for name in check_layers(layers)), default=0)
    pools = sum(1 for name in LAYERS[: deepest + 1] if name.startswith("pool"))
    return 2**pools


def layer_hw(hw: tuple[int, int], layer: str) -> tuple[int, int]:
    """Spatial size of ``layer``'s response to an ``(H, W)`` input.

    Convolutions keep the size ('same' padding); each 2x2 stride-2 pooling up to and
    including ``layer`` floors it by half.

    Example:
        >>> layer_hw((96, 129), "relu1_1"), layer_hw((96, 129), "relu3_1"), layer_hw((96, 129), "pool3")
        ((96, 129), (24, 32), (12, 16))
    """
    pools = sum(1 for name in LAYERS[: LAYERS.index(layer) + 1] if name.startswith("pool"))
    h, w = hw
    for _ in range(pools):
        h, w = h // 2, w // 2
    return h, w


def convs_reached(layers: Sequence[str]) -> tuple[str, ...]:
    """The convolutions computed to reach every layer in ``layers``, in network order.

    Example:
        >>> convs_reached(["relu2_1", "conv1_2"])
        ('conv1_1', 'conv1_2', 'conv2_1')
    """
    deepest = max((LAYERS.index(name) for name in check_layers(layers)), default=-1)
    return tuple(c for c in CONV_LAYERS if LAYERS.index(c) <= deepest)


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How an RGB image in [0, 1] becomes the network's input.

    ``net = (permute(rgb) * scale - mean) / std``, with ``permute`` reversing the
    channels when ``channel_order == "BGR"``; ``mean`` and ``std`` are given in the
    network's own channel order and pixel scale.

    Example:
        >>> caffe = Preprocess("BGR", 255.0, (103.939, 116.779, 123.68))
        >>> caffe.apply(jnp.ones((1, 1, 3))).shape
        (1, 1, 3)
    """

    channel_order: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values, one per channel")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        object.__setattr__(self, "scale", float(self.scale))

    def _permute(self, x: Array) -> Array:
        return x[..., ::-1] if self.channel_order == "BGR" else x

    def _constants(self, x: Array) -> tuple[Array, Array, Array]:
        # Explicit rank: the suite runs with jax_numpy_rank_promotion="raise".
        shape = (1,) * (x.ndim - 1) + (3,)
        mean = jnp.asarray(self.mean, x.dtype).reshape(shape)
        std = jnp.asarray(self.std, x.dtype).reshape(shape)
        return mean, std, jnp.asarray(self.scale, x.dtype)

    def apply(self, rgb: Array) -> Array:
        """Maps RGB pixels in [0, 1], shape ``(..., 3)``, to network input."""
        mean, std, scale = self._constants(rgb)
        return (self._permute(rgb) * scale - mean) / std

    def invert(self, net: Array) -> Array:
        """Maps network input back to RGB pixels (unclipped)."""
        mean, std, scale = self._constants(net)
        return self._permute((net * std + mean) / scale)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocess:
        return cls(
            channel_order=str(d["channel_order"]),
            scale=float(d["scale"]),
            mean=tuple(d["mean"]),  # type: ignore[arg-type]
            std=tuple(d.get("std", (1.0, 1.0, 1.0))),  # type: ignore[arg-type]
        )


#: Caffe's VGG (and the Keras port of it): BGR, 0-255, ImageNet mean subtracted.
CAFFE = Preprocess("BGR", 255.0, (103.939, 116.779, 123.68))
#: torchvision's VGG: RGB in [0, 1], ImageNet mean and std.
TORCHVISION = Preprocess("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: Gatys' ``vgg_conv.pth``: BGR, mean (in [0, 1]) subtracted, then times 255.
GATYS = Preprocess("BGR", 255.0, (0.40760392 * 255, 0.45795686 * 255, 0.48501961 * 255))


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


def _conv(x: Array, kernel: Array, precision: Any) -> Array:
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC, precision=precision
    )


def backward_kernel(kernel: Array) -> Array:
    """The kernel of a 3x3 'same' convolution's input gradient: flipped, in/out swapped.

    ``conv(g, backward_kernel(k))`` is the gradient of ``conv(x, k)`` with respect to
    ``x`` for the output gradient ``g``.
    """
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


# ``methods`` is (convolution, its input gradient), each called as ``f(x, prepared,
# precision)`` with ``forward`` and ``backward``: ``_conv`` twice with a kernel and
# ``kernel_t`` (direct), ``conv3x3`` twice with ``winograd`` and ``winograd_t``, or
# ``conv3x3`` and ``conv3x3_transposed`` with ``winograd`` twice (the lean form).
@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _conv_prepared(
    x: Array, kernel: Array, forward: Any, backward: Any, methods: Any, precision: Any
) -> Array:
    return methods[0](x, forward, precision)


def _conv_prepared_fwd(
    x: Array, kernel: Array, forward: Any, backward: Any, methods: Any, precision: Any
) -> tuple[Array, tuple[Array, ...]]:
    return methods[0](x, forward, precision), (x, kernel, forward, backward)


def _conv_prepared_bwd(
    methods: Any, precision: Any, res: tuple[Array, ...], g: Array
) -> tuple[Array, ...]:
    x, kernel, forward, backward = res
    # The kernel's gradient is exact too (and compiled away when nobody asks for it);
    # the prepared kernels are functions of it, so theirs is zero.
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, precision), kernel)
    dx = methods[1](g, backward, precision)
    return dx, kernel_vjp(g)[0], *jax.tree.map(jnp.zeros_like, (forward, backward))


_conv_prepared.defvjp(_conv_prepared_fwd, _conv_prepared_bwd)


class Conv3x3(nn.Module):
    """3x3 stride-1 'same' convolution with bias, params ``kernel`` (HWIO) and ``bias``.

    Params prepared by :func:`with_backward_kernels` change how it is computed, never
    what (tested against the plain kernel, values and gradients):

    - ``kernel_t = backward_kernel(kernel)``: the input gradient uses it instead of
      flipping and transposing ``kernel`` on every call. Why: XLA:CPU cannot hoist
      that transpose out of a program whose kernels are arguments; at 128 px it was
      ~15 % of a loss+gradient evaluation of VGG19 (``benchmarks/``).
    - ``winograd``, the 16 arrays of :func:`~jaxstyle.winograd.transform_kernel`, and
      ``winograd_t``, those of the input gradient
      (:func:`~jaxstyle.winograd.backward_transform`): the convolution and its input
      gradient run as Winograd F(2x2, 3x3) (:mod:`jaxstyle.winograd`), float32 only.
      Without ``winograd_t`` the input gradient reads ``winograd`` reflected and
      transposed: half the memory, slower on a CPU. With 36 arrays each (``tile=4``
      in :func:`with_backward_kernels`) they run as F(4x4, 3x3), which needs
      ``winograd_t``; its float32 error is ~20x the direct convolution's.
    """

    features: int
    precision: Any = None
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (3, 3, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        dtype = self.dtype or x.dtype
        x, kernel, bias = x.astype(dtype), kernel.astype(dtype), bias.astype(dtype)
        if self.has_variable("params", "winograd"):
            if jnp.dtype(dtype) != jnp.float32:
                raise ValueError(
                    f"Winograd kernels are for float32 convolutions, this one is {dtype}; "
                    "prepare the params without them"
                )
            u = self.get_variable("params", "winograd")
            if self.has_variable("params", "winograd_t"):
                u_t = self.get_variable("params", "winograd_t")
                methods = (winograd.conv3x3, winograd.conv3x3)
            else:
                u_t, methods = u, (winograd.conv3x3, winograd.conv3x3_transposed)
            y = _conv_prepared(x, kernel, u, u_t, methods, self.precision)
        elif self.has_variable("params", "kernel_t"):
            kernel_t = self.get_variable("params", "kernel_t").astype(dtype)
            y = _conv_prepared(x, kernel, kernel, kernel_t, (_conv, _conv), self.precision)
        else:
            y = _conv(x, kernel, self.precision)
        return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


def with_backward_kernels(
    params: Params,
    *,
    layers: Collection[str] | None = None,
    winograd: Collection[str] = (),
    tile: int = 2,
) -> Params:
    """``params`` with the kernels that make gradients faster (see :class:`Conv3x3`).

    Compute it once per set of weights, outside the optimisation loop.

    Args:
        params: the network's params.
        layers: the convolutions to prepare (default: all); leave out the ones the
            loss never reaches, whose prepared kernels would only take memory.
        winograd: the convolutions to prepare in Winograd form (``winograd`` and
            ``winograd_t``, 16 arrays each, 32/9 the kernel's size) instead of
            ``kernel_t`` (the kernel's size).
        tile: the Winograd output tile, 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3): 36 arrays
            each, 8x the kernel's size; ~20x the float32 error, see
            :mod:`jaxstyle.winograd`).

    Example:
        >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
        >>> q = with_backward_kernels(p, layers=("conv1_1", "conv3_1"), winograd=("conv3_1",))
        >>> sorted(q["conv1_1"]), sorted(q["conv3_1"]), sorted(q["conv3_2"])
        (['bias', 'kernel', 'kernel_t'], ['bias', 'kernel', 'winograd', 'winograd_t'], ['bias', 'kernel'])
    """
    out: Params = {}
    for name, leaf in params.items():
        if "kernel" not in leaf or (layers is not None and name not in layers):
            out[name] = leaf
        elif name in winograd:
            u = transform_kernel(leaf["kernel"], tile)
            # F(4x4)'s points are not closed under the kernel's flip: no shortcut.
            u_t = (
                backward_transform(u)
                if tile == 2
                else transform_kernel(backward_kernel(leaf["kernel"]), tile)
            )
            out[name] = {**leaf, "winograd": u, "winograd_t": u_t}
        else:
            out[name] = {**leaf, "kernel_t": backward_kernel(leaf["kernel"])}
    return out


class VGG19(nn.Module):
    """The convolutional part of VGG19, returning named activations.

    Attributes:
        outputs: names of the activations to return (see :data:`LAYERS`). Layers
            after the deepest one asked for are not computed.
        pooling: ``"avg"`` (the paper) or ``"max"`` (the original VGG), 2x2 stride 2.
        widths: channels of the blocks; the real network is :data:`VGG19_WIDTHS`,
            tests use slimmer ones to stay fast. Fewer than five widths make a network
            of VGG19's first blocks only (weights files of the first blocks); asking it
            for a later layer raises :class:`~jaxstyle.errors.WeightsError`.
        precision: ``jax.lax.Precision`` for the convolutions (``None``: backend default).
        dtype: computation dtype of the convolutions (``None``: the input's, float32);
            ``jnp.bfloat16`` casts inputs and kernels, params stay float32.

    Input is NHWC network input (see :class:`Preprocess`), any height and width.

    Example:
        >>> model = VGG19(outputs=("relu1_1", "pool1"), widths=(4, 8, 8, 8, 8))
        >>> x = jnp.zeros((1, 8, 8, 3))
        >>> params = model.init(jax.random.key(0), x)["params"]
        >>> {k: v.shape for k, v in model.apply({"params": params}, x).items()}
        {'relu1_1': (1, 8, 8, 4), 'pool1': (1, 4, 4, 4)}
    """

    outputs: tuple[str, ...] = ("relu4_2",)
    pooling: str = "avg"
    widths: tuple[int, ...] = VGG19_WIDTHS
    precision: Any = None
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> dict[str, Array]:
        wanted = set(check_layers(self.outputs))
        check_depth(self.outputs, len(self.widths))
        if self.pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {self.pooling!r}")
        out: dict[str, Array] = {}

        def keep(name: str, value: Array) -> bool:
            if name in wanted:
                out[name] = value
            return len(out) == len(wanted)

        for b, (depth, width) in enumerate(
            zip(VGG19_DEPTHS[: len(self.widths)], self.widths, strict=True)
        ):
            for i in range(depth):
                name = f"{b + 1}_{i + 1}"
                x = Conv3x3(width, precision=self.precision, dtype=self.dtype, name=f"conv{name}")(
                    x
                )
                if keep(f"conv{name}", x):
                    return out
                x = nn.relu(x)
                if keep(f"relu{name}", x):
                    return out
            x = pool2x2(x, self.pooling)
            if keep(f"pool{b + 1}", x):
                return out
        return out


def features(
    params: Params,
    x: Array,
    layers: Sequence[str],
    *,
    pooling: str = "avg",
    widths: tuple[int, ...] | None = None,
    precision: Any = None,
    dtype: Any = None,
) -> dict[str, Array]:
    """Named activations of ``x`` (NHWC or HWC network input) for ``layers``.

    A thin functional wrapper over :class:`VGG19`; the widths are read from the
    params, so slim test networks need no extra argument.

    Returns:
        dict layer name -> activation with ``x``'s rank (HWC in, HWC out).
    """
    single = x.ndim == 3
    xb = x[None] if single else x
    model = VGG19(
        outputs=tuple(layers),
        pooling=pooling,
        widths=widths or widths_of(params),
        precision=precision,
        dtype=dtype,
    )
    out = model.apply({"params": params}, xb)
    return {k: v[0] for k, v in out.items()} if single else out


def widths_of(params: Params) -> tuple[int, ...]:
    """Block widths of a params tree, read from the last conv of each block it holds."""
    widths = []
    for b, depth in enumerate(VGG19_DEPTHS):
        last = params.get(f"conv{b + 1}_{depth}")
        if last is None:
            break
        widths.append(int(last["kernel"].shape[-1]))
    return tuple(widths)


def blocks_of(params: Params) -> int:
    """How many of VGG19's five blocks ``params`` holds (5: the whole network).

    Example:
        >>> p = init_params(jax.random.key(0), (4, 8, 8))
        >>> blocks_of(p), sorted(p)[-1]
        (3, 'conv3_4')
    """
    return len(widths_of(params))


def param_shapes(widths: tuple[int, ...] = VGG19_WIDTHS) -> dict[str, dict[str, tuple[int, ...]]]:
    """The expected shape of every param, from the module itself (``jax.eval_shape``).

    ``widths`` has one entry per block held (fewer than five: the first blocks only).
    """
    model = VGG19(outputs=(f"pool{len(widths)}",), widths=widths)
    abstract = jax.eval_shape(
        model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    )["params"]
    return {layer: {k: tuple(v.shape) for k, v in leaf.items()} for layer, leaf in abstract.items()}


@functools.partial(jax.jit, static_argnames=("widths", "bias_std"))
def init_params(
    key: Array, widths: tuple[int, ...] = VGG19_WIDTHS, *, bias_std: float = 0.01
) -> Params:
    """Random He-initialised params (for tests and benchmarks, not for stylising).

    ``widths`` has one entry per block: fewer than five give VGG19's first blocks only.

    Kernels ~ N(0, 2 / fan_in) as He et al. (2015) and torchvision's VGG init;
    biases small and random so that a bias bug cannot hide behind zeros.
    """
    shapes = param_shapes(widths)
    convs = [n for n in CONV_LAYERS if n in shapes]
    sizes = [int(np.prod(shapes[n][leaf])) for n in convs for leaf in ("kernel", "bias")]
    # One draw sliced up: 32 separate draws take XLA ~10 s to compile on a CPU.
    flat = jax.random.normal(key, (sum(sizes),), jnp.float32)
    params: Params = {}
    offset = 0
    for layer in convs:
        leaves = {}
        for leaf in ("kernel", "bias"):
            shape = shapes[layer][leaf]
            size = int(np.prod(shape))
            scale = np.sqrt(2.0 / np.prod(shape[:3])) if leaf == "kernel" else bias_std
            leaves[leaf] = flat[offset : offset + size].reshape(shape) * np.float32(scale)
            offset += size
        params[layer] = leaves
    return params
