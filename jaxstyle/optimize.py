"""Style transfer as optimisation: the objective, its targets, and L-BFGS on the pixels.

The image being optimised lives in the network's input space (after
:class:`~jaxstyle.vgg.Preprocess`), as in Gatys' and jcjohnson's implementations, so
the loss the optimiser sees is exactly Eq. 7 of the paper on the network's input.

The loop runs inside ``jit`` in chunks of ``config.chunk_size`` iterations (one
compiled ``lax.fori_loop`` per chunk, compiled once whatever the iteration count), so
a progress bar or an intermediate save costs one host round trip per chunk, not per
step.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import lbfgs, losses
from jaxstyle.errors import ConfigError
from jaxstyle.vgg import (
    LAYERS,
    WINOGRAD4_LAYERS,
    WINOGRAD_LAYERS,
    Params,
    Preprocess,
    backward_kernel,
    check_depth,
    check_layers,
    convs_reached,
    features,
    layer_hw,
    min_size,
    widths_of,
)
from jaxstyle.winograd import backward_transform, transform_kernel_stacked

Array = jax.Array

#: The paper's layers: content at relu4_2, style at relu1_1 ... relu5_1 with w_l = 1/5.
DEFAULT_CONTENT_LAYERS: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)
DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = tuple(
    (f"relu{b}_1", 0.2) for b in range(1, 6)
)

INITS = ("noise", "content", "style")
#: How the loss terms are weighted before ``ratio`` (see :mod:`jaxstyle.losses`).
#: authors: the authors' own code, content ``2/(N_c M_c)`` and each style layer
#: ``4e3/N_l^2`` times its ``w_l``, so that a ratio means the same at every image size
#: and layer set; paper: Eqs. 1, 4, 5 and 7 literally, ``L = ratio * L_c + L_s``.
WEIGHTINGS = ("authors", "paper")
#: ``ratio`` when none is given. authors: chosen on the real VGG19 blocks 1-3 so that
#: a default run is strongly painted and keeps the photo's layout (README, "Loss
#: weighting"); paper: the paper's Fig. 3 B, 1e-3.
DEFAULT_RATIOS = {"authors": 2e-2, "paper": 1e-3}
#: optax / jaxopt: their L-BFGS, line search included, compiled into one program per
#: step (or per chunk of steps); lbfgs: :mod:`jaxstyle.lbfgs`, stepped from Python with
#: one compiled program per loss+gradient evaluation (as torch.optim.LBFGS).
OPTIMIZERS = ("optax", "jaxopt", "lbfgs")
#: Line searches each optimiser offers, its default first; "none" is a fixed unit step
#: after a first step capped at unit length, as torch.optim.LBFGS without
#: ``line_search_fn``.
LINESEARCHES = {
    "optax": ("zoom", "backtracking", "none"),
    "jaxopt": ("zoom", "backtracking", "hager-zhang"),
    "lbfgs": lbfgs.LINESEARCHES,
}
#: Default L-BFGS memory per optimiser: torch's and Lua optim's 100 for lbfgs, the
#: libraries' own defaults for optax and jaxopt.
HISTORY_SIZES = {"lbfgs": 100, "optax": 10, "jaxopt": 10}
#: float32: exact float32 convolutions; tf32: the backend's default matmul precision
#: (TF32 on Ampere+ GPUs, bf16 passes on TPU, float32 on CPU); bfloat16: bf16
#: activations and kernels with float32 Grams and losses.
PRECISIONS = ("float32", "tf32", "bfloat16")
#: device: the L-BFGS loop runs inside one compiled while loop per chunk; host: one
#: compiled step per iteration, driven from Python (XLA:CPU runs convolutions inside a
#: while loop ~2x slower, jax-ml/jax#12868); auto: host on CPU, device elsewhere.
LOOPS = ("auto", "device", "host")
#: How the convolutions of blocks 3-5 (:data:`~jaxstyle.vgg.WINOGRAD_LAYERS`) run.
#: winograd: Winograd F(2x2, 3x3) (:mod:`jaxstyle.winograd`), float32 only; direct:
#: the backend's own convolution; auto: see :func:`winograd_layers`. winograd4:
#: Winograd F(4x4, 3x3) for blocks 2-5 (:data:`~jaxstyle.vgg.WINOGRAD4_LAYERS`), faster
#: on a CPU but ~20x the float32 error of the others (~1e-5 of a layer's largest
#: value), so never picked by auto.
CONVOLUTIONS = ("auto", "direct", "winograd", "winograd4")
#: ``convolution="auto"`` picks Winograd from this many pixels up (see
#: :func:`winograd_layers`).
WINOGRAD_MIN_PIXELS = 128 * 128


def _layer_weights(value: Any, what: str) -> tuple[tuple[str, float], ...]:
    if isinstance(value, Mapping):
        items = tuple((str(k), float(v)) for k, v in value.items())
    elif isinstance(value, str):
        names = [s for s in value.split(",") if s]
        items = tuple((n, 1.0 / len(names)) for n in names) if names else ()
    else:
        items = tuple((str(k), float(v)) for k, v in value)
    try:
        check_layers([k for k, _ in items])
    except ValueError as e:
        raise ConfigError(f"{what}: {e}") from None
    return items


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of one stylisation; frozen, hashable, usable as a static arg.

    Attributes:
        content_layers: ``(layer, weight)`` pairs, a ``{layer: weight}`` dict, or a
            comma-separated string (equal weights summing to 1). Paper: ``relu4_2``.
        style_layers: the same for style; paper: ``relu1_1..relu5_1``, ``w_l = 1/5``.
        weighting: ``"authors"`` (default: the authors' code's size-independent
            weighting) or ``"paper"`` (the literal equations); see :data:`WEIGHTINGS`.
        ratio: content weight over style weight, ``alpha / beta``, applied after
            ``weighting``; smaller paints more. ``None`` takes
            :data:`DEFAULT_RATIOS` for the weighting. With ``"paper"`` it is the
            paper's alpha/beta (Fig. 3: 1e-3, 8e-4, 5e-3, 5e-4; Fig. 7: 1e-2). Used as
            ``alpha = ratio, beta = 1`` unless both weights below are given.
        content_weight: explicit ``alpha`` (needs ``style_weight`` too).
        style_weight: explicit ``beta``.
        tv_weight: weight of an optional total-variation term on the [0, 1] RGB
            image (not in the paper; 0 turns it off).
        init: ``"noise"`` (seeded white noise), ``"content"`` or ``"style"``.
        noise_std: std of the white Gaussian noise around the preprocessing's mean
            colour, in [0, 1] pixel units.
        iterations: L-BFGS iterations.
        optimizer: ``"optax"`` (``optax.lbfgs``), ``"jaxopt"`` (``jaxopt.LBFGS``) or
            ``"lbfgs"`` (:mod:`jaxstyle.lbfgs`, stepped from Python); see
            :data:`OPTIMIZERS`.
        linesearch: see :data:`LINESEARCHES`; ``None`` takes the optimizer's
            default (its first). With ``"none"`` each iteration costs
            exactly one evaluation and ``History`` entry ``k`` is the loss of the image
            iteration ``k`` started from (as torch's closure reports it).
        history_size: L-BFGS memory (pairs of past steps); ``None`` takes the
            optimizer's default, :data:`HISTORY_SIZES` (lbfgs: 100 as torch.optim.LBFGS
            and Lua's optim.lbfgs, which Gatys' and jcjohnson's code use; it ties
            with 10 on time to torch's loss and ends 1-2 % lower, ``benchmarks/results``).
            Memory: ``2 * history_size * H * W * 3`` float32 per image.
        precision: see :data:`PRECISIONS`.
        convolution: see :data:`CONVOLUTIONS`.
        loop: see :data:`LOOPS`.
        pooling: ``"avg"`` (paper) or ``"max"``.
        style_scale: ``None`` resizes the style image to the content's exact size
            (the paper); a number resizes its long side to that multiple of the
            content's long side, keeping its aspect ratio.
        chunk_size: iterations per compiled call (progress/intermediate-save period).
    """

    content_layers: Any = DEFAULT_CONTENT_LAYERS
    style_layers: Any = DEFAULT_STYLE_LAYERS
    weighting: str = "authors"
    ratio: float | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float = 0.0
    init: str = "noise"
    noise_std: float = 0.1
    iterations: int = 500
    optimizer: str = "lbfgs"
    linesearch: str | None = None
    history_size: int | None = None
    precision: str = "float32"
    convolution: str = "auto"
    loop: str = "auto"
    pooling: str = "avg"
    style_scale: float | None = None
    chunk_size: int = 50

    def __post_init__(self) -> None:
        content = _layer_weights(self.content_layers, "content layers")
        style = _layer_weights(self.style_layers, "style layers")
        object.__setattr__(self, "content_layers", content)
        object.__setattr__(self, "style_layers", style)
        if not content and not style:
            raise ConfigError("at least one content or style layer is needed")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(
                f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}"
            )
        if self.ratio is None:
            object.__setattr__(self, "ratio", DEFAULT_RATIOS[self.weighting])
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.history_size is None:
            object.__setattr__(self, "history_size", HISTORY_SIZES[self.optimizer])
        if self.linesearch is None:
            object.__setattr__(self, "linesearch", LINESEARCHES[self.optimizer][0])
        if self.linesearch not in LINESEARCHES[self.optimizer]:
            raise ConfigError(
                f"optimizer {self.optimizer!r} offers linesearch "
                f"{', '.join(LINESEARCHES[self.optimizer])}, got {self.linesearch!r}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.convolution not in CONVOLUTIONS:
            raise ConfigError(
                f"convolution must be one of {', '.join(CONVOLUTIONS)}, got {self.convolution!r}"
            )
        if self.convolution.startswith("winograd") and self.precision == "bfloat16":
            raise ConfigError(
                f"convolution {self.convolution!r} is float32 only; use precision float32 or tf32, "
                "or convolution 'direct' or 'auto' with bfloat16"
            )
        if self.loop not in LOOPS:
            raise ConfigError(f"loop must be one of {', '.join(LOOPS)}, got {self.loop!r}")
        if self.optimizer == "lbfgs" and self.loop == "device":
            raise ConfigError(
                "optimizer 'lbfgs' is stepped from Python (loop 'host' or 'auto'); "
                "optax and jaxopt run on the device"
            )
        if self.pooling not in ("avg", "max"):
            raise ConfigError(f"pooling must be 'avg' or 'max', got {self.pooling!r}")
        if self.iterations < 0:
            raise ConfigError(f"iterations must be >= 0, got {self.iterations}")
        if self.chunk_size <= 0 or self.history_size <= 0:
            raise ConfigError("chunk_size and history_size must be positive")
        if (self.content_weight is None) != (self.style_weight is None):
            raise ConfigError("give both content_weight and style_weight, or neither")
        if self.style_scale is not None and not self.style_scale > 0:
            raise ConfigError(f"style_scale must be positive, got {self.style_scale}")
        for name in ("ratio", "tv_weight", "noise_std"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")

    @property
    def alpha(self) -> float:
        return self.ratio if self.content_weight is None else self.content_weight

    @property
    def beta(self) -> float:
        return 1.0 if self.style_weight is None else self.style_weight

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads, in network order."""
        used = {k for k, _ in self.content_layers} | {k for k, _ in self.style_layers}
        return tuple(name for name in LAYERS if name in used)


class Targets(NamedTuple):
    """What the generated image is pulled towards, computed once per stylisation.

    Attributes:
        content: layer -> ``(H, W, C)`` response ``P`` of the content image.
        style: layer -> ``(C, C)`` Gram matrix ``A`` of the style image, per position
            of the content's (see :func:`make_targets`).
    """

    content: dict[str, Array]
    style: dict[str, Array]


class OptState(NamedTuple):
    """The optimiser's carry between chunks.

    Attributes:
        x: ``(H, W, 3)`` image in network-input space.
        solver: jaxopt's or optax's L-BFGS state.
        iteration: iterations done so far (int32 scalar).
        stopped: true once an update produced a non-finite loss; later steps are no-ops.
    """

    x: Array
    solver: Any
    iteration: Array
    stopped: Array


class History(NamedTuple):
    """Per-iteration record of the loss, as float32 numpy arrays of length ``iterations``.

    ``total`` is Eq. 7; ``content`` is ``L_content`` (unweighted by alpha);
    ``style[layer]`` is ``E_l`` (unweighted by w_l and beta); ``evaluations`` is the
    number of loss+gradient evaluations the iteration's line search used.
    """

    total: np.ndarray
    content: np.ndarray
    style: dict[str, np.ndarray]
    tv: np.ndarray
    evaluations: np.ndarray


class Result(NamedTuple):
    """What :func:`stylize` returns.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in [0, 1], the content's size.
        history: the per-iteration :class:`History`.
    """

    image: np.ndarray
    history: History


def network(config: Config) -> dict[str, Any]:
    """:func:`~jaxstyle.vgg.features` keyword arguments for ``config``'s network fields."""
    precision = jax.lax.Precision.HIGHEST if config.precision == "float32" else None
    dtype = jnp.bfloat16 if config.precision == "bfloat16" else None
    return {"pooling": config.pooling, "precision": precision, "dtype": dtype}


class Weights(NamedTuple):
    """The loss weights as traced arrays, so changing them never recompiles.

    One item's weights are float32 scalars; a batch has a leading ``(B,)`` axis on
    every leaf and runs as one vmapped program. A layer the item does not use has
    weight 0 (the layer set itself is static, taken from the batch's union).

    Attributes:
        alpha: content weight (Eq. 7).
        beta: style weight (Eq. 7).
        tv: total-variation weight.
        content: layer -> ``w_l`` of the content term.
        style: layer -> ``w_l`` of the style term (Eq. 5).
    """

    alpha: Array
    beta: Array
    tv: Array
    content: dict[str, Array]
    style: dict[str, Array]


def loss_weights(config: Config, layers: Config | None = None) -> Weights:
    """``config``'s weights, over ``layers``' content and style layers (default: its own).

    Example:
        >>> w = loss_weights(Config(ratio=1e-2, style_layers="relu1_1"), Config())
        >>> round(float(w.alpha), 6), float(w.style["relu1_1"]), float(w.style["relu2_1"])
        (0.01, 1.0, 0.0)
    """
    spec = config if layers is None else layers
    content, style = dict(config.content_layers), dict(config.style_layers)

    def f32(v: float) -> Array:
        return jnp.asarray(v, jnp.float32)

    return Weights(
        f32(config.alpha),
        f32(config.beta),
        f32(config.tv_weight),
        {k: f32(content.get(k, 0.0)) for k, _ in spec.content_layers},
        {k: f32(style.get(k, 0.0)) for k, _ in spec.style_layers},
    )


def make_targets(
    params: Params,
    content: Array,
    style: Array,
    config: Config,
    preprocess: Preprocess,
) -> Targets:
    """Content responses and style Grams of RGB images in [0, 1].

    Args:
        content: ``(H, W, 3)`` or a batch ``(B, H, W, 3)``.
        style: ``(H', W', 3)`` or a batch ``(B, H', W', 3)`` (already resized).

    Returns:
        :class:`Targets`, each entry with the matching input's leading batch axis.
        Grams are compared per position: a style of another size than the content
        has its Gram scaled by ``M_l / M'_l`` (the content's positions at that layer
        over the style's), so the target asks for the style's statistics, not for
        activations of another scale. At the same size the Gram is exactly ``A``.
    """
    content_names = tuple(k for k, _ in config.content_layers)
    style_names = tuple(k for k, _ in config.style_layers)
    if content.shape == style.shape:
        # One pass over both (the paper resizes the style to the content's size): half
        # the program to compile, and bigger products.
        b = 1 if content.ndim == 3 else content.shape[0]
        both = jnp.concatenate(
            [content.reshape(b, *content.shape[-3:]), style.reshape(b, *style.shape[-3:])]
        )
        f = features(params, preprocess.apply(both), config.layers, **network(config))
        fc = {k: f[k][:b].reshape(*content.shape[:-3], *f[k].shape[1:]) for k in content_names}
        fs = {k: f[k][b:].reshape(*style.shape[:-3], *f[k].shape[1:]) for k in style_names}
    else:
        fc = features(params, preprocess.apply(content), content_names, **network(config))
        fs = features(params, preprocess.apply(style), style_names, **network(config))
    gram = losses.gram if style.ndim == 3 else jax.vmap(losses.gram)

    def target_gram(k: str) -> Array:
        m = math.prod(layer_hw(content.shape[-3:-1], k))
        m_style = math.prod(fs[k].shape[-3:-1])
        return gram(fs[k]) if m == m_style else gram(fs[k]) * jnp.float32(m / m_style)

    return Targets(
        content={k: fc[k] for k in content_names},
        style={k: target_gram(k) for k in style_names},
    )


def loss_terms(
    x: Array,
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
    weights: Weights | None = None,
) -> tuple[Array, dict[str, Any]]:
    """Eq. 7 at the network-input image ``x`` ``(H, W, 3)``, with its parts.

    ``total = alpha * sum_c w_c f_c L_c + beta * sum_l w_l f_l E_l (+ tv * TV)`` with
    ``f = 1`` for ``config.weighting="paper"`` and the authors' factors
    (:func:`~jaxstyle.losses.authors_content_factor`,
    :func:`~jaxstyle.losses.authors_style_factor`) for ``"authors"``.

    Args:
        weights: traced loss weights; ``None`` takes them from ``config``. The layer
            sets always come from ``config``.

    Returns:
        ``(total, terms)`` with ``terms = {"content": L_content, "style": {layer: E_l},
        "tv": TV}``, every entry a float32 scalar, none weighted.
    """
    w = loss_weights(config) if weights is None else weights
    feats = features(params, x, config.layers, **network(config))
    content = losses.weighted_content_loss(feats, targets.content, w.content)
    per_layer = {
        k: losses.style_layer_loss(feats[k], targets.style[k]) for k, _ in config.style_layers
    }
    content_term, sw = content, w.style
    if config.weighting == "authors":  # static factors of the shapes, on traced weights
        cw = {k: v * losses.authors_content_factor(feats[k]) for k, v in w.content.items()}
        content_term = losses.weighted_content_loss(feats, targets.content, cw)
        sw = {k: v * losses.authors_style_factor(feats[k]) for k, v in sw.items()}
    style = (
        jnp.sum(jnp.stack([sw[k] * per_layer[k] for k, _ in config.style_layers]))
        if per_layer
        else jnp.zeros((), jnp.float32)
    )
    total = losses.total_loss(content_term, style, w.alpha, w.beta)
    tv = jnp.zeros((), jnp.float32)
    if config.tv_weight > 0:
        tv = losses.tv_loss(preprocess.invert(x))
        total = total + w.tv * tv
    return total, {"content": content, "style": per_layer, "tv": tv}


def objective(
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
    weights: Weights | None = None,
) -> Callable[[Array], tuple[Array, dict[str, Any]]]:
    """``x -> (L_total, terms)`` with the targets closed over (``jax.grad``-able)."""
    return functools.partial(
        loss_terms,
        params=params,
        targets=targets,
        config=config,
        preprocess=preprocess,
        weights=weights,
    )


class _Solver(NamedTuple):
    init: Callable[[Array], Any]
    # (x, state) -> (x, state, value at the new x, terms at the new x, evaluations)
    step: Callable[[Array, Any], tuple[Array, Any, Array, dict[str, Any], Array]]


def _make_solver(fun: Callable[[Array], tuple[Array, dict[str, Any]]], config: Config) -> _Solver:
    if config.optimizer == "lbfgs":
        raise ConfigError(
            "optimizer 'lbfgs' has no compiled step: stylize drives it (see jaxstyle.lbfgs "
            "and optimize.probe); init_state, run_step and run_chunk take optax or jaxopt"
        )
    if config.optimizer == "jaxopt":
        import jaxopt

        solver = jaxopt.LBFGS(
            fun=fun,
            has_aux=True,
            maxiter=max(config.iterations, 1),
            tol=0.0,
            history_size=config.history_size,
            linesearch=config.linesearch,
            # jaxopt caps every step at 1 by default. Its first direction is -g, and
            # with the default weighting |g| is ~1e-4 per pixel (the loss is O(1), the
            # pixels 0-255): the capped step moved nothing, and 50 iterations cost 19
            # evaluations each. Later directions carry their own scale (L-BFGS's gamma).
            # Backtracking keeps the cap: it only shrinks from it, so the cap is its
            # first trial (at 1e9 it took steps that raised the loss 1e16-fold).
            max_stepsize=1.0 if config.linesearch == "backtracking" else 1e9,
        )

        def jaxopt_step(x: Array, state: Any) -> tuple[Array, Any, Array, dict[str, Any], Array]:
            before = state.num_fun_eval
            x, state = solver.update(x, state)
            return x, state, state.value, state.aux, state.num_fun_eval - before

        return _Solver(solver.init_state, jaxopt_step)

    import optax

    if config.linesearch == "none":
        # torch.optim.LBFGS without line_search_fn: unit steps, the first one capped
        # at unit length (optax's scale_init_precond), one evaluation per iteration.
        plain = optax.lbfgs(learning_rate=1.0, memory_size=config.history_size, linesearch=None)

        def plain_step(x: Array, state: Any) -> tuple[Array, Any, Array, dict[str, Any], Array]:
            (value, terms), grad = jax.value_and_grad(fun, has_aux=True)(x)
            updates, state = plain.update(grad, state, x)
            return optax.apply_updates(x, updates), state, value, terms, jnp.ones((), jnp.int32)

        return _Solver(plain.init, plain_step)

    if config.linesearch == "backtracking":
        search = optax.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True)
    else:
        search = optax.scale_by_zoom_linesearch(
            max_linesearch_steps=20, initial_guess_strategy="one"
        )
    opt = optax.lbfgs(memory_size=config.history_size, linesearch=search)

    def value(x: Array) -> Array:
        return fun(x)[0]

    def optax_init(x: Array) -> Any:
        # The line search stores the value and gradient at each accepted point; seeding
        # them at x0 lets every step read them back instead of optax's
        # value_and_grad_from_state, whose lax.cond puts a second copy of the network
        # in the step (compile time) and, under vmap, runs both branches (speed).
        v, g = jax.value_and_grad(value)(x)
        return optax.tree.set(opt.init(x), value=v, grad=g)

    def optax_step(x: Array, state: Any) -> tuple[Array, Any, Array, dict[str, Any], Array]:
        v, g = optax.tree.get(state, "value"), optax.tree.get(state, "grad")
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=value)
        x = optax.apply_updates(x, updates)
        # optax keeps no aux: the parts cost one extra forward pass per iteration.
        new_value, terms = fun(x)
        steps = optax.tree.get(state, "num_linesearch_steps")
        return x, state, new_value, terms, jnp.asarray(steps, jnp.int32)

    return _Solver(optax_init, optax_step)


def _empty_history(config: Config, n: int, batch: tuple[int, ...]) -> dict[str, Any]:
    def nans() -> Array:
        return jnp.full((n, *batch), jnp.nan, jnp.float32)

    return {
        "total": nans(),
        "content": nans(),
        "style": {k: nans() for k, _ in config.style_layers},
        "tv": nans(),
        "evaluations": jnp.zeros((n, *batch), jnp.int32),
    }


def _per_item(fn: Callable[..., Any], batched: bool) -> Callable[..., Any]:
    # Written for one image; a batch (leading axis on x, targets and weights) is vmapped.
    return jax.vmap(fn) if batched else fn


@functools.partial(jax.jit, static_argnames=("config", "preprocess"))
def init_state(
    x0: Array,
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
    weights: Weights | None = None,
) -> OptState:
    """The optimiser state at the network-input image ``x0``.

    ``x0`` is ``(H, W, 3)``, or ``(B, H, W, 3)`` with ``targets`` and ``weights``
    batched alike.
    """
    batched = x0.ndim == 4
    weights = loss_weights(config) if weights is None else weights

    def one(x: Array, t: Targets, w: Weights) -> Any:
        return _make_solver(objective(params, t, config, preprocess, w), config).init(x)

    solver = _per_item(one, batched)(x0, targets, weights)
    stopped = jnp.zeros(x0.shape[:1] if batched else (), bool)
    return OptState(x0, solver, jnp.zeros((), jnp.int32), stopped)


def _step(
    params: Params,
    targets: Targets,
    weights: Weights,
    config: Config,
    preprocess: Preprocess,
    batched: bool,
) -> Callable[[OptState], tuple[OptState, dict[str, Any]]]:
    """One L-BFGS iteration ``state -> (state, record)`` for one image or a batch."""

    def one(
        x: Array, s: Any, stopped: Array, t: Targets, w: Weights
    ) -> tuple[Array, Any, Array, dict[str, Any]]:
        solver = _make_solver(objective(params, t, config, preprocess, w), config)
        new_x, new_s, value, terms, evals = solver.step(x, s)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(new_x)) & ~stopped
        # A failed step (non-finite loss or image) leaves the last good image in place.
        new_x = jnp.where(ok, new_x, x)
        new_s = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_s, s)
        nan = jnp.full((), jnp.nan, jnp.float32)
        record = {
            "total": jnp.where(ok, value, nan),
            "content": jnp.where(ok, terms["content"], nan),
            "style": {k: jnp.where(ok, v, nan) for k, v in terms["style"].items()},
            "tv": jnp.where(ok, terms["tv"], nan),
            "evaluations": jnp.where(ok, evals, 0).astype(jnp.int32),
        }
        return new_x, new_s, ~ok, record

    many = _per_item(one, batched)

    def step(st: OptState) -> tuple[OptState, dict[str, Any]]:
        x, s, stopped, record = many(st.x, st.solver, st.stopped, targets, weights)
        return OptState(x, s, st.iteration + 1, stopped), record

    return step


@functools.partial(jax.jit, static_argnames=("config", "preprocess"), donate_argnames=("state",))
def run_chunk(
    state: OptState,
    params: Params,
    targets: Targets,
    steps: Array,
    config: Config,
    preprocess: Preprocess,
    weights: Weights | None = None,
) -> tuple[OptState, dict[str, Any]]:
    """Runs ``steps`` (<= ``config.chunk_size``, traced) L-BFGS iterations on device.

    ``state`` is donated: its buffers are reused for the result, so do not read it
    after the call.

    Returns:
        The new state and this chunk's history (``config.chunk_size`` entries, the
        first ``steps`` filled; each entry ``(B,)`` for a batch).
    """
    batched = state.x.ndim == 4
    weights = loss_weights(config) if weights is None else weights
    step = _step(params, targets, weights, config, preprocess, batched)

    def body(i: Array, carry: tuple[OptState, dict[str, Any]]) -> tuple[OptState, dict[str, Any]]:
        st, hist = carry
        st, record = step(st)
        hist = jax.tree.map(lambda h, r: h.at[i].set(r.astype(h.dtype)), hist, record)
        return st, hist

    empty = _empty_history(config, config.chunk_size, state.x.shape[:1] if batched else ())
    return jax.lax.fori_loop(0, steps, body, (state, empty))


@functools.partial(jax.jit, static_argnames=("config", "preprocess"), donate_argnames=("state",))
def run_step(
    state: OptState,
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
    weights: Weights | None = None,
) -> tuple[OptState, dict[str, Any]]:
    """One L-BFGS iteration, compiled without a loop around it (``loop="host"``).

    Returns:
        The new state and the iteration's record (scalars, or ``(B,)`` for a batch).
    """
    weights = loss_weights(config) if weights is None else weights
    return _step(params, targets, weights, config, preprocess, state.x.ndim == 4)(state)


@functools.partial(jax.jit, static_argnames=("config", "preprocess"))
def probe(
    x: Array,
    d: Array,
    t: Array,
    params: Params,
    targets: Targets,
    weights: Weights,
    config: Config,
    preprocess: Preprocess,
) -> tuple[Array, Array, Array, Array, dict[str, Any]]:
    """Eq. 7 and its gradient at ``x + t d``, for a batch: :data:`jaxstyle.lbfgs.Probe`.

    One loop-free program per call, the only one ``optimizer="lbfgs"`` runs per
    evaluation.

    Args:
        x: ``(B, H, W, 3)`` network-input images.
        d: ``(B, H, W, 3)`` search directions.
        t: ``(B,)`` float32 steps.
        targets: batched like ``x`` (leading ``(B,)`` axis), as are ``weights``.

    Returns:
        ``(x + t d, loss (B,), gradient, gradient . d (B,), terms)``, ``terms`` as in
        :func:`loss_terms` with a leading ``(B,)`` axis.
    """

    def one(
        x: Array, d: Array, t: Array, tg: Targets, w: Weights
    ) -> tuple[Array, Array, Array, Array, dict[str, Any]]:
        xt = x + t * d
        fun = objective(params, tg, config, preprocess, w)
        (value, terms), grad = jax.value_and_grad(fun, has_aux=True)(xt)
        slope = jnp.vdot(grad, d, precision=jax.lax.Precision.HIGHEST)
        return xt, value, grad, slope, terms

    return jax.vmap(one)(x, d, t, targets, weights)


def _placed_like(x: Array, tree: Any) -> Array:
    """``x``, committed to the device of the first array in ``tree`` committed to one device.

    A jitted call's outputs are committed to a device when any of its inputs is, and jit
    compiles a committed and an uncommitted argument into two programs. The first probe
    takes the start ``x0``, every later one a probe's output: with committed params and
    an uncommitted ``x0`` the evaluation program was compiled (and held) twice.
    """
    for leaf in jax.tree.leaves(tree):
        # Only a single-device placement carries over to an array of another shape.
        if isinstance(leaf, jax.Array) and leaf.committed and len(leaf.devices()) == 1:
            return jax.device_put(x, next(iter(leaf.devices())))
    return x


def _lbfgs_steps(
    x0: Array,
    params: Params,
    targets: Targets,
    weights: Weights,
    config: Config,
    preprocess: Preprocess,
    batched: bool,
) -> Iterator[tuple[Array, dict[str, Any]]]:
    """:func:`jaxstyle.lbfgs.minimize` on Eq. 7: yields ``(x, record)`` per iteration."""
    if not batched:  # lbfgs works on batches; one image is a batch of one
        x0, targets, weights = jax.tree.map(lambda a: a[None], (x0, targets, weights))
    x0 = _placed_like(x0, (params, targets, weights))
    fn = functools.partial(
        probe,
        params=params,
        targets=targets,
        weights=weights,
        config=network_config(config),
        preprocess=preprocess,
    )
    steps = lbfgs.minimize(
        fn,
        x0,
        config.iterations,
        history_size=config.history_size,
        linesearch=config.linesearch,
    )
    for step in steps:
        record = {
            "total": step.value,
            "content": step.aux["content"],
            "style": step.aux["style"],
            "tv": step.aux["tv"],
            "evaluations": step.evaluations.astype(np.int32),
        }
        record = jax.tree.map(np.asarray, record)
        if not batched:
            record = jax.tree.map(lambda r: r[0], record)
            yield step.x[0], record
        else:
            yield step.x, record


def _host_steps(
    state: OptState,
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
    weights: Weights,
) -> Iterator[tuple[Array, dict[str, Any]]]:
    """optax/jaxopt stepped from Python, one compiled step per call: yields ``(x, record)``."""
    while True:
        state, record = run_step(state, params, targets, config, preprocess, weights)
        yield state.x, record


def host_loop(config: Config) -> bool:
    """Whether ``config.loop`` resolves to the Python-driven loop on this backend."""
    if config.loop == "auto":
        return jax.default_backend() == "cpu"
    return config.loop == "host"


def resize(image: Array, height: int, width: int) -> Array:
    """Antialiased bilinear resize of ``(..., H, W, C)`` images (identity at the same size)."""
    if image.shape[-3:-1] == (height, width):
        return image
    shape = (*image.shape[:-3], height, width, image.shape[-1])
    return jax.image.resize(image, shape, "linear", antialias=True)


def style_size(
    content_hw: tuple[int, int], style_hw: tuple[int, int], scale: float | None
) -> tuple[int, int]:
    """The size the style image is resized to (see ``Config.style_scale``)."""
    if scale is None:
        return content_hw
    long_side = max(1, round(max(content_hw) * scale))
    h, w = style_hw
    factor = long_side / max(h, w)
    return max(1, round(h * factor)), max(1, round(w * factor))


def initial_image(
    content: Array, style: Array, config: Config, preprocess: Preprocess, key: Array | None
) -> Array:
    """The starting image in network-input space, ``content``'s ``(H, W, 3)`` shape."""
    if config.init == "content":
        rgb = content
    elif config.init == "style":
        rgb = resize(style, *content.shape[:2])
    else:
        if key is None:
            raise ConfigError("init='noise' needs a PRNG key, e.g. key=jax.random.key(0)")
        mean_rgb = preprocess.invert(jnp.zeros((1, 1, 3), jnp.float32))
        noise = jax.random.normal(key, content.shape, jnp.float32)
        rgb = mean_rgb + config.noise_std * noise
    return preprocess.apply(rgb.astype(jnp.float32))


#: Config fields that may differ between the items of a batch (they are traced or
#: only shape the initial image); every other field shapes the compiled program.
PER_ITEM_FIELDS = (
    "content_layers",
    "style_layers",
    "ratio",
    "content_weight",
    "style_weight",
    "tv_weight",
    "init",
    "noise_std",
)


def static_config(configs: Sequence[Config]) -> Config:
    """The one config that shapes the compiled program of a batch of ``configs``.

    Layer sets become the union (in network order), weights and init are normalised
    away, so two runs that differ only in weights share one compilation.

    Raises:
        ConfigError: if the configs differ in a field outside :data:`PER_ITEM_FIELDS`.
    """
    first = configs[0]
    for field in dataclasses.fields(Config):
        if field.name in PER_ITEM_FIELDS:
            continue
        values = {getattr(c, field.name) for c in configs}
        if len(values) > 1:
            raise ConfigError(
                f"every config in a batch needs the same {field.name}, got "
                + ", ".join(sorted(map(repr, values)))
            )

    def union(attr: str) -> tuple[tuple[str, float], ...]:
        used = {k for c in configs for k, _ in getattr(c, attr)}
        return tuple((k, 1.0) for k in LAYERS if k in used)

    return dataclasses.replace(
        first,
        content_layers=union("content_layers"),
        style_layers=union("style_layers"),
        ratio=1.0,
        content_weight=None,
        style_weight=None,
        tv_weight=1.0 if any(c.tv_weight > 0 for c in configs) else 0.0,
        iterations=0,
        init="content",
        noise_std=0.0,
    )


def network_config(config: Config) -> Config:
    """``config`` with every optimiser-only field at its default.

    The targets and :func:`probe` depend only on the layers, pooling, precision and
    whether there is a TV term; keyed on this config, runs that differ only in
    optimiser, line search, history, loop, chunking or iterations share their
    compiled programs.
    """
    return dataclasses.replace(
        config,
        optimizer=Config.optimizer,
        linesearch=None,
        history_size=None,
        loop=Config.loop,
        chunk_size=Config.chunk_size,
        iterations=0,
        style_scale=None,
    )


def _is_key_batch(key: Array) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.ndim == 1
    return key.ndim == 2  # raw uint32 keys: (2,) is one key, (B, 2) a batch


def _batch_size(content: Array, style: Array, config: Any, key: Array | None) -> int | None:
    sizes = {}
    if content.ndim == 4:
        sizes["content"] = content.shape[0]
    if style.ndim == 4:
        sizes["style"] = style.shape[0]
    if not isinstance(config, Config):
        sizes["config"] = len(config)
    if key is not None and _is_key_batch(key):
        sizes["key"] = key.shape[0]
    if len(set(sizes.values())) > 1:
        raise ConfigError(
            "batch sizes disagree: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
        )
    return next(iter(sizes.values())) if sizes else None


def stylize(
    content: Array | np.ndarray,
    style: Array | np.ndarray,
    params: Params,
    preprocess: Preprocess,
    config: Config | Sequence[Config] = Config(),
    *,
    key: Array | None = None,
    callback: Callable[[int, np.ndarray, History], None] | None = None,
    progress: bool = False,
) -> Result:
    """Paints ``content`` in the style of ``style`` (Gatys et al. 2016), one image or a batch.

    A batch is given by any of: a ``(B, H, W, 3)`` content, a ``(B, H', W', 3)``
    style, a sequence of ``B`` configs, or ``B`` stacked keys; unbatched arguments are
    shared by every item. The whole batch runs as one compiled, vmapped program. Per
    item, configs may differ in :data:`PER_ITEM_FIELDS` (alpha/beta, layer weights and
    layer sets, TV weight, init); the rest must agree.

    Args:
        content: ``(H, W, 3)`` or ``(B, H, W, 3)`` RGB float in [0, 1]; the output has
            its size.
        style: ``(H', W', 3)`` or ``(B, H', W', 3)`` RGB float in [0, 1]; resized per
            ``config.style_scale``.
        params: VGG19 params (see :func:`jaxstyle.weights.load_weights`).
        preprocess: the params' input convention (``meta.preprocess``).
        config: hyper-parameters, or one per item.
        key: PRNG key for ``init="noise"``: one key (every item starts from the same
            noise) or ``B`` stacked keys (item ``i`` uses ``key[i]``).
        callback: called after each chunk with ``(iterations done, image, history so far)``.
        progress: show a tqdm progress bar with the current loss.

    Returns:
        :class:`Result` with the ``(H, W, 3)`` image clipped to [0, 1] and ``(T,)``
        histories; for a batch, ``(B, H, W, 3)`` and ``(B, T)``.

    Example:
        >>> from jaxstyle.vgg import TORCHVISION, init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> img = jnp.full((16, 16, 3), 0.5)
        >>> out = stylize(img, img, params, TORCHVISION, Config(iterations=2), key=jax.random.key(1))
        >>> out.image.shape, out.history.total.shape
        ((16, 16, 3), (2,))
        >>> grid = [Config(iterations=2, ratio=r) for r in (1e-4, 1e-2)]
        >>> stylize(img, img, params, TORCHVISION, grid, key=jax.random.key(1)).image.shape
        (2, 16, 16, 3)
    """
    content = jnp.asarray(content, jnp.float32)
    style = jnp.asarray(style, jnp.float32)
    for name, img in (("content", content), ("style", style)):
        if img.ndim not in (3, 4) or img.shape[-1] != 3 or min(img.shape[-3:-1]) < 1:
            raise ConfigError(f"{name} image must have shape (H, W, 3), got {img.shape}")
    if not isinstance(config, Config) and (
        not config or not all(isinstance(c, Config) for c in config)
    ):
        raise ConfigError("config must be a Config or a non-empty sequence of Configs")
    n = _batch_size(content, style, config, key)
    batched = n is not None
    b = n or 1
    configs = [config] * b if isinstance(config, Config) else list(config)
    static = static_config(configs)
    check_depth(static.layers, len(widths_of(params)))
    first = configs[0]
    hw = content.shape[-3:-1]
    style = resize(style, *style_size(hw, style.shape[-3:-1], first.style_scale))
    need = min_size(static.layers)
    for name, img in (("content", content), ("style", style)):
        if min(img.shape[-3:-1]) < need:
            raise ConfigError(
                f"the {name} image is {img.shape[-2]}x{img.shape[-3]} px; layer "
                f"{static.layers[-1]} needs at least {need} px on each side"
            )

    # The targets take the plain network: they run once, and the prepared kernels'
    # Winograd form would double the code XLA compiles for them.
    targets = _targets(params, content, style, network_config(static), preprocess)
    params = prepare_params(params, static, hw)  # once per call, outside every loop
    if batched:
        targets = jax.tree.map(
            lambda t, item_ndim: t if t.ndim > item_ndim else jnp.broadcast_to(t, (b, *t.shape)),
            targets,
            Targets({k: 3 for k in targets.content}, {k: 2 for k in targets.style}),
        )
        weights = jax.tree.map(
            lambda *ws: jnp.stack(ws), *[loss_weights(c, static) for c in configs]
        )
    else:
        weights = loss_weights(first, static)

    def item(a: Array, i: int) -> Array:
        return a[i] if a.ndim == 4 else a

    keys = [None if key is None else (key[i] if _is_key_batch(key) else key) for i in range(b)]
    x0 = jnp.stack(
        [
            initial_image(item(content, i), item(style, i), c, preprocess, k)
            for i, (c, k) in enumerate(zip(configs, keys, strict=True))
        ]
    )
    if not batched:
        x0 = x0[0]
    iterations = first.iterations
    x_now = x0
    # Python-stepped optimisers yield (x, record) per iteration; the device loop runs
    # whole chunks in one call.
    stepper: Iterator[tuple[Array, dict[str, Any]]] | None = None
    if static.optimizer == "lbfgs":
        run = dataclasses.replace(static, iterations=iterations)
        stepper = _lbfgs_steps(x0, params, targets, weights, run, preprocess, batched)
    else:
        state = init_state(x0, params, targets, static, preprocess, weights)
        if host_loop(static):
            stepper = _host_steps(state, params, targets, static, preprocess, weights)
    chunks: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, unit="it", dynamic_ncols=True)
    done = 0
    try:
        while done < iterations:
            steps = min(first.chunk_size, iterations - done)
            if stepper is not None:
                records = []
                for _ in range(steps):
                    # Only the newest iterate stays alive: a chunk's worth of images
                    # (50 at 3 MiB each at 512 px) was measurable in the peak memory.
                    x_now, record = next(stepper)
                    records.append(record)
                hist = jax.tree.map(lambda *r: np.stack([np.asarray(v) for v in r]), *records)
            else:
                state, hist = run_chunk(
                    state, params, targets, jnp.int32(steps), static, preprocess, weights
                )
                hist = jax.tree.map(lambda h, n=steps: np.asarray(h)[:n], hist)
                x_now = state.x
            chunks.append(hist)
            done += steps
            if bar is not None:
                bar.update(steps)
                bar.set_postfix(loss=f"{float(np.max(hist['total'][-1])):.4g}")
            if callback is not None:
                callback(done, _to_image(x_now, preprocess), _history(chunks, static))
    finally:
        if bar is not None:
            bar.close()
    batch = (b,) if batched else ()
    return Result(_to_image(x_now, preprocess), _history(chunks, static, batch))


_targets = jax.jit(make_targets, static_argnames=("config", "preprocess"))


def winograd_layers(config: Config, shape: tuple[int, int]) -> tuple[str, ...]:
    """The convolutions ``config`` runs in Winograd form for an ``(H, W)`` image.

    ``convolution="winograd"``: every one of :data:`~jaxstyle.vgg.WINOGRAD_LAYERS` the
    loss reaches; ``"winograd4"``: every one of :data:`~jaxstyle.vgg.WINOGRAD4_LAYERS`
    (in F(4x4, 3x3), :func:`winograd_tile`); ``"direct"``: none. ``"auto"`` takes Winograd only where it was
    measured to win (``benchmarks/results/cpu.md``, ``cpu_conv_layers.md``; 2-core
    AVX2 CPU):

    - on a CPU (``jax.default_backend()``): cuDNN and TPUs choose their own algorithms;
    - at float32 or tf32: Winograd is not offered for bfloat16;
    - with the ``lbfgs`` optimiser, whose one evaluation program is the only place the
      network is compiled; optax and jaxopt compile it into their line searches
      several times, and with Winograd their tests took 2-5x longer;
    - from :data:`WINOGRAD_MIN_PIXELS` up: one evaluation took 0.70-0.75x the direct
      one's time at 128² and 0.67x at 256² (two full runs with the input gradient's own
      matrices), but the evaluation program takes ~3 s longer to compile cold (4.5 s
      at 256²), which small images never win back.

    Example:
        >>> winograd_layers(Config(convolution="winograd"), (32, 32))[:2]
        ('conv3_1', 'conv3_2')
        >>> winograd_layers(Config(), (64, 64)), winograd_layers(Config(optimizer="optax"), (512, 512))
        ((), ())
    """
    if config.convolution == "direct":
        return ()
    if config.convolution == "winograd4":
        return tuple(c for c in convs_reached(config.layers) if c in WINOGRAD4_LAYERS)
    if config.convolution == "auto" and (
        jax.default_backend() != "cpu"
        or config.precision == "bfloat16"
        or config.optimizer != "lbfgs"
        or shape[0] * shape[1] < WINOGRAD_MIN_PIXELS
    ):
        return ()
    return tuple(c for c in convs_reached(config.layers) if c in WINOGRAD_LAYERS)


def prepare_params(params: Params, config: Config, shape: tuple[int, int]) -> Params:
    """``params`` as :func:`stylize` runs them on an ``(H, W)`` image, computed once.

    The same tree as ``vgg.with_backward_kernels(params, layers=convs_reached(
    config.layers), winograd=winograd_layers(config, shape))``: every convolution
    ``config``'s layers reach gets its backward kernel, or its Winograd transforms
    where :func:`winograd_layers` says so. Not traceable (it slices on the host),
    which keeps its compiled program small: see :func:`_unstack`.
    """
    layers, winograd = convs_reached(config.layers), winograd_layers(config, shape)
    tile = winograd_tile(config)
    made = _prepared_kernels({n: params[n]["kernel"] for n in layers}, winograd, tile)
    out = dict(params)
    for name, leaves in made.items():
        if name not in winograd:
            out[name] = {**params[name], "kernel_t": leaves}
            continue
        if tile == 2:  # one stack: the input gradient's set is it reflected, on the host
            u, u_t = _unstack(leaves), _unstack(leaves, backward=True)
        else:  # F(4x4): the backward kernel's own transform, stacked beside it
            u, u_t = _unstack(leaves[0]), _unstack(leaves[1])
        out[name] = {**params[name], "winograd": u, "winograd_t": u_t}
    return out


def winograd_tile(config: Config) -> int:
    """The output tile side of ``config``'s Winograd convolutions: 4 for ``winograd4``, else 2."""
    return 4 if config.convolution == "winograd4" else 2


@functools.partial(jax.jit, static_argnames=("winograd", "tile"))
def _prepared_kernels(
    kernels: dict[str, Array], winograd: tuple[str, ...], tile: int = 2
) -> dict[str, Any]:
    # Only the new arrays: a jitted function that returned the params too would copy them.
    out: dict[str, Any] = {}
    for name, k in kernels.items():
        if name not in winograd:
            out[name] = backward_kernel(k)
        elif tile == 2:  # the backward set is a reflection of this one (_unstack)
            out[name] = transform_kernel_stacked(k)
        else:
            out[name] = (
                transform_kernel_stacked(k, tile),
                transform_kernel_stacked(backward_kernel(k), tile),
            )
    return out


def _unstack(a: Array, backward: bool = False) -> tuple[Array, ...]:
    """The points ``(C_in, C_out)`` of a stacked Winograd transform, as separate arrays.

    With ``backward``, the 16 of its input gradient (``winograd.backward_transform``).
    Sliced on the host: inside a compiled program each slice is a copy that XLA:CPU
    compiles apart (a first version sliced in the program: 2.8 s to compile).
    """
    points = tuple(np.asarray(a))
    points = backward_transform(points) if backward else points
    # As committed to its device as ``a`` is: see :func:`_placed_like`.
    device = next(iter(a.devices())) if a.committed else None
    return tuple(jax.device_put(point, device) for point in points)


def _to_image(x: Array, preprocess: Preprocess) -> np.ndarray:
    return np.asarray(jnp.clip(preprocess.invert(x), 0.0, 1.0), np.float32)


def _history(
    chunks: Sequence[dict[str, Any]], config: Config, batch: tuple[int, ...] = ()
) -> History:
    if not chunks:
        empty = np.zeros((*batch, 0), np.float32)
        return History(
            empty,
            empty,
            {k: empty for k, _ in config.style_layers},
            empty,
            np.zeros((*batch, 0), np.int32),
        )
    # Chunks are (T, *batch); the History is (*batch, T).
    merged = jax.tree.map(lambda *xs: np.moveaxis(np.concatenate(xs), 0, -1), *chunks)
    return History(
        merged["total"], merged["content"], merged["style"], merged["tv"], merged["evaluations"]
    )
