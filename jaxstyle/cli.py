"""The ``jaxstyle`` command line: a thin layer over the public API.

Every user error (bad file, bad size, unknown layer, ...) ends as one line on stderr
and exit code 2; no traceback, no output file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import jax
import numpy as np

from jaxstyle import __version__, optimize, vgg, weights
from jaxstyle import image as img
from jaxstyle.convert import SOURCES
from jaxstyle.errors import ConfigError, ImageError, JaxstyleError, WeightsError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts grep the reason.
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _on_accelerator() -> bool:
    return jax.default_backend() in ("gpu", "cuda", "rocm", "tpu")


#: Defaults by backend: the paper's 512 px on a GPU/TPU; minutes, not hours, on a CPU.
DEFAULTS = {
    "accelerator": {"size": 512, "iterations": 500},
    "cpu": {"size": 128, "iterations": 100},
}


def default_weights() -> str:
    """``$JAXSTYLE_WEIGHTS`` if set, else the ``keras`` source (fetched on first use)."""
    return os.environ.get("JAXSTYLE_WEIGHTS") or "keras"


def _add_weighting(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument(
        "--weighting", choices=optimize.WEIGHTINGS, default=optimize.Config.weighting, help=help
    )


def _add_stylize(sub: argparse._SubParsersAction) -> None:
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
        type=_positive_int,
        help="long side of the output in pixels (default: 512 on GPU/TPU, 128 on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=_positive_int,
        help="L-BFGS iterations (default: 500 on GPU/TPU, 100 on CPU)",
    )
    _add_weighting(
        p,
        "authors: the authors' code's size-independent loss weighting (default); "
        "paper: the paper's equations literally, where alpha/beta depends on the image size",
    )
    p.add_argument(
        "--ratio",
        type=_nonneg_float,
        default=None,
        help="content weight / style weight, smaller paints more (default: "
        + ", ".join(f"{v:g} with --weighting {k}" for k, v in optimize.DEFAULT_RATIOS.items())
        + ")",
    )
    p.add_argument("--init", choices=optimize.INITS, default="noise")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for --init noise (default 0)")
    p.add_argument(
        "--weights",
        default=None,
        help="converted weights file, or an original .h5/.pth converted into the cache "
        "or a source name keras|torchvision|gatys fetched on first use (default: $JAXSTYLE_WEIGHTS or keras)",
    )
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument("--optimizer", choices=optimize.OPTIMIZERS, default=optimize.Config.optimizer)
    p.add_argument(
        "--linesearch",
        choices=sorted({ls for v in optimize.LINESEARCHES.values() for ls in v}),
        default=optimize.Config.linesearch,
        help="L-BFGS line search (default: the optimizer's first: strong-wolfe for lbfgs, "
        "zoom for optax and jaxopt; none = torch's unit steps, lbfgs and optax only)",
    )
    p.add_argument(
        "--history-size",
        type=int,
        default=None,
        help="L-BFGS memory in pairs (default: 100 for lbfgs, 10 for optax/jaxopt); "
        "each pair costs two image-sized float32 arrays",
    )
    p.add_argument(
        "--precision",
        choices=optimize.PRECISIONS,
        default=optimize.Config.precision,
        help="convolution precision (default float32; tf32/bfloat16 are faster on GPUs/TPUs)",
    )
    p.add_argument(
        "--convolution",
        choices=optimize.CONVOLUTIONS,
        default=optimize.Config.convolution,
        help="blocks 3-5 as Winograd F(2x2,3x3) or direct (default auto: winograd on "
        "a CPU at float32, direct elsewhere); winograd4: blocks 2-5 as F(4x4,3x3), "
        "faster on a CPU, ~20x the float32 rounding error",
    )
    p.add_argument(
        "--loop",
        choices=optimize.LOOPS,
        default=optimize.Config.loop,
        help="optax/jaxopt: run the L-BFGS loop on the device or step it from Python "
        "(default auto: host on CPU); lbfgs is always stepped from Python",
    )
    p.add_argument("--content-layers", default="relu4_2", help="comma-separated (default relu4_2)")
    p.add_argument(
        "--style-layers",
        default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        help="comma-separated, equal weights (default relu1_1,...,relu5_1)",
    )
    p.add_argument(
        "--style-scale",
        type=_nonneg_float,
        default=None,
        help="style long side / content long side (default: resize style to the content size)",
    )
    p.add_argument("--tv-weight", type=_nonneg_float, default=0.0, help="total variation weight")
    p.add_argument(
        "--save-every", type=_positive_int, default=None, help="also save every N iterations"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_stylize)


def _add_figures(sub: argparse._SubParsersAction) -> None:
    from jaxstyle.figures import FIGURES, TINY

    acc, cpu = DEFAULTS["accelerator"], DEFAULTS["cpu"]
    p = sub.add_parser(
        "figures",
        help="reproduce the paper's Figs. 3-7 with the bundled images",
        description="Each figure is one batched stylisation; writes DIR/figN.png (a labelled "
        "grid) and DIR/figN_<panel>.png. Needs matplotlib (pip install 'jaxstyle[figures]').",
    )
    p.add_argument(
        "numbers", nargs="+", metavar="FIGURE", help=f"{', '.join(map(str, FIGURES))} or all"
    )
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument(
        "--tiny",
        action="store_true",
        help=f"{TINY['size']} px and {TINY['iterations']} iterations: a smoke test "
        "(with a small synthetic weights file it runs in seconds)",
    )
    p.add_argument("--weights", default=None, help="as for stylize")
    p.add_argument(
        "--size",
        type=_positive_int,
        help=f"long side (default: {acc['size']} on GPU/TPU, {cpu['size']} on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=_positive_int,
        help=f"default: {acc['iterations']} on GPU/TPU, {cpu['iterations']} on CPU",
    )
    p.add_argument("--optimizer", choices=optimize.OPTIMIZERS, default=optimize.Config.optimizer)
    _add_weighting(
        p,
        "as for stylize; each panel runs the paper's alpha/beta as that weighting "
        "reads it (the default's ratio 2e-2 for the paper's 1e-3), labelled with both",
    )
    p.add_argument(
        "--compare-sequential",
        action="store_true",
        help="also compute each panel alone; print both timings, write DIR/figN_timing.json",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=_run_figures)


def _run_figures(args: argparse.Namespace) -> int:
    from jaxstyle import figures as figs

    numbers = figs.parse_numbers(args.numbers)
    figs.require_matplotlib()
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ImageError(f"output must be a directory: {out}")
    defaults = figs.TINY if args.tiny else DEFAULTS["accelerator" if _on_accelerator() else "cpu"]
    size = args.size or defaults["size"]
    iterations = args.iterations or defaults["iterations"]
    base = optimize.Config(
        iterations=iterations, optimizer=args.optimizer, weighting=args.weighting
    )
    for n in numbers:  # before any download: the whole network's layers are the deepest
        figs.check_size(figs.figure(n, base), size)
    params, meta = weights.load_weights(resolve_weights(args.weights or default_weights()))
    blocks = vgg.blocks_of(params)
    specs = [figs.figure(n, base, blocks) for n in numbers]
    held = "" if blocks == 5 else f" (blocks 1-{blocks} only)"
    note = (
        f"{size} px, {iterations} iterations, {args.optimizer}, {args.weighting} weighting, "
        f"weights: {meta.source}{held}"
    )
    for spec in specs:
        n = spec.number
        result = figs.run(spec, params, meta.preprocess, size=size, progress=not args.quiet)
        paths = figs.save(result, out, note=note)
        if not args.quiet:
            print(
                f"Fig. {n}: wrote {paths[0]} and {len(paths) - 1} images "
                f"({len(spec.results)} panels in one batch, {result.seconds:.1f} s)"
            )
        if args.compare_sequential:
            one_by_one = figs.run_sequential(spec, params, meta.preprocess, size=size)
            c = figs.compare(result, one_by_one)
            record = figs.timing_record(c, result, {"weights": meta.source})
            figs.write_json(out / f"fig{n}_timing.json", record)
            print(
                f"Fig. {n}: batched {c.batched_s:.1f} s, one by one {c.sequential_s:.1f} s "
                f"({c.sequential_s / c.batched_s:.2f}x), largest pixel difference "
                f"{c.max_abs_diff:.2g}"
            )
    return 0


ORIGINAL_SUFFIXES = (".h5", ".hdf5", ".pth", ".pt")


def _add_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="convert and inspect VGG19 weights files")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=_Parser)
    c = wsub.add_parser(
        "convert",
        help="convert an original Keras .h5 / PyTorch .pth file and normalise it",
        description="Convert the Keras, torchvision or Gatys VGG19 checkpoint to a jaxstyle "
        "weights file, rescaled so that each filter's mean activation is 1 (the paper).",
    )
    c.add_argument("file", help="original checkpoint (.h5 or .pth)")
    c.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="checkpoint layout (default: guessed from the file)",
    )
    c.add_argument(
        "-o", "--output", default=None, help="output .npz (default: the cache for the source)"
    )
    c.add_argument("--pooling", choices=("avg", "max"), default="avg")
    c.set_defaults(run=_run_weights_convert)
    f = wsub.add_parser(
        "fetch",
        help="download an original checkpoint (checksum-verified) and convert it",
    )
    f.add_argument("source", choices=SOURCES)
    f.add_argument(
        "-o", "--output", default=None, help="output .npz (default: the cache for the source)"
    )
    f.add_argument("--no-convert", action="store_true", help="only download the original")
    f.set_defaults(run=_run_weights_fetch)
    i = wsub.add_parser("info", help="show what a converted weights file says about itself")
    i.add_argument("file", help="converted weights file (.npz)")
    i.set_defaults(run=_run_weights_info)


def _run_weights_convert(args: argparse.Namespace) -> int:
    from jaxstyle.convert import guess_source

    path = Path(args.file)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    source = args.source or guess_source(path)
    out = Path(args.output) if args.output else weights.default_weights_path(source)
    if out.suffix.lower() != ".npz":
        raise WeightsError(f"output must end in .npz: {out}")
    if out.exists() and out.resolve() == path.resolve():
        raise WeightsError(f"refusing to overwrite the input file {path}")
    meta = weights.convert(source, path, out, pooling=args.pooling)
    dead = meta.info.get("dead_total", 0)
    print(f"wrote {out} ({source}, {meta.checksum}, {dead} dead filters)")
    return 0


def _run_weights_fetch(args: argparse.Namespace) -> int:
    from jaxstyle.fetch import fetch

    original = fetch(args.source)
    print(f"downloaded {original}")
    if args.no_convert:
        return 0
    out = Path(args.output) if args.output else weights.default_weights_path(args.source)
    meta = weights.convert(args.source, original, out)
    print(f"wrote {out} ({args.source}, {meta.checksum}, {meta.info.get('dead_total', 0)} dead)")
    return 0


def _run_weights_info(args: argparse.Namespace) -> int:

    params, meta = weights.load_weights(args.file)
    pre = meta.preprocess
    blocks = vgg.blocks_of(params)
    last = vgg.held_layers(blocks)[-1]
    print(f"source:        {meta.source}")
    print(
        f"blocks:        1-{blocks} of 5 (conv1_1 ... {last}; layers up to "
        f"{last.replace('conv', 'relu')} and pool{blocks})"
    )
    print(f"checksum:      {meta.checksum or '-'}")
    print(
        f"preprocessing: {pre.channel_order}, scale {pre.scale:g}, "
        f"mean {', '.join(f'{m:g}' for m in pre.mean)}, std {', '.join(f'{s:g}' for s in pre.std)}"
    )
    print(f"normalised:    {'yes' if meta.normalised else 'no'}")
    means = meta.info.get("mean_activation")
    if not means:
        print("mean activation: no calibration statistics in this file")
        return 0
    rescaled = meta.info.get("rescaled", True)
    what = "before rescaling" if rescaled else "as published"
    print(f"mean activation per layer ({what}, over {meta.info.get('images', '?')} images):")
    dead = meta.info.get("dead", {})
    for layer, values in means.items():
        v = np.asarray(values, np.float64)
        print(
            f"  {layer:8s} mean {v.mean():10.4g}  min {v.min():10.4g}  max {v.max():10.4g}  "
            f"dead {dead.get(layer, int((v <= 0).sum()))}/{v.size}"
        )
    return 0


def resolve_weights(path: str) -> str:
    """A converted .npz as is; an original .h5/.pth converted once into the cache."""
    if path in SOURCES:
        out = weights.default_weights_path(path)
        if not out.is_file():
            from jaxstyle.fetch import fetch

            original = fetch(path)
            print(f"converting {original} ({path}) to {out}")
            weights.convert(path, original, out)
        return str(out)
    p = Path(path)
    if p.suffix.lower() not in ORIGINAL_SUFFIXES:
        return path
    from jaxstyle.convert import guess_source

    if not p.is_file():
        raise WeightsError(f"weights file not found: {p}")
    source = guess_source(p)
    digest = weights.file_checksum(p).partition(":")[2]
    out = weights.cache_dir() / f"vgg19-{source}-{digest[:16]}-normalised.npz"
    if not out.is_file():
        print(f"converting {p} ({source}) to {out}")
        weights.convert(source, p, out)
    return str(out)


def save_chunk(every: int | None, most: int = optimize.Config.chunk_size) -> int:
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


def _run_stylize(args: argparse.Namespace) -> int:

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
    if args.style_scale is not None and args.style_scale == 0:
        raise ConfigError("--style-scale must be positive")

    defaults = DEFAULTS["accelerator" if _on_accelerator() else "cpu"]
    size = args.size or defaults["size"]
    iterations = args.iterations or defaults["iterations"]
    config = optimize.Config(
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
        loop=args.loop,
        pooling=args.pooling,
        style_scale=args.style_scale,
        tv_weight=args.tv_weight,
        chunk_size=save_chunk(args.save_every),
    )
    content = img.load_image(content_path, size)
    style = img.load_image(style_path)
    params, meta = weights.load_weights(resolve_weights(args.weights or default_weights()))

    protect = (content_path, style_path)

    def save_intermediate(done: int, image: np.ndarray, _history: optimize.History) -> None:
        if args.save_every and done % args.save_every == 0 and done < iterations:
            img.save_image(_intermediate_path(output, done), image, protect=protect)

    start = time.perf_counter()
    result = optimize.stylize(
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxstyle",
        description="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"jaxstyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_stylize(sub)
    _add_figures(sub)
    _add_weights(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except JaxstyleError as e:
        sys.stderr.write(f"jaxstyle: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("jaxstyle: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
