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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import losses
from jaxstyle.errors import ConfigError
from jaxstyle.vgg import LAYERS, Params, Preprocess, check_layers, features, min_size

Array = jax.Array

#: The paper's layers: content at relu4_2, style at relu1_1 ... relu5_1 with w_l = 1/5.
DEFAULT_CONTENT_LAYERS: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)
DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = tuple(
    (f"relu{b}_1", 0.2) for b in range(1, 6)
)

INITS = ("noise", "content", "style")
OPTIMIZERS = ("jaxopt", "optax")


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
        ratio: ``alpha / beta`` (paper, Fig. 3: 1e-3, 8e-4, 5e-3, 5e-4; Fig. 7: 1e-2).
            Used as ``alpha = ratio, beta = 1`` unless both weights below are given.
        content_weight: explicit ``alpha`` (needs ``style_weight`` too).
        style_weight: explicit ``beta``.
        tv_weight: weight of an optional total-variation term on the [0, 1] RGB
            image (not in the paper; 0 turns it off).
        init: ``"noise"`` (seeded white noise), ``"content"`` or ``"style"``.
        noise_std: std of the white Gaussian noise around the preprocessing's mean
            colour, in [0, 1] pixel units.
        iterations: L-BFGS iterations.
        optimizer: ``"jaxopt"`` (``jaxopt.LBFGS``) or ``"optax"`` (``optax.lbfgs``).
        history_size: L-BFGS memory (pairs of past steps).
        pooling: ``"avg"`` (paper) or ``"max"``.
        style_scale: ``None`` resizes the style image to the content's exact size
            (the paper); a number resizes its long side to that multiple of the
            content's long side, keeping its aspect ratio.
        chunk_size: iterations per compiled call (progress/intermediate-save period).
    """

    content_layers: Any = DEFAULT_CONTENT_LAYERS
    style_layers: Any = DEFAULT_STYLE_LAYERS
    ratio: float = 1e-3
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float = 0.0
    init: str = "noise"
    noise_std: float = 0.1
    iterations: int = 500
    optimizer: str = "jaxopt"
    history_size: int = 10
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
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
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
        style: layer -> ``(C, C)`` Gram matrix ``A`` of the style image.
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


def make_targets(
    params: Params,
    content: Array,
    style: Array,
    config: Config,
    preprocess: Preprocess,
) -> Targets:
    """Content responses and style Grams, from ``(H, W, 3)`` RGB images in [0, 1]."""
    content_names = tuple(k for k, _ in config.content_layers)
    style_names = tuple(k for k, _ in config.style_layers)
    fc = features(params, preprocess.apply(content), content_names, pooling=config.pooling)
    fs = features(params, preprocess.apply(style), style_names, pooling=config.pooling)
    return Targets(
        content={k: fc[k] for k in content_names},
        style={k: losses.gram(fs[k]) for k in style_names},
    )


def loss_terms(
    x: Array,
    params: Params,
    targets: Targets,
    config: Config,
    preprocess: Preprocess,
) -> tuple[Array, dict[str, Any]]:
    """Eq. 7 at the network-input image ``x`` ``(H, W, 3)``, with its parts.

    Returns:
        ``(total, terms)`` with ``terms = {"content": L_content, "style": {layer: E_l},
        "tv": TV}``, every entry a float32 scalar, none weighted.
    """
    feats = features(params, x, config.layers, pooling=config.pooling)
    content = losses.weighted_content_loss(feats, targets.content, dict(config.content_layers))
    per_layer = {
        k: losses.style_layer_loss(feats[k], targets.style[k]) for k, _ in config.style_layers
    }
    style = (
        jnp.sum(jnp.stack([w * per_layer[k] for k, w in config.style_layers]))
        if per_layer
        else jnp.zeros((), jnp.float32)
    )
    total = losses.total_loss(content, style, config.alpha, config.beta)
    tv = jnp.zeros((), jnp.float32)
    if config.tv_weight > 0:
        tv = losses.tv_loss(preprocess.invert(x))
        total = total + config.tv_weight * tv
    return total, {"content": content, "style": per_layer, "tv": tv}


def objective(
    params: Params, targets: Targets, config: Config, preprocess: Preprocess
) -> Callable[[Array], tuple[Array, dict[str, Any]]]:
    """``x -> (L_total, terms)`` with the targets closed over (``jax.grad``-able)."""
    return functools.partial(
        loss_terms, params=params, targets=targets, config=config, preprocess=preprocess
    )


class _Solver(NamedTuple):
    init: Callable[[Array], Any]
    # (x, state) -> (x, state, value at the new x, terms at the new x, evaluations)
    step: Callable[[Array, Any], tuple[Array, Any, Array, dict[str, Any], Array]]


def _make_solver(fun: Callable[[Array], tuple[Array, dict[str, Any]]], config: Config) -> _Solver:
    if config.optimizer == "jaxopt":
        import jaxopt

        solver = jaxopt.LBFGS(
            fun=fun,
            has_aux=True,
            maxiter=max(config.iterations, 1),
            tol=0.0,
            history_size=config.history_size,
        )

        def jaxopt_step(x: Array, state: Any) -> tuple[Array, Any, Array, dict[str, Any], Array]:
            before = state.num_fun_eval
            x, state = solver.update(x, state)
            return x, state, state.value, state.aux, state.num_fun_eval - before

        return _Solver(solver.init_state, jaxopt_step)

    import optax

    opt = optax.lbfgs(memory_size=config.history_size)

    def value(x: Array) -> Array:
        return fun(x)[0]

    value_and_grad = optax.value_and_grad_from_state(value)

    def optax_step(x: Array, state: Any) -> tuple[Array, Any, Array, dict[str, Any], Array]:
        v, g = value_and_grad(x, state=state)
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=value)
        x = optax.apply_updates(x, updates)
        # optax keeps no aux: the parts cost one extra forward pass per iteration.
        new_value, terms = fun(x)
        steps = optax.tree.get(state, "num_linesearch_steps")
        return x, state, new_value, terms, jnp.asarray(steps, jnp.int32)

    return _Solver(opt.init, optax_step)


def _empty_history(config: Config, n: int) -> dict[str, Any]:
    return {
        "total": jnp.full((n,), jnp.nan, jnp.float32),
        "content": jnp.full((n,), jnp.nan, jnp.float32),
        "style": {k: jnp.full((n,), jnp.nan, jnp.float32) for k, _ in config.style_layers},
        "tv": jnp.full((n,), jnp.nan, jnp.float32),
        "evaluations": jnp.zeros((n,), jnp.int32),
    }


@functools.partial(jax.jit, static_argnames=("config", "preprocess"))
def init_state(
    x0: Array, params: Params, targets: Targets, config: Config, preprocess: Preprocess
) -> OptState:
    """The optimiser state at the network-input image ``x0``."""
    solver = _make_solver(objective(params, targets, config, preprocess), config)
    return OptState(x0, solver.init(x0), jnp.zeros((), jnp.int32), jnp.zeros((), bool))


@functools.partial(jax.jit, static_argnames=("config", "preprocess"))
def run_chunk(
    state: OptState,
    params: Params,
    targets: Targets,
    steps: Array,
    config: Config,
    preprocess: Preprocess,
) -> tuple[OptState, dict[str, Any]]:
    """Runs ``steps`` (<= ``config.chunk_size``, traced) L-BFGS iterations on device.

    Returns:
        The new state and this chunk's history (``config.chunk_size`` entries, the
        first ``steps`` filled).
    """
    solver = _make_solver(objective(params, targets, config, preprocess), config)

    def body(i: Array, carry: tuple[OptState, dict[str, Any]]) -> tuple[OptState, dict[str, Any]]:
        st, hist = carry
        x, s, value, terms, evals = solver.step(st.x, st.solver)
        ok = jnp.isfinite(value) & ~st.stopped
        # A failed step (non-finite loss) leaves the last good image in place.
        x = jnp.where(ok, x, st.x)
        s = jax.tree.map(lambda new, old: jnp.where(ok, new, old), s, st.solver)
        nan = jnp.full((), jnp.nan, jnp.float32)
        record = {
            "total": jnp.where(ok, value, nan),
            "content": jnp.where(ok, terms["content"], nan),
            "style": {k: jnp.where(ok, v, nan) for k, v in terms["style"].items()},
            "tv": jnp.where(ok, terms["tv"], nan),
            "evaluations": jnp.where(ok, evals, 0),
        }
        hist = jax.tree.map(lambda h, r: h.at[i].set(r.astype(h.dtype)), hist, record)
        return OptState(x, s, st.iteration + 1, ~ok), hist

    return jax.lax.fori_loop(0, steps, body, (state, _empty_history(config, config.chunk_size)))


def resize(image: Array, height: int, width: int) -> Array:
    """Antialiased bilinear resize of an ``(H, W, C)`` image (identity at the same size)."""
    if image.shape[:2] == (height, width):
        return image
    return jax.image.resize(image, (height, width, image.shape[-1]), "linear", antialias=True)


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
    """The starting image in network-input space, ``content``'s shape."""
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


def stylize(
    content: Array | np.ndarray,
    style: Array | np.ndarray,
    params: Params,
    preprocess: Preprocess,
    config: Config = Config(),
    *,
    key: Array | None = None,
    callback: Callable[[int, np.ndarray, History], None] | None = None,
    progress: bool = False,
) -> Result:
    """Paints ``content`` in the style of ``style`` (Gatys et al. 2016).

    Args:
        content: ``(H, W, 3)`` RGB float in [0, 1]; the output has its size.
        style: ``(H', W', 3)`` RGB float in [0, 1]; resized per ``config.style_scale``.
        params: VGG19 params (see :func:`jaxstyle.weights.load_weights`).
        preprocess: the params' input convention (``meta.preprocess``).
        config: hyper-parameters.
        key: PRNG key for ``init="noise"``.
        callback: called after each chunk with ``(iterations done, image, history so far)``.
        progress: show a tqdm progress bar with the current loss.

    Returns:
        :class:`Result` with the ``(H, W, 3)`` image, clipped to [0, 1].

    Example:
        >>> from jaxstyle.vgg import TORCHVISION, init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> img = jnp.full((16, 16, 3), 0.5)
        >>> out = stylize(img, img, params, TORCHVISION, Config(iterations=2), key=jax.random.key(1))
        >>> out.image.shape, out.history.total.shape
        ((16, 16, 3), (2,))
    """
    content = jnp.asarray(content, jnp.float32)
    style = jnp.asarray(style, jnp.float32)
    for name, img in (("content", content), ("style", style)):
        if img.ndim != 3 or img.shape[-1] != 3 or min(img.shape[:2]) < 1:
            raise ConfigError(f"{name} image must have shape (H, W, 3), got {img.shape}")
    style = resize(style, *style_size(content.shape[:2], style.shape[:2], config.style_scale))
    need = min_size(config.layers)
    for name, img in (("content", content), ("style", style)):
        if min(img.shape[:2]) < need:
            raise ConfigError(
                f"the {name} image is {img.shape[1]}x{img.shape[0]} px; layer "
                f"{config.layers[-1]} needs at least {need} px on each side"
            )
    # Only the loss and the solver's settings shape the compiled program.
    static = dataclasses.replace(config, iterations=0, init="content", noise_std=0.0)
    targets = make_targets(params, content, style, static, preprocess)
    x0 = initial_image(content, style, config, preprocess, key)
    state = init_state(x0, params, targets, static, preprocess)

    chunks: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, unit="it", dynamic_ncols=True)
    done = 0
    try:
        while done < config.iterations:
            steps = min(config.chunk_size, config.iterations - done)
            state, hist = run_chunk(state, params, targets, jnp.int32(steps), static, preprocess)
            hist = jax.tree.map(lambda h, n=steps: np.asarray(h)[:n], hist)
            chunks.append(hist)
            done += steps
            if bar is not None:
                bar.update(steps)
                bar.set_postfix(loss=f"{float(hist['total'][-1]):.4g}")
            if callback is not None:
                callback(done, _to_image(state.x, preprocess), _history(chunks, config))
    finally:
        if bar is not None:
            bar.close()
    return Result(_to_image(state.x, preprocess), _history(chunks, config))


def _to_image(x: Array, preprocess: Preprocess) -> np.ndarray:
    return np.asarray(jnp.clip(preprocess.invert(x), 0.0, 1.0), np.float32)


def _history(chunks: Sequence[dict[str, Any]], config: Config) -> History:
    if not chunks:
        empty = np.zeros((0,), np.float32)
        return History(
            empty,
            empty,
            {k: empty for k, _ in config.style_layers},
            empty,
            np.zeros((0,), np.int32),
        )
    merged = jax.tree.map(lambda *xs: np.concatenate(xs), *chunks)
    return History(
        merged["total"], merged["content"], merged["style"], merged["tv"], merged["evaluations"]
    )
