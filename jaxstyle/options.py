"""What each setting of :class:`jaxstyle.config.Config` offers, and its defaults.

Constants: the choices a setting accepts (validated in :mod:`jaxstyle.config`,
offered by the CLI) and the values taken when none is given; and two rules that read
them: what an optimizer offers in a per-optimizer table (:func:`offered`), and the
default blend of several style images (:func:`blend_weights`).
"""

from __future__ import annotations

#: The paper's layers: content at relu4_2, style at relu1_1 ... relu5_1 with w_l = 1/5.
DEFAULT_CONTENT_LAYERS: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)
DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = tuple(
    (f"relu{b}_1", 0.2) for b in range(1, 6)
)

#: noise: seeded white noise; content / style: the photo / the painting; image: a
#: given start (``stylize(init_image=...)``, ``--init-image``).
INITS = ("noise", "content", "style", "image")
#: The start when none is given: the photo. On the whole real VGG19 at the paper's
#: layers it paints as strongly as noise does and keeps the layout better in a CPU's 100
#: iterations (at 256 px a noise start has not formed the content by then); the paper
#: shows both (its Fig. 6). README, "Loss weighting".
DEFAULT_INIT = "content"
#: avg: the paper's average pooling; max: VGG19's own.
POOLINGS = ("avg", "max")
#: style: the paper (the style's colours); luminance: Gatys et al. 2017's
#: luminance-only transfer; match: the style's colours matched to the content's before
#: transfer; swap: the result's luminance with the content's chroma (jcjohnson's
#: ``-original_colors``). See :mod:`jaxstyle.color`.
COLORS = ("style", "luminance", "match", "swap")
#: The three variants of the authors' ``match_color`` (:func:`jaxstyle.controls.color.match_color`).
COLOR_MATCHES = ("pca", "chol", "sym")
#: simple: a mask resized as the features are pooled; inside: a unit counts only if its
#: receptive field lies inside the region (:mod:`jaxstyle.loss.guides`).
MASK_MODES = ("simple", "inside")
#: gram: the paper's Eq. 4; wasserstein: the 2-Wasserstein distance between Gaussian
#: fits of the features (:mod:`jaxstyle.loss.wasserstein`).
STYLE_LOSSES = ("gram", "wasserstein")
#: How the loss terms are weighted before ``ratio`` (see :mod:`jaxstyle.loss.equations`).
#: authors: the authors' own code, content ``2/(N_c M_c)`` and each style layer
#: ``4e3/N_l^2`` times its ``w_l``, so that a ratio means the same at every image size
#: and layer set; paper: Eqs. 1, 4, 5 and 7 literally, ``L = ratio * L_c + L_s``.
WEIGHTINGS = ("authors", "paper")
#: ``ratio`` when none is given. authors: chosen on the whole real VGG19 at the paper's
#: layers, with the photo as the start, so that a default run is strongly painted and
#: keeps the photo's layout (README, "Loss weighting"); paper: the paper's Fig. 3 B, 1e-3.
DEFAULT_RATIOS = {"authors": 6e-3, "paper": 1e-3}
#: lbfgs: :mod:`jaxstyle.solve.lbfgs`, torch.optim.LBFGS's algorithm, stepped from Python with
#: one compiled program per evaluation; optax / jaxopt: their L-BFGS, line search
#: included, compiled into one program that runs on the device. auto: lbfgs on a CPU,
#: jaxopt on a GPU/TPU (no host round trip per evaluation; see README, "Solvers").
#: adam: optax's Adam on the pixels, one evaluation per iteration, no history; for long
#: or memory-light runs (README, "Solvers").
OPTIMIZERS = ("auto", "lbfgs", "optax", "jaxopt", "adam")
#: Line searches each optimiser offers, its default first; "none" is a fixed unit step
#: after a first step of L1 length 1 (:mod:`jaxstyle.solve.lbfgs`), as torch.optim.LBFGS without
#: ``line_search_fn``.
LINESEARCHES = {
    "lbfgs": ("strong-wolfe", "none"),
    "optax": ("zoom", "backtracking", "none"),
    "jaxopt": ("zoom", "backtracking", "hager-zhang"),
    "adam": ("none",),
}
#: L-BFGS's starting inverse Hessian each optimiser offers, its default first:
#: "spectral" boosts structure coarser than a few periods across the image
#: (:mod:`jaxstyle.solve.precondition`; README, "Solvers"); "none" is ``H0 = gamma I``.
PRECONDITIONERS = {
    "lbfgs": ("spectral", "none"),
    "optax": ("none",),
    "jaxopt": ("none",),
    "adam": ("none",),
}
#: Default L-BFGS memory: torch's and Lua optim's 100 for lbfgs, the libraries' own 10
#: for optax and jaxopt; a batch may get less (:func:`jaxstyle.solve.common.history_size`).
HISTORY_SIZES = {"lbfgs": 100, "optax": 10, "jaxopt": 10, "adam": 0}
#: Adam's step size when none is given, in [0, 1] pixel units: of 0.02 and 0.05, the
#: faster to L-BFGS's loss (benchmarks/results/cpu_adam.md; docs/controls.md, "Adam").
DEFAULT_LEARNING_RATE = 0.05
#: The temporal loss's weight (Ruder et al. 2016) when none is given: the authors' balance
#: of the temporal term to the content term (1e3 to 5 in their code, on [0, 255] pixels
#: and the raw network's relu4_2) in jaxstyle's weighting, ``ratio * 200 * 255^2 * s^2``
#: with ``s^2 = 4.0e-5``, the mean square of the normalised network's relu4_2 over the raw
#: one's on the real clip's frames: 5.2 at ratio 1e-2, rounded
#: (``python -m benchmarks.video --balance``, benchmarks/results/cpu_video_balance.json).
#: At the default ratio 6e-3 the same balance reads 3.1; 5 is kept: at 6e-3 it cuts the
#: warping error to 0.12-0.22 of independent frames' (benchmarks/results/cpu_video.md).
DEFAULT_TEMPORAL_WEIGHT = 5.0
#: float32: exact float32 convolutions; tf32: the backend's default matmul precision
#: (TF32 on Ampere+ GPUs, bf16 passes on TPU, float32 on CPU); bfloat16: bf16
#: activations and kernels with float32 Grams and losses.
PRECISIONS = ("float32", "tf32", "bfloat16")
#: auto: plain JAX off a CPU; on a CPU the plug-in of :mod:`jaxstyle.cpu.plugin`
#: (measured faster there); direct: plain JAX everywhere; winograd: Winograd F(2x2, 3x3)
#: for blocks 3-5 at any size, CPU only, float32/tf32.
CONVOLUTIONS = ("auto", "direct", "winograd")
#: auto: before a run, the memory plan (:mod:`jaxstyle.scale.capacity`) tiles the first blocks and
#: shortens the L-BFGS memory where those are left to it, until the run fits; fixed:
#: the settings as given, refused if they do not fit; off: no plan, no check.
MEMORY = ("auto", "fixed", "off")
#: How a run is split over several devices (:mod:`jaxstyle.scale.sharding`): auto: a batch
#: by items, one image by rows only when it does not fit on one device.
SHARDS = ("auto", "batch", "spatial")
#: Output size and iterations when none are given: the paper's 512 px on a GPU/TPU;
#: minutes, not hours, on a CPU.
RUN_DEFAULTS = {
    "accelerator": {"size": 512, "iterations": 500},
    "cpu": {"size": 128, "iterations": 100},
}


def offered(table: dict[str, tuple[str, ...]], optimizer: str) -> tuple[str, ...]:
    """What ``optimizer`` offers in an ``options`` table (optimizer -> names, its default
    first); ``"auto"``: what any optimizer offers, in the table's order.

    Example:
        >>> offered({"a": ("x", "y"), "b": ("z", "x")}, "auto")
        ('x', 'y', 'z')
    """
    if optimizer == "auto":
        return tuple(dict.fromkeys(s for v in table.values() for s in v))
    return table[optimizer]


def blend_weights(weights: tuple[float, ...] | None, styles: int) -> tuple[float, ...]:
    """The blend weights of ``styles`` style images: ``weights``, or equal ones (the default).

    Example:
        >>> blend_weights(None, 4), blend_weights((0.75, 0.25), 2)
        ((0.25, 0.25, 0.25, 0.25), (0.75, 0.25))
    """
    return weights if weights is not None else (1.0 / styles,) * styles
