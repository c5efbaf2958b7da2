"""``jaxstyle stylize``: parse, build a Config, call :func:`jaxstyle.stylize`, save."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from jaxstyle import config as cfg
from jaxstyle import image as img
from jaxstyle.cli.args import add_weighting, nonneg_float, positive_int, run_defaults
from jaxstyle.convert import resolve_weights
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.history import History
from jaxstyle.stylize import stylize
from jaxstyle.weights import load_weights


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="paint a content photo in the style of a painting",
        description="Gatys et al. (2016) style transfer by L-BFGS on the pixels. "
        "With no CONTENT/STYLE, the bundled Tuebingen photo and Starry Night are used.",
    )
    p.add_argument("content", nargs="?", help="content photo (default: bundled Tuebingen)")
    p.add_argument("style", nargs="?", help="style painting (default: bundled Starry Night)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg)")
    p.add_argument(
        "--size",
        type=positive_int,
        help="long side of the output in pixels (default: 512 on GPU/TPU, 128 on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=positive_int,
        help="L-BFGS iterations (default: 500 on GPU/TPU, 100 on CPU)",
    )
    add_weighting(
        p,
        "authors: the authors' code's size-independent loss weighting (default); "
        "paper: the paper's equations literally, where alpha/beta depends on the image size",
    )
    p.add_argument(
        "--ratio",
        type=nonneg_float,
        default=None,
        help="content weight / style weight, smaller paints more (default: "
        + ", ".join(f"{v:g} with --weighting {k}" for k, v in cfg.DEFAULT_RATIOS.items())
        + ")",
    )
    p.add_argument("--init", choices=cfg.INITS, default="noise")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for --init noise (default 0)")
    p.add_argument(
        "--weights",
        default=None,
        help="converted weights file, or an original .h5/.pth converted into the cache "
        "or a source name keras|torchvision|gatys fetched on first use (default: $JAXSTYLE_WEIGHTS or keras)",
    )
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument(
        "--optimizer",
        choices=cfg.OPTIMIZERS,
        default=cfg.Config.optimizer,
        help="auto (default): lbfgs on a CPU, jaxopt on a GPU/TPU",
    )
    p.add_argument(
        "--linesearch",
        choices=sorted({ls for v in cfg.LINESEARCHES.values() for ls in v}),
        default=None,
        help="L-BFGS line search (default: strong-wolfe for lbfgs, zoom for optax and "
        "jaxopt; none = torch's unit steps, lbfgs and optax only)",
    )
    p.add_argument(
        "--history-size",
        type=int,
        default=None,
        help="L-BFGS memory in pairs (default: 100 for lbfgs, 10 for optax/jaxopt, "
        "less where a batch would pass 2 GiB); each pair is two image-sized float32 arrays",
    )
    p.add_argument(
        "--precision",
        choices=cfg.PRECISIONS,
        default=cfg.Config.precision,
        help="convolution precision (default float32; tf32/bfloat16 are faster on GPUs/TPUs)",
    )
    p.add_argument(
        "--convolution",
        choices=cfg.CONVOLUTIONS,
        default=cfg.Config.convolution,
        help="auto (default): plain JAX on GPU/TPU, the CPU kernels on a CPU; direct: "
        "plain JAX everywhere; winograd: blocks 3-5 as Winograd F(2x2,3x3), CPU only",
    )
    p.add_argument("--content-layers", default="relu4_2", help="comma-separated (default relu4_2)")
    p.add_argument(
        "--style-layers",
        default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        help="comma-separated, equal weights (default relu1_1,...,relu5_1)",
    )
    p.add_argument(
        "--style-scale",
        type=nonneg_float,
        default=None,
        help="style long side / content long side (default: resize style to the content size)",
    )
    p.add_argument("--tv-weight", type=nonneg_float, default=0.0, help="total variation weight")
    p.add_argument(
        "--save-every", type=positive_int, default=None, help="also save every N iterations"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def save_chunk(every: int | None, most: int = cfg.Config.chunk_size) -> int:
    """Iterations per compiled call, such that every ``every``-th iteration ends a call.

    The images are saved, and the progress bar moves, between calls: the largest
    divisor of ``every`` up to ``most`` (50) puts a call's end on each multiple.

    Example:
        >>> save_chunk(None), save_chunk(7), save_chunk(70), save_chunk(100), save_chunk(53)
        (50, 7, 35, 50, 1)
    """
    if every is None:
        return most
    return max(d for d in range(1, min(every, most) + 1) if every % d == 0)


def _intermediate_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}")


def run(args: argparse.Namespace) -> int:
    if (args.content is None) != (args.style is None):
        raise ConfigError("give both CONTENT and STYLE, or neither for the bundled pair")
    content_path = Path(args.content) if args.content else img.bundled("tubingen.jpg")
    style_path = Path(args.style) if args.style else img.bundled("starry_night.jpg")
    output = Path(args.output)
    if output.suffix.lower() not in img.SAVE_FORMATS:
        raise ImageError(f"output must end in .png, .jpg or .jpeg: {output}")
    for source in (content_path, style_path):
        if source.exists() and output.exists() and output.resolve() == source.resolve():
            raise ImageError(f"refusing to overwrite the input image {source}")

    defaults = run_defaults()
    size = args.size or defaults["size"]
    iterations = args.iterations or defaults["iterations"]
    config = cfg.Config(
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        weighting=args.weighting,
        ratio=args.ratio,
        init=args.init,
        iterations=iterations,
        optimizer=args.optimizer,
        linesearch=args.linesearch,
        history_size=args.history_size,
        precision=args.precision,
        convolution=args.convolution,
        pooling=args.pooling,
        style_scale=args.style_scale,
        tv_weight=args.tv_weight,
        chunk_size=save_chunk(args.save_every),
    )
    content = img.load_image(content_path, size)
    style = img.load_image(style_path)
    params, meta = load_weights(resolve_weights(args.weights))

    protect = (content_path, style_path)

    def save_intermediate(done: int, image: np.ndarray, _history: History) -> None:
        if args.save_every and done % args.save_every == 0 and done < iterations:
            img.save_image(_intermediate_path(output, done), image, protect=protect)

    start = time.perf_counter()
    result = stylize(
        content,
        style,
        params,
        meta.preprocess,
        config,
        key=jax.random.key(args.seed),
        callback=save_intermediate if args.save_every else None,
        progress=not args.quiet,
    )
    img.save_image(output, result.image, protect=protect)
    if not args.quiet:
        h, w = result.image.shape[:2]
        print(
            f"wrote {output} ({w}x{h}, {iterations} iterations, "
            f"final loss {float(result.history.total[-1]):.4g}, "
            f"{time.perf_counter() - start:.1f} s on {jax.default_backend()})"
        )
    return 0
