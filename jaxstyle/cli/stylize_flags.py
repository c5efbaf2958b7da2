"""The flags of ``jaxstyle stylize``; :func:`jaxstyle.cli.stylize.run` runs them."""

from __future__ import annotations

import argparse

from jaxstyle import options
from jaxstyle.cli.args import add_choice, counts, nonneg_float, positive_int
from jaxstyle.cli.scale import add_scale
from jaxstyle.cli.stylize import run


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="paint a content photo in the style of a painting",
        description="Gatys et al. (2016) style transfer by L-BFGS on the pixels. "
        "With no CONTENT/STYLE, the bundled Tuebingen photo and Starry Night are used.",
    )
    p.add_argument("content", nargs="?", help="content photo (default: bundled Tuebingen)")
    p.add_argument(
        "style",
        nargs="?",
        help="style painting, or several as STYLE1,STYLE2,... blended or one per mask "
        "(default: bundled Starry Night)",
    )
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg)")
    p.add_argument(
        "--size",
        type=positive_int,
        help="long side of the output in pixels (default: 512 on GPU/TPU, 128 on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=counts,
        help="iterations (default: 500 on GPU/TPU, 100 on CPU); with --scales one number "
        "or one per scale, e.g. 500,200",
    )
    p.add_argument(
        "--scales",
        type=counts,
        help="coarse to fine: long sides, e.g. 512,1024 (the last is the output size; "
        "each stage starts from the previous result, upsampled)",
    )
    p.add_argument("--init-image", help="start image (implies --init image), resized to the output")
    p.add_argument(
        "--masks", help="M1.png,M2.png,...: one content mask per style image (white = region)"
    )
    p.add_argument("--style-masks", help="S1.png,...: where each style's statistics are taken from")
    p.add_argument(
        "--save-every", type=positive_int, default=None, help="also save every N iterations"
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=None,
        help="save the run's state every N iterations to OUTPUT's stem + .checkpoint.npz "
        "(an interrupt saves it too)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint beside OUTPUT (same inputs and settings; "
        "--iterations may grow)",
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=8,
        help="bits per channel of the output (16: PNG and TIFF only)",
    )
    p.add_argument(
        "--jpeg-quality", type=positive_int, default=95, help="JPEG quality, 1-100 (default 95)"
    )
    add_look(p)
    p.set_defaults(run=run)


def add_look(p: argparse.ArgumentParser) -> None:
    """The flags of one image's settings, shared by ``jaxstyle stylize`` and ``jaxstyle video``."""
    add_choice(
        p,
        "--weighting",
        options.WEIGHTINGS,
        "authors: the authors' code's size-independent loss weighting (default); "
        "paper: the paper's equations literally, where alpha/beta depends on the image size",
    )
    p.add_argument(
        "--ratio",
        type=nonneg_float,
        default=None,
        help="content weight / style weight, smaller paints more (default: "
        + ", ".join(f"{v:g} with --weighting {k}" for k, v in options.DEFAULT_RATIOS.items())
        + ")",
    )
    add_choice(
        p, "--init", options.INITS, "start (default content, the photo; image: --init-image)"
    )
    add_choice(
        p,
        "--colors",
        options.COLORS,
        "style: the painting's colours (default); luminance: luminance-only transfer; "
        "match: the style's colours matched to the photo first; swap: the result's "
        "luminance with the photo's colours",
    )
    add_choice(
        p,
        "--color-match",
        options.COLOR_MATCHES,
        "the colour map of --colors match (default pca)",
    )
    p.add_argument(
        "--style-blend-weights", help="one weight per style image, e.g. 3,1 (default equal)"
    )
    add_choice(
        p,
        "--mask-mode",
        options.MASK_MODES,
        "simple: masks pooled as the features (default); inside: only units whose "
        "receptive field lies inside the region",
    )
    add_choice(
        p,
        "--style-loss",
        options.STYLE_LOSSES,
        "gram: the paper's (default); wasserstein: 2-Wasserstein distance of Gaussian fits",
    )
    p.add_argument(
        "--photorealism",
        type=nonneg_float,
        default=0.0,
        help="weight of the matting-Laplacian photorealism term (Luan et al. 2017; default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for --init noise (default 0)")
    p.add_argument(
        "--weights",
        default=None,
        help="converted weights file, or an original .h5/.pth converted into the cache "
        "or a source name keras|torchvision|gatys fetched on first use (default: $JAXSTYLE_WEIGHTS or keras)",
    )
    add_choice(p, "--pooling", options.POOLINGS, "avg: the paper's (default); max: VGG19's own")
    add_choice(
        p,
        "--optimizer",
        options.OPTIMIZERS,
        "auto (default): lbfgs on a CPU, jaxopt on a GPU/TPU; adam: optax's Adam",
    )
    p.add_argument(
        "--learning-rate",
        type=nonneg_float,
        default=None,
        help=f"Adam's step in [0, 1] pixel units (default {options.DEFAULT_LEARNING_RATE})",
    )
    add_choice(
        p,
        "--linesearch",
        sorted(options.offered(options.LINESEARCHES, "auto")),
        "L-BFGS line search (default: strong-wolfe for lbfgs, zoom for optax and "
        "jaxopt; none = torch's unit steps, lbfgs and optax only)",
    )
    add_choice(
        p,
        "--precondition",
        sorted(options.offered(options.PRECONDITIONERS, "auto")),
        "L-BFGS's starting inverse Hessian (default: spectral for lbfgs, which boosts "
        "coarse structure; none = torch's, and the only one for optax/jaxopt/adam)",
    )
    p.add_argument(
        "--history-size",
        type=int,
        default=None,
        help="L-BFGS memory in pairs (default: 100 for lbfgs, 10 for optax/jaxopt, "
        "less where a batch would pass 2 GiB); each pair is two image-sized float32 arrays",
    )
    add_scale(p)
    add_choice(
        p,
        "--precision",
        options.PRECISIONS,
        "convolution precision (default float32; tf32/bfloat16 are faster on GPUs/TPUs)",
    )
    add_choice(
        p,
        "--convolution",
        options.CONVOLUTIONS,
        "auto (default): plain JAX on GPU/TPU, the CPU kernels on a CPU; direct: "
        "plain JAX everywhere; winograd: blocks 3-5 as Winograd F(2x2,3x3), CPU only",
    )
    p.add_argument(
        "--content-layers",
        default="relu4_2",
        help="comma-separated, equal weights, or name:weight,... (default relu4_2)",
    )
    p.add_argument(
        "--style-layers",
        default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        help="comma-separated, equal weights, or name:weight,... e.g. relu1_1:0.5,relu3_1:0.5 "
        "(default relu1_1,...,relu5_1)",
    )
    p.add_argument(
        "--style-scale",
        type=nonneg_float,
        default=None,
        help="style long side / content long side (default: resize style to the content size)",
    )
    p.add_argument("--tv-weight", type=nonneg_float, default=0.0, help="total variation weight")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
