"""``jaxstyle stylize``: parse, build a Config, call :func:`jaxstyle.stylize`, save."""

from __future__ import annotations

import argparse
import functools
import math
import signal
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import config as cfg
from jaxstyle import image as img
from jaxstyle.checkpoint import Checkpoint
from jaxstyle.cli.args import (
    EXIT_USAGE,
    add_weighting,
    counts,
    nonneg_float,
    positive_int,
    run_defaults,
)
from jaxstyle.cli.scale import add_scale, preflight
from jaxstyle.convert import resolve_weights
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.history import History
from jaxstyle.imagefile import long_side_shape
from jaxstyle.multiscale import coarse_to_fine, stage_iterations
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
    p.add_argument("--init", choices=cfg.INITS, default="noise", help="start (image: --init-image)")
    p.add_argument("--init-image", help="start image (implies --init image), resized to the output")
    p.add_argument(
        "--colors",
        choices=cfg.COLORS,
        default=cfg.Config.colors,
        help="style: the painting's colours (default); luminance: luminance-only transfer; "
        "match: the style's colours matched to the photo first; swap: the result's "
        "luminance with the photo's colours",
    )
    p.add_argument(
        "--color-match",
        choices=cfg.COLOR_MATCHES,
        default=cfg.Config.color_match,
        help="the colour map of --colors match (default pca)",
    )
    p.add_argument(
        "--style-blend-weights", help="one weight per style image, e.g. 3,1 (default equal)"
    )
    p.add_argument(
        "--masks", help="M1.png,M2.png,...: one content mask per style image (white = region)"
    )
    p.add_argument("--style-masks", help="S1.png,...: where each style's statistics are taken from")
    p.add_argument(
        "--mask-mode",
        choices=cfg.MASK_MODES,
        default=cfg.Config.mask_mode,
        help="simple: masks pooled as the features (default); inside: only units whose "
        "receptive field lies inside the region",
    )
    p.add_argument(
        "--style-loss",
        choices=cfg.STYLE_LOSSES,
        default=cfg.Config.style_loss,
        help="gram: the paper's (default); wasserstein: 2-Wasserstein distance of Gaussian fits",
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
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument(
        "--optimizer",
        choices=cfg.OPTIMIZERS,
        default=cfg.Config.optimizer,
        help="auto (default): lbfgs on a CPU, jaxopt on a GPU/TPU; adam: optax's Adam",
    )
    p.add_argument(
        "--learning-rate",
        type=nonneg_float,
        default=None,
        help=f"Adam's step in [0, 1] pixel units (default {cfg.DEFAULT_LEARNING_RATE})",
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
    add_scale(p)
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


def checkpoint_path(output: Path) -> Path:
    """Where the run writing ``output`` keeps its checkpoint.

    Example:
        >>> checkpoint_path(Path("out/tubingen.png")).as_posix()
        'out/tubingen.checkpoint.npz'
    """
    return output.with_name(f"{output.stem}.checkpoint.npz")


def _intermediate_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}")


def _paths(text: str | None) -> list[Path]:
    return [Path(t) for t in (text or "").split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    if (args.content is None) != (args.style is None):
        raise ConfigError("give both CONTENT and STYLE, or neither for the bundled pair")
    content_path = Path(args.content) if args.content else img.bundled("tubingen.jpg")
    style_paths = _paths(args.style) if args.style else [img.bundled("starry_night.jpg")]
    if not style_paths:
        raise ConfigError("give at least one STYLE image")
    mask_paths, style_mask_paths = _paths(args.masks), _paths(args.style_masks)
    output = Path(args.output)
    icc = img.icc_profile(content_path) if content_path.is_file() else None
    out = {"bit_depth": args.bit_depth, "icc_profile": icc, "jpeg_quality": args.jpeg_quality}
    img.check_output(output, **out)  # bad output options fail before the run
    inputs = [content_path, *style_paths, *mask_paths, *style_mask_paths]
    if args.init_image:
        inputs.append(Path(args.init_image))
    for source in inputs:
        if source.exists() and output.exists() and output.resolve() == source.resolve():
            raise ImageError(f"refusing to overwrite the input image {source}")

    defaults = run_defaults()
    stages = stage_iterations(args.iterations or defaults["iterations"], len(args.scales or [0]))
    if args.scales and args.size:
        raise ConfigError("--size and --scales: the last scale is the output size")
    if args.scales and (args.save_every or args.checkpoint_every or args.resume):
        raise ConfigError(
            "--save-every, --checkpoint-every and --resume work without --scales only"
        )
    size = args.scales[-1] if args.scales else args.size or defaults["size"]
    iterations = sum(stages)
    config = cfg.Config(
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        weighting=args.weighting,
        ratio=args.ratio,
        init="image" if args.init_image else args.init,
        iterations=stages[-1],
        optimizer=args.optimizer,
        linesearch=args.linesearch,
        history_size=args.history_size,
        precision=args.precision,
        convolution=args.convolution,
        pooling=args.pooling,
        style_scale=args.style_scale,
        tv_weight=args.tv_weight,
        chunk_size=save_chunk(math.gcd(args.save_every or 0, args.checkpoint_every or 0) or None),
        colors=args.colors,
        color_match=args.color_match,
        style_blend_weights=args.style_blend_weights,
        mask_mode=args.mask_mode,
        style_loss=args.style_loss,
        photorealism=args.photorealism,
        learning_rate=args.learning_rate,
        remat=args.remat or None,
        tiles=args.tiles,
        memory=args.memory,
        devices=args.devices,
        shard=args.shard,
    )
    hw = long_side_shape(img.image_size(content_path), size)  # before any image is resized
    if preflight(args, config, hw, styles=len(style_paths), masks=bool(mask_paths)):
        return 0
    content = img.load_image(content_path, size)
    hw = content.shape[:2]
    styles = [img.load_image(p) for p in style_paths]
    masks = [img.load_mask(p, hw) for p in mask_paths] or None
    style_masks = [img.load_mask(p) for p in style_mask_paths] or None
    start_image = None
    if args.init_image:
        start_image = img.resize(jnp.asarray(img.load_image(args.init_image)), *hw)
    params, meta = load_weights(resolve_weights(args.weights))
    save = functools.partial(img.save_image, protect=tuple(inputs), **out)

    def save_intermediate(done: int, image: np.ndarray, _history: History) -> None:
        if args.save_every and done % args.save_every == 0 and done < iterations:
            save(_intermediate_path(output, done), image)

    start = time.perf_counter()
    run_args = (content, styles if len(styles) > 1 else styles[0], params, meta.preprocess)
    common = {
        "key": jax.random.key(args.seed),
        "init_image": start_image,
        "masks": masks,
        "style_masks": style_masks,
        "progress": not args.quiet,
        "interrupt": (signal.SIGINT, signal.SIGTERM),
    }
    if args.scales:
        result = coarse_to_fine(*run_args, config, args.scales, stages, **common)[-1]
    else:
        callback = save_intermediate if args.save_every else None
        keep = Checkpoint(checkpoint_path(output), args.checkpoint_every, args.resume)
        result = stylize(*run_args, config, callback=callback, checkpoint=keep, **common)
    if jax.process_index() == 0:  # every process of a multi-host run holds the image
        save(output, result.image)
    if result.stopped:
        h, w = result.image.shape[:2]
        done = len(result.history.total)
        loss = f", loss {float(result.history.total[-1]):.4g}" if done else ""
        ckpt = checkpoint_path(output)
        resume = (
            f" and the run's state to {ckpt}; add --resume to the same command to continue"
            if not args.scales and done
            else ""
        )
        sys.stderr.write(
            f"jaxstyle: {result.stopped} after {done} iterations{loss}: wrote the "
            f"lowest-loss image so far to {output} ({w}x{h}){resume}\n"
        )
        return 128 + signal.Signals[result.stopped].value
    if result.failed:
        sys.stderr.write(
            f"jaxstyle: error: {result.failed}; wrote the last finite image to {output}\n"
        )
        return EXIT_USAGE
    if not args.quiet:
        h, w = result.image.shape[:2]
        print(
            f"wrote {output} ({w}x{h}, {iterations} iterations, "
            f"final loss {float(result.history.total[-1]):.4g}, "
            f"{time.perf_counter() - start:.1f} s on {jax.default_backend()})"
        )
    return 0
