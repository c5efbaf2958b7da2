"""VGG19 feature extractor as a Flax Linen module.

The network of Gatys et al. (2016): the 16 convolutional and 5 pooling layers of
VGG19 (Simonyan & Zisserman, 2014), no fully connected layers, average pooling by
default. The module holds only static configuration; the params are a plain nested
dict ``{"conv1_1": {"kernel": (3, 3, Cin, Cout), "bias": (Cout,)}, ...}`` passed to
:func:`features` (or ``VGG19(...).apply({"params": params}, x)``), which returns a
dict of named activations (see :mod:`jaxstyle.model.layers`).

The convolutions are plain ``lax.conv_general_dilated``, differentiable in every
mode. A backend-specific implementation (:mod:`jaxstyle.cpu.plugin`, CPU only) plugs in
through the ``kernels`` attribute, with its precomputed arrays in the ``"prepared"``
variable collection; nothing here looks at which keys the params hold. What a loss
does with a layer, and how an image padded or cut into strips is masked, is a
:class:`Visitor` (:mod:`jaxstyle.loss.evaluate`): the network only calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.model.conv import Conv3x3, ConvPlugin, pool2x2
from jaxstyle.model.layers import (
    CONV_LAYERS,
    LAYERS,
    VGG19_DEPTHS,
    VGG19_WIDTHS,
    check_depth,
    check_layers,
)
from jaxstyle.model.visitor import Plain, Unbatched, Visitor

Array = jax.Array
Params = dict[str, dict[str, Any]]


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
        kernels: a :class:`ConvPlugin` for some convolutions (``None``: all plain).
        visitor: a :class:`Visitor` taking part in the pass (``None``: :class:`Plain`).

    Input is NHWC network input (see :class:`Preprocess`), any height and width;
    ``state`` is what the visitor reads.

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
    kernels: Any = None
    visitor: Any = None

    @nn.compact
    def __call__(self, x: Array, state: Any = None) -> dict[str, Any]:
        wanted = set(check_layers(self.outputs))
        check_depth(self.outputs, len(self.widths))
        if self.pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {self.pooling!r}")
        visitor = self.visitor or Plain()
        out: dict[str, Any] = {}
        x = visitor.flow(x, visitor.first_block - 1, state)
        for b, (depth, width) in enumerate(
            zip(VGG19_DEPTHS[: len(self.widths)], self.widths, strict=True)
        ):
            if b + 1 < visitor.first_block:
                continue
            names = [f"{b + 1}_{i + 1}" for i in range(depth)]
            keep = tuple(
                n
                for n in (*(f"{k}{m}" for m in names for k in ("conv", "relu")), f"pool{b + 1}")
                if n in wanted
            )
            last = len(out) + len(keep) == len(wanted)
            block = functools.partial(
                self._block, number=b + 1, names=names, width=width, keep=keep, last=last
            )
            # Per-block rematerialisation: the backward pass keeps each block's input
            # and what the visitor kept, and recomputes the block's inside.
            x, kept = (nn.checkpoint(block) if visitor.remat else block)(self, x, state)
            out.update(kept)
            if last:
                break
        return {name: out[name] for name in LAYERS if name in out}

    @staticmethod
    def _block(
        mdl: VGG19,
        x: Array,
        state: Any,
        *,
        number: int,
        names: list[str],
        width: int,
        keep: tuple[str, ...],
        last: bool,
    ) -> tuple[Array, dict[str, Any]]:
        """Block ``number``'s convolutions and pooling: its output and its ``keep`` layers.

        The ``last`` block stops after the last activation kept.
        """
        visitor = mdl.visitor or Plain()
        kept: dict[str, Any] = {}

        def put(name: str, value: Array) -> None:
            if name in keep:
                kept[name] = visitor.keep(name, value, state)

        for name in names:
            x = Conv3x3(
                width,
                precision=mdl.precision,
                dtype=mdl.dtype,
                kernels=mdl.kernels,
                name=f"conv{name}",
                parent=mdl,
            )(x)
            x = visitor.flow(x, number - 1, state)
            put(f"conv{name}", x)
            x = nn.relu(x)
            put(f"relu{name}", x)
            if last and len(kept) == len(keep):
                return x, kept
        x = visitor.flow(pool2x2(x, mdl.pooling), number, state)
        put(f"pool{number}", x)
        return x, kept


def features(
    params: Params,
    x: Array,
    layers: Sequence[str],
    *,
    pooling: str = "avg",
    precision: Any = None,
    dtype: Any = None,
    kernels: ConvPlugin | None = None,
    prepared: Any = None,
    visitor: Visitor | None = None,
    state: Any = None,
) -> dict[str, Any]:
    """Named activations of ``x`` (NHWC or HWC network input) for ``layers``.

    A thin functional wrapper over :class:`VGG19`; the widths are read from the
    params, so slim test networks need no extra argument.

    Args:
        params: VGG19 params (:func:`jaxstyle.load_weights`, :func:`init_params`).
        x: ``(H, W, 3)`` or ``(N, H, W, 3)`` float network input.
        layers: names of the activations to return.
        pooling, precision, dtype: as :class:`VGG19`.
        kernels: a convolution plug-in (:mod:`jaxstyle.cpu.plugin`) and ``prepared``,
            what its ``prepare`` made from these params.
        visitor: a :class:`Visitor` and the ``state`` it reads (``None``: a plain
            pass); the dict then holds what it kept.

    Returns:
        dict layer name -> activation with ``x``'s rank (HWC in, HWC out).

    Example:
        >>> p = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
        >>> {k: v.shape for k, v in features(p, jnp.zeros((16, 16, 3)), ["relu2_1"]).items()}
        {'relu2_1': (8, 8, 8)}
    """
    single = x.ndim == 3
    xb = x[None] if single else x
    if single and visitor is not None:
        visitor = Unbatched(visitor)
    model = VGG19(
        outputs=tuple(layers),
        pooling=pooling,
        widths=widths_of(params),
        precision=precision,
        dtype=dtype,
        kernels=kernels,
        visitor=visitor,
    )
    variables = {"params": params} if prepared is None else {"params": params, "prepared": prepared}
    out = model.apply(variables, xb, state)
    if isinstance(visitor, Unbatched):
        return out
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
