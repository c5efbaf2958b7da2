"""The user's settings of one stylisation, validated once, and the defaults by backend.

:class:`Config` is what a user writes; :func:`resolve` fills in what depends on the
backend (``optimizer="auto"``) and refuses what the backend cannot do
(``convolution="winograd"`` off a CPU). The choices each setting offers and its
defaults are the constants of :mod:`jaxstyle.options`. What the compiled program depends on is
derived from it elsewhere: the static network spec and the traced loss weights in
:mod:`jaxstyle.objective`, the solver in :mod:`jaxstyle.solve.solvers`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxstyle.errors import ConfigError
from jaxstyle.model.layers import FLOAT32_MAX, LAYERS, layer_weights
from jaxstyle.options import (
    COLOR_MATCHES,
    COLORS,
    CONVOLUTIONS,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_INIT,
    DEFAULT_LEARNING_RATE,
    DEFAULT_RATIOS,
    DEFAULT_STYLE_LAYERS,
    DEFAULT_TEMPORAL_WEIGHT,
    INITS,
    LINESEARCHES,
    MASK_MODES,
    MEMORY,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    PRECONDITIONERS,
    SHARDS,
    STYLE_LOSSES,
    WEIGHTINGS,
    offered,
)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}, got {value!r}")


def _offered(
    name: str, value: str | None, optimizer: str, table: dict[str, tuple[str, ...]]
) -> None:
    names = offered(table, optimizer)
    if value is not None and value not in names:
        raise ConfigError(
            f"optimizer {optimizer!r} offers {name} {', '.join(names)}, got {value!r}"
        )


def _layer_weights(value: Any, what: str) -> tuple[tuple[str, float], ...]:
    try:
        return layer_weights(value)
    except ValueError as e:
        raise ConfigError(f"{what}: {e}") from None


def _blend(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        weights = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"style blend weights must be numbers, got {value!r}") from None
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(
            f"style blend weights must be finite, >= 0 and not all 0, got {list(weights)}"
        )
    total = sum(weights)
    return tuple(w / total for w in weights)


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of one stylisation; frozen and validated when made.

    Attributes:
        content_layers: ``(layer, weight)`` pairs, a ``{layer: weight}`` dict, or a
            comma-separated string (equal weights summing to 1). Paper: ``relu4_2``.
        style_layers: the same for style; paper: ``relu1_1..relu5_1``, ``w_l = 1/5``.
        weighting: ``"authors"`` (default: the authors' code's size-independent
            weighting) or ``"paper"`` (the literal equations); see :data:`WEIGHTINGS`.
        ratio: content weight over style weight, ``alpha / beta``, applied after
            ``weighting``; smaller paints more. ``None`` takes :data:`DEFAULT_RATIOS`.
            With ``"paper"`` it is the paper's alpha/beta (Fig. 3: 1e-3, 8e-4, 5e-3,
            5e-4; Fig. 7: 1e-2). Used as ``alpha = ratio, beta = 1`` unless both
            weights below are given.
        content_weight: explicit ``alpha`` (needs ``style_weight`` too).
        style_weight: explicit ``beta``.
        tv_weight: weight of an optional total-variation term on the [0, 1] RGB image
            (not in the paper; 0 turns it off).
        init: ``"content"`` (the photo; default, :data:`DEFAULT_INIT`), ``"noise"``
            (seeded white noise), ``"style"`` or ``"image"`` (``init_image``).
        noise_std: std of the white noise around the preprocessing's mean colour, in
            [0, 1] pixel units.
        iterations: L-BFGS iterations.
        optimizer: see :data:`OPTIMIZERS`.
        linesearch: see :data:`LINESEARCHES`; ``None`` takes the optimizer's default.
            With ``"none"`` each iteration costs exactly one evaluation.
        precondition: L-BFGS's starting inverse Hessian, see :data:`PRECONDITIONERS`;
            ``None`` takes the optimizer's default (lbfgs: ``"spectral"``).
        history_size: L-BFGS memory (pairs of past steps); ``None`` takes
            :data:`HISTORY_SIZES`, less for a big batch. Memory: ``2 * history_size *
            H * W * 3`` float32 per image.
        precision: see :data:`PRECISIONS`.
        convolution: see :data:`CONVOLUTIONS`.
        pooling: ``"avg"`` (paper) or ``"max"``.
        style_scale: ``None`` resizes the style image to the content's exact size
            (the paper); a number resizes its long side to that multiple of the
            content's long side, keeping its aspect ratio.
        chunk_size: iterations between progress updates and callbacks.
        colors: colour control, see :data:`COLORS` (default ``"style"``, the paper).
        color_match: ``"pca"``, ``"chol"`` or ``"sym"`` for ``colors="match"``.
        style_blend_weights: one weight per style image when several are given,
            normalised to sum 1 (``None``: equal). The style targets are the blended
            Gram matrices (or, for the Wasserstein loss, the moments of the mixture).
        mask_mode: how a region's mask reaches each layer, see :data:`MASK_MODES`.
        style_loss: see :data:`STYLE_LOSSES`.
        photorealism: weight of Luan et al.'s matting-Laplacian regulariser
            (:mod:`jaxstyle.loss.matting`), as ``photorealism * L_m / (H W)``; 0 turns it off.
        temporal_weight: weight of a video frame's temporal loss (Ruder et al. 2016,
            :mod:`jaxstyle.loss.temporal`; ``None`` takes :data:`DEFAULT_TEMPORAL_WEIGHT`,
            0 paints the frames independently); a still image has no such term.
        learning_rate: Adam's step size in [0, 1] pixel units (``optimizer="adam"``);
            ``None`` takes :data:`DEFAULT_LEARNING_RATE`.
        remat: rematerialise each VGG block in the backward pass (less memory, more
            time); ``None`` leaves it to ``memory`` (off unless a run needs it).
        tiles: compute VGG19's first three blocks in this many strips of rows
            (:mod:`jaxstyle.loss.tiling`): their memory is one strip's, for some more time;
            0 off; ``None`` leaves it to ``memory`` (off unless a run needs it). The
            plain Gram loss only: :func:`jaxstyle.plan` refuses tiles with
            ``style_loss="wasserstein"``, masks or spatial sharding.
        memory: see :data:`MEMORY`.
        devices: how many devices to run on (``None``: all of them).
        shard: how a run is split over them, see :data:`SHARDS`.

    Example:
        >>> Config(ratio=1e-3, weighting="paper").alpha
        0.001
        >>> Config(init="photo")
        Traceback (most recent call last):
        ...
        jaxstyle.errors.ConfigError: init must be one of noise, content, style, image, got 'photo'
    """

    content_layers: Any = DEFAULT_CONTENT_LAYERS
    style_layers: Any = DEFAULT_STYLE_LAYERS
    weighting: str = "authors"
    ratio: float | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float = 0.0
    init: str = DEFAULT_INIT
    noise_std: float = 0.1
    iterations: int = 500
    optimizer: str = "auto"
    linesearch: str | None = None
    precondition: str | None = None
    history_size: int | None = None
    precision: str = "float32"
    convolution: str = "auto"
    pooling: str = "avg"
    style_scale: float | None = None
    chunk_size: int = 50
    colors: str = "style"
    color_match: str = "pca"
    style_blend_weights: Any = None
    mask_mode: str = "simple"
    style_loss: str = "gram"
    photorealism: float = 0.0
    temporal_weight: float | None = None
    learning_rate: float | None = None
    remat: bool | None = None
    tiles: int | None = None
    memory: str = "auto"
    devices: int | None = None
    shard: str = "auto"

    def __post_init__(self) -> None:
        content = _layer_weights(self.content_layers, "content layers")
        style = _layer_weights(self.style_layers, "style layers")
        object.__setattr__(self, "content_layers", content)
        object.__setattr__(self, "style_layers", style)
        if not content and not style:
            raise ConfigError("at least one content or style layer is needed")
        _choice("weighting", self.weighting, WEIGHTINGS)
        if self.ratio is None:
            object.__setattr__(self, "ratio", DEFAULT_RATIOS[self.weighting])
        _choice("init", self.init, INITS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _offered("linesearch", self.linesearch, self.optimizer, LINESEARCHES)
        _offered("precondition", self.precondition, self.optimizer, PRECONDITIONERS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("convolution", self.convolution, CONVOLUTIONS)
        if self.convolution == "winograd" and self.precision == "bfloat16":
            raise ConfigError(
                "convolution 'winograd' is float32 only; use precision float32 or tf32, "
                "or convolution 'auto' with bfloat16"
            )
        _choice("pooling", self.pooling, POOLINGS)
        if self.iterations < 0:
            raise ConfigError(f"iterations must be >= 0, got {self.iterations}")
        if self.chunk_size <= 0 or (self.history_size is not None and self.history_size <= 0):
            raise ConfigError("chunk_size and history_size must be positive")
        if (self.content_weight is None) != (self.style_weight is None):
            raise ConfigError("give both content_weight and style_weight, or neither")
        if self.style_scale is not None and not (
            math.isfinite(self.style_scale) and self.style_scale > 0
        ):
            raise ConfigError(f"style_scale must be positive, got {self.style_scale}")
        _choice("colors", self.colors, COLORS)
        _choice("color_match", self.color_match, COLOR_MATCHES)
        _choice("mask_mode", self.mask_mode, MASK_MODES)
        _choice("style_loss", self.style_loss, STYLE_LOSSES)
        _choice("memory", self.memory, MEMORY)
        _choice("shard", self.shard, SHARDS)
        if self.devices is not None and not (isinstance(self.devices, int) and self.devices > 0):
            raise ConfigError(f"devices must be a positive number, got {self.devices!r}")
        if self.remat not in (None, True, False):
            raise ConfigError(f"remat must be True, False or None, got {self.remat!r}")
        if self.tiles is not None and not (isinstance(self.tiles, int) and self.tiles >= 0):
            raise ConfigError(f"tiles must be a whole number >= 0, got {self.tiles!r}")
        object.__setattr__(self, "style_blend_weights", _blend(self.style_blend_weights))
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", DEFAULT_LEARNING_RATE)
        if self.temporal_weight is None:
            object.__setattr__(self, "temporal_weight", DEFAULT_TEMPORAL_WEIGHT)
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 1):
            raise ConfigError(
                f"learning_rate must be in (0, 1] pixel units, got {self.learning_rate}"
            )
        for name in (
            "ratio",
            "tv_weight",
            "noise_std",
            "photorealism",
            "temporal_weight",
            "content_weight",
            "style_weight",
        ):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0 <= value <= FLOAT32_MAX):
                raise ConfigError(f"{name} must be a number in [0, {FLOAT32_MAX:.4g}], got {value}")

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


def accelerator(backend: str) -> bool:
    """Whether ``backend`` (``jax.default_backend()``) is a GPU or TPU."""
    return backend in ("gpu", "cuda", "rocm", "tpu")


def resolve(config: Config, backend: str) -> Config:
    """``config`` with its backend-dependent choices made for ``backend``.

    ``optimizer="auto"`` becomes ``"lbfgs"`` on a CPU and ``"jaxopt"`` on a GPU/TPU;
    ``linesearch=None`` and ``precondition=None`` the optimizer's defaults. Asking for
    Winograd off a CPU is an error: its kernels are written for XLA:CPU and were never
    measured elsewhere.

    Example:
        >>> resolve(Config(), "cpu").optimizer, resolve(Config(), "gpu").linesearch
        ('lbfgs', 'zoom')
        >>> resolve(Config(convolution="winograd"), "tpu")
        Traceback (most recent call last):
        ...
        jaxstyle.errors.ConfigError: convolution 'winograd' is a CPU kernel, and this backend is tpu; use 'auto' or 'direct'
    """
    if config.convolution == "winograd" and backend != "cpu":
        raise ConfigError(
            f"convolution 'winograd' is a CPU kernel, and this backend is {backend}; "
            "use 'auto' or 'direct'"
        )
    optimizer = config.optimizer
    if optimizer == "auto":
        optimizer = "jaxopt" if accelerator(backend) else "lbfgs"
    return dataclasses.replace(
        config,
        optimizer=optimizer,
        linesearch=config.linesearch or LINESEARCHES[optimizer][0],
        precondition=config.precondition or PRECONDITIONERS[optimizer][0],
    )
