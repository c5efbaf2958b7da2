"""Winograd F(2x2, 3x3): a 3x3 'same' convolution in 16 matrix products.

Lavin & Gray, *Fast Algorithms for Convolutional Neural Networks* (CVPR 2016). The
output is cut into 2x2 tiles; each tile's 4x4 input patch ``d`` and the kernel ``g``
are transformed, multiplied point by point, and transformed back:
``Y = A^T [(G g G^T) * (B^T d B)] A``. Summed over input channels, the point-wise
products become 16 matrix products ``(tiles, C_in) @ (C_in, C_out)``: 16 multiplies per
4 outputs instead of 36, 2.25x fewer than the direct convolution.

Why: XLA:CPU's direct convolution runs at torch's speed on VGG19; the multiplies are
the only place left to win, and for blocks 3-5 (128 or more channels) the products'
saving beats the transforms' memory traffic. Only the CPU plug-in
(:mod:`jaxstyle.cpu.plugin`) uses it; GPUs and TPUs choose their own algorithms.

Numerics: every transform matrix holds only 0, +-1 and +-1/2, so the error stays at
the direct convolution's float32 level (relative ~5e-7 at VGG19's shapes, tested to
1e-6 against ``lax.conv_general_dilated``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

#: Kernel transform ``G`` (4x3) of F(2x2, 3x3).
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], np.float32)

#: ``B^T`` (4x4) and ``A^T`` (2x4) of F(2x2, 3x3), at the points 0, +-1, infinity.
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def transform_kernel_stacked(kernel: Array) -> Array:
    """``G g G^T`` for every (input, output) channel pair of an HWIO 3x3 kernel.

    Args:
        kernel: ``(3, 3, C_in, C_out)`` float array.

    Returns:
        ``(16, C_in, C_out)`` array of the kernel's dtype, point ``(a, b)`` of the
        transform at index ``4 a + b``; one product of the 9 taps with ``G (x) G``.

    Example:
        >>> transform_kernel_stacked(jnp.ones((3, 3, 2, 5))).shape
        (16, 2, 5)
    """
    c_in, c_out = kernel.shape[2:]
    # Row 4 a + b: the weights of the 9 taps in point (a, b), G[a, i] G[b, j].
    weights = jnp.asarray(np.kron(G, G), kernel.dtype)
    taps = kernel.reshape(9, c_in * c_out)
    u = jnp.dot(weights, taps, precision=jax.lax.Precision.HIGHEST)
    return u.reshape(len(weights), c_in, c_out)


def transform_kernel(kernel: Array) -> tuple[Array, ...]:
    """:func:`transform_kernel_stacked` as the ``(m + 2)²`` arrays :func:`conv3x3` takes.

    Separate arrays rather than one stack because XLA copies a slice of a program's
    argument before a product takes it: a stacked argument copied every kernel on every
    call. Compute them once per set of weights, outside the optimisation loop; together
    they are 16/9 the kernel's size. (Under ``jit`` the slices are copies that XLA:CPU
    compiles one by one; :mod:`jaxstyle.cpu.plugin` slices on the host instead.)

    Example:
        >>> u = transform_kernel(jnp.ones((3, 3, 2, 5)))
        >>> len(u), u[0].shape
        (16, (2, 5))
    """
    u = transform_kernel_stacked(kernel)
    return tuple(u[t] for t in range(len(u)))


def backward_transform(u: Sequence[Any]) -> tuple[Any, ...]:
    """``transform_kernel(vgg.backward_kernel(kernel))`` from ``u = transform_kernel(kernel)``.

    The input gradient's own 16 matrices: ``u``'s points reflected and transposed (see
    :data:`_REFLECTED`), no transform computed. :func:`conv3x3` with them is
    :func:`conv3x3_transposed` with ``u``, and faster on a CPU: its products read their
    matrix in order rather than transposed (the 512-channel layers gain most;
    ``benchmarks/``). Works on
    jax and numpy arrays alike (numpy's are transposed views).

    Example:
        >>> k = jnp.arange(3 * 3 * 2 * 5, dtype=jnp.float32).reshape(3, 3, 2, 5)
        >>> u_t = backward_transform(transform_kernel(k))
        >>> u_t[0].shape, bool(jnp.array_equal(u_t[0], transform_kernel(k)[15].T))
        ((5, 2), True)
    """
    if len(u) != len(_REFLECTED):
        raise ValueError(f"backward_transform takes F(2x2, 3x3)'s 16 matrices, got {len(u)}")
    return tuple(u[p].T for p in _REFLECTED)


def _combine(matrix: np.ndarray, xs: Sequence[Array]) -> list[Array]:
    """``matrix @ xs`` for a list of arrays: sums of the terms with non-zero coefficients."""
    out = []
    for row in matrix:
        acc = None
        for c, x in zip(row, xs, strict=True):
            if c == 0:
                continue
            if acc is None:
                acc = x if c == 1 else -x if c == -1 else x * np.asarray(c, x.dtype)
            elif abs(c) == 1:
                acc = acc + x if c == 1 else acc - x
            else:
                acc = acc + x * np.asarray(c, x.dtype)
        assert acc is not None
        out.append(acc)
    return out


#: Point ``4 a + b`` of the transform of ``vgg.backward_kernel(kernel)`` is point
#: ``_REFLECTED[4 a + b]`` of the kernel's own transform, transposed: flipping the taps
#: swaps the first and last rows of ``G`` (its middle rows are symmetric), and swapping
#: the kernel's input and output channels transposes every point.
_REFLECTED = tuple(
    4 * (3 - a if a in (0, 3) else a) + (3 - b if b in (0, 3) else b)
    for a in range(4)
    for b in range(4)
)


def conv3x3(x: Array, u: Sequence[Array], precision: Any = None) -> Array:
    """3x3 stride-1 'same' (zero-padded) convolution of NHWC ``x`` by a transformed kernel.

    Equal, up to float rounding, to ``lax.conv_general_dilated(x, kernel, (1, 1),
    ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))`` for
    ``u = transform_kernel(kernel)``. Odd heights and widths are padded to even and
    cropped back.

    The 16 transformed inputs stay 16 separate arrays and meet the kernel in 16
    separate products: XLA:CPU builds a stack of them element by element, so one
    batched product would be the slower convolution.

    Args:
        x: ``(N, H, W, C_in)`` activations.
        u: the 16 ``(C_in, C_out)`` arrays of :func:`transform_kernel`.
        precision: ``jax.lax.Precision`` of the 16 products.

    Returns:
        ``(N, H, W, C_out)`` array of ``x``'s dtype.

    Example:
        >>> x = jnp.ones((1, 3, 5, 2))
        >>> k = jnp.ones((3, 3, 2, 4))
        >>> y = conv3x3(x, transform_kernel(k))
        >>> y.shape, float(y[0, 1, 1, 0]), float(y[0, 0, 0, 0])
        ((1, 3, 5, 4), 18.0, 8.0)
    """
    return _conv3x3(x, u, precision, transposed=False)


def conv3x3_transposed(g: Array, u: Sequence[Array], precision: Any = None) -> Array:
    """The input gradient of :func:`conv3x3` by the same ``u``, for the output gradient ``g``.

    Equal, up to float rounding, to ``conv3x3(g, transform_kernel(backward_kernel(kernel)))``
    with ``vgg.backward_kernel`` (flipped taps, input and output channels swapped), whose
    16 points are ``u``'s, reflected and transposed: so one set of 16 matrices serves
    both directions, half the memory of keeping :func:`backward_transform`'s set too.
    Slower on a CPU than :func:`conv3x3` with that set (its products read their matrix
    transposed), so ``stylize`` keeps both; this is the form for tight memory.

    Args:
        g: ``(N, H, W, C_out)`` output gradient.
        u: the 16 ``(C_in, C_out)`` arrays of :func:`transform_kernel` of the forward kernel.
        precision: ``jax.lax.Precision`` of the 16 products.

    Returns:
        ``(N, H, W, C_in)`` array of ``g``'s dtype.
    """
    return _conv3x3(g, u, precision, transposed=True)


def _conv3x3(x: Array, u: Sequence[Array], precision: Any, *, transposed: bool) -> Array:
    if len(u) != 16:
        raise ValueError(f"Winograd F(2x2, 3x3) kernels come in 16 matrices, got {len(u)}")
    m, r, bt, at = 2, 4, BT, AT  # output and input tile sides
    n, h, w, c = x.shape
    th, tw = -(-h // m), -(-w // m)
    # One zero row/column of 'same' padding on each side, plus the tiles' overhang.
    xp = jax.lax.pad(
        x,
        jnp.zeros((), x.dtype),
        ((0, 0, 0), (1, m * th + 1 - h, 0), (1, m * tw + 1 - w, 0), (0, 0, 0)),
    )
    # lax slices and dot_general rather than jnp indexing and jnp.dot: this is traced
    # 18 times per evaluation of VGG19, and lax skips jnp's general indexing path.
    rows = _combine(
        bt,
        [
            jax.lax.slice(xp, (0, a, 0, 0), (n, a + m * th - m + 1, m * tw + 2, c), (1, m, 1, 1))
            for a in range(r)
        ],
    )
    v = [
        t.reshape(n * th * tw, c)
        for row in rows
        for t in _combine(
            bt,
            [
                jax.lax.slice(row, (0, 0, b, 0), (n, th, b + m * tw - m + 1, c), (1, 1, m, 1))
                for b in range(r)
            ],
        )
    ]
    if transposed:
        # (P, C_out) @ u[t']^T: the product reads the matrix transposed, no copy.
        points, contract = _REFLECTED, (((1,), (1,)), ((), ()))
    else:
        points, contract = tuple(range(r * r)), (((1,), (0,)), ((), ()))
    prods = [
        [
            jax.lax.dot_general(
                v[r * a + b], u[points[r * a + b]], contract, precision=precision
            ).reshape(n, th, tw, -1)
            for b in range(r)
        ]
        for a in range(r)
    ]
    # A^T along the tile's rows (over a), then along its columns (over b).
    cols = [_combine(at, [prods[a][b] for a in range(r)]) for b in range(r)]
    out = [o for i in range(m) for o in _combine(at, [cols[b][i] for b in range(r)])]
    y = jnp.stack(
        [jnp.stack(out[m * i : m * i + m], axis=3) for i in range(m)], axis=2
    )  # (N, th, m, tw, m, C_out): output pixel (m ty + i, m tx + j) is y[:, ty, i, tx, j]
    y = y.reshape(n, m * th, m * tw, -1)
    if (m * th, m * tw) != (h, w):
        y = jax.lax.slice(y, (0, 0, 0, 0), (n, h, w, y.shape[-1]))
    return y.astype(x.dtype)
