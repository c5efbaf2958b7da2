"""``jaxstyle video``: a clip painted without flicker (Ruder et al. 2016), a thin layer over
:func:`jaxstyle.stylize_video`."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import options
from jaxstyle.cli.args import (
    counts,
    nonneg_float,
    paths,
    positive_int,
    refuse_overwrite,
    run_defaults,
    whole,
)
from jaxstyle.cli.scale import preflight
from jaxstyle.cli.stylize import config_from
from jaxstyle.cli.stylize_flags import add_look
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.images import arrays, read
from jaxstyle.run.multiscale import stage_iterations
from jaxstyle.video.clip import VideoResult, stylize_video
from jaxstyle.video.estimate import Flows
from jaxstyle.video.io import Clip, read_clip, write_clip
from jaxstyle.video.settings import FLOWS, Video
from jaxstyle.weights.resolve import resolve_weights
from jaxstyle.weights.store import load_weights


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="paint a video in the style of a painting, without flicker",
        description="Ruder, Dosovitskiy & Brox (2016): every frame a Gatys et al. "
        "stylisation, held to its neighbours along the optical flow.",
    )
    p.add_argument("input", help="video file (.mp4, ...) or folder of frames")
    p.add_argument("style", help="style painting, or several as STYLE1,STYLE2,...")
    p.add_argument("-o", "--output", required=True, help="video file (.mp4) or folder of PNGs")
    p.add_argument("--start", type=whole, default=0, help="first frame to take (default 0)")
    p.add_argument("--frames", type=positive_int, default=None, help="frames to take (default all)")
    p.add_argument(
        "--size",
        type=positive_int,
        help="long side in pixels (default: 512 on GPU/TPU, 128 on CPU)",
    )
    p.add_argument(
        "--iterations",
        type=counts,
        help="iterations per frame and pass (default: 500 on GPU/TPU, 100 on CPU); with --scales one or one per scale",
    )
    p.add_argument(
        "--scales",
        type=counts,
        help="coarse to fine: long sides, e.g. 128,256 (each starts from the last, upsampled)",
    )
    p.add_argument(
        "--passes",
        type=positive_int,
        default=1,
        help="1: frames in order (default); N: multi-pass, every frame of a pass batched",
    )
    p.add_argument(
        "--temporal-weight",
        type=nonneg_float,
        default=None,
        help=f"weight of the temporal loss (default {options.DEFAULT_TEMPORAL_WEIGHT:g}; 0: frames independent)",
    )
    p.add_argument(
        "--temporal-frames",
        default="1",
        help="earlier frames the temporal loss looks at, e.g. 1,2,4 (default 1)",
    )
    p.add_argument(
        "--blend",
        type=nonneg_float,
        default=Video.blend,
        help=f"multi-pass start's blend delta in [0, 1] (default {Video.blend})",
    )
    p.add_argument(
        "--flow",
        choices=FLOWS,
        default=Video.flow,
        help="optical flow: OpenCV's DIS (default) or Farneback",
    )
    p.add_argument(
        "--window",
        type=positive_int,
        default=None,
        help="frames per batched call (default: as many as fit)",
    )
    p.add_argument(
        "--masks",
        help="M1,M2,...: one content mask per style: an image (every frame) or a folder of frames",
    )
    p.add_argument("--style-masks", help="S1.png,...: where each style's statistics are taken from")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the state beside OUTPUT (same inputs and settings)",
    )
    add_look(p)
    p.set_defaults(run=run)


def state_path(output: Path) -> Path:
    """Where a clip's progress is kept: beside the output."""
    return output.with_name(f"{output.stem or output.name}.video-state.npz")


def _mask(path: Path, hw: tuple[int, int], start: int, count: int) -> np.ndarray:
    """One mask for every frame (an image), or one per frame (a folder or video)."""
    if path.is_dir() or path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
        grey = read_clip(path, start, count).frames.mean(axis=-1)
        if len(grey) != count:
            raise ImageError(f"{path} has {len(grey)} masks for {count} frames")
        return np.asarray(arrays.resize(jnp.asarray(grey[..., None]), *hw))[..., 0]
    return read.load_mask(path, hw)


def run(args: argparse.Namespace) -> int:
    source, output = Path(args.input), Path(args.output)
    style_paths = paths(args.style)
    if not style_paths:
        raise ConfigError("give at least one STYLE image")
    inputs = [source, *style_paths, *paths(args.masks), *paths(args.style_masks)]
    refuse_overwrite(output, inputs)
    if args.scales and args.size:
        raise ConfigError("--size and --scales: the last scale is the output size")
    if args.scales and args.resume:
        raise ConfigError("--resume works without --scales only")
    defaults = run_defaults()
    sizes = args.scales or [args.size or defaults["size"]]
    stages = stage_iterations(args.iterations or defaults["iterations"], len(sizes))
    video = Video(args.passes, args.temporal_frames, args.blend, args.flow, args.window)
    clip = read_clip(source, args.start, args.frames)
    hw = read.long_side_shape(clip.frames.shape[1:3], sizes[-1])
    config = config_from(args, iterations=stages[-1], temporal_weight=args.temporal_weight)
    preflight(args, config, hw, styles=len(style_paths), masks=bool(args.masks))
    if args.dry_run:
        return 0
    styles = [read.load_image(p) for p in style_paths]
    style = styles if len(styles) > 1 else styles[0]
    style_masks = [read.load_mask(p) for p in paths(args.style_masks)] or None
    params, meta = load_weights(resolve_weights(args.weights))
    begin, result, state = time.perf_counter(), None, state_path(output)
    for size, iterations in zip(sizes, stages, strict=True):
        frames = np.stack([read.resize_long_side(f, size) for f in clip.frames])
        at = frames.shape[1:3]
        masks = [_mask(p, at, args.start, len(frames)) for p in paths(args.masks)] or None
        start = (
            None if result is None else np.asarray(arrays.resize(jnp.asarray(result.frames), *at))
        )
        last = size == sizes[-1]
        result = stylize_video(
            frames,
            style,
            params,
            meta.preprocess,
            dataclasses.replace(config, iterations=iterations),
            video=video,
            key=jax.random.key(args.seed),
            masks=masks,
            style_masks=style_masks,
            flows=Flows(frames, video.flow),
            init_frames=start,
            progress=not args.quiet,
            state_path=state if last else None,
            resume=state if args.resume else None,
            interrupt=(signal.SIGINT, signal.SIGTERM),
        )
        if result.stopped:
            break
    return _finish(args, clip, output, result, state, time.perf_counter() - begin)


def _finish(
    args: argparse.Namespace,
    clip: Clip,
    output: Path,
    result: VideoResult,
    state: Path,
    seconds: float,
) -> int:
    """Writes what was done, and says so."""
    if len(result.frames):
        write_clip(output, result.frames, clip.fps, audio=clip)
    t, (h, w) = len(result.frames), result.frames.shape[1:3]
    if result.stopped:
        sys.stderr.write(
            f"jaxstyle: {result.stopped} after {_passes(result.passes)} complete: wrote {t} "
            f"frames to {output} ({w}x{h}) and the run's state to {state}; add --resume "
            "to the same command to continue\n"
        )
        return 128 + signal.Signals[result.stopped].value
    state.unlink(missing_ok=True)
    if not args.quiet:
        print(
            f"wrote {output} ({t} frames, {w}x{h}, {_passes(result.passes)}, {seconds:.1f} s on {jax.default_backend()})"
        )
    return 0


def _passes(n: int) -> str:
    return f"{n} pass" if n == 1 else f"{n} passes"
