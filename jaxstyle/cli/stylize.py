"""``jaxstyle stylize``: build a Config from the parsed flags (:mod:`.stylize_flags`), call
:func:`jaxstyle.stylize`, save."""

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
from jaxstyle.cli.args import EXIT_USAGE, paths, refuse_overwrite, run_defaults
from jaxstyle.cli.scale import preflight
from jaxstyle.errors import ConfigError
from jaxstyle.images import arrays, read, write
from jaxstyle.images.read import long_side_shape
from jaxstyle.model.vgg import widths_of
from jaxstyle.run.checkpoint import Checkpoint
from jaxstyle.run.history import History
from jaxstyle.run.multiscale import coarse_to_fine, stage_iterations
from jaxstyle.run.stylize import stylize
from jaxstyle.weights.resolve import resolve_weights
from jaxstyle.weights.store import load_weights


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


def config_from(args: argparse.Namespace, **fields: object) -> cfg.Config:
    """The :class:`~jaxstyle.config.Config` of the flags of :func:`~jaxstyle.cli.stylize_flags.add_look`."""
    return cfg.Config(
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        weighting=args.weighting,
        ratio=args.ratio,
        init="image" if getattr(args, "init_image", None) else args.init,
        optimizer=args.optimizer,
        linesearch=args.linesearch,
        precondition=args.precondition,
        history_size=args.history_size,
        precision=args.precision,
        convolution=args.convolution,
        pooling=args.pooling,
        style_scale=args.style_scale,
        tv_weight=args.tv_weight,
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
        **fields,  # type: ignore[arg-type]
    )


def run(args: argparse.Namespace) -> int:
    if (args.content is None) != (args.style is None):
        raise ConfigError("give both CONTENT and STYLE, or neither for the bundled pair")
    content_path = Path(args.content) if args.content else read.bundled("tubingen.jpg")
    style_paths = paths(args.style) if args.style else [read.bundled("starry_night.jpg")]
    if not style_paths:
        raise ConfigError("give at least one STYLE image")
    mask_paths, style_mask_paths = paths(args.masks), paths(args.style_masks)
    output = Path(args.output)
    icc = read.icc_profile(content_path) if content_path.is_file() else None
    out = {"bit_depth": args.bit_depth, "icc_profile": icc, "jpeg_quality": args.jpeg_quality}
    write.check_output(output, **out)  # bad output options fail before the run
    inputs = [content_path, *style_paths, *mask_paths, *style_mask_paths]
    if args.init_image:
        inputs.append(Path(args.init_image))
    refuse_overwrite(output, inputs, "input image")

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
    chunk = save_chunk(math.gcd(args.save_every or 0, args.checkpoint_every or 0) or None)
    config = config_from(args, iterations=stages[-1], chunk_size=chunk)
    hw = long_side_shape(read.image_size(content_path), size)  # before any image is resized
    run_plan = preflight(args, config, hw, styles=len(style_paths), masks=bool(mask_paths))
    if args.dry_run:
        return 0
    content = read.load_image(content_path, size)
    hw = content.shape[:2]
    styles = [read.load_image(p) for p in style_paths]
    masks = [read.load_mask(p, hw) for p in mask_paths] or None
    style_masks = [read.load_mask(p) for p in style_mask_paths] or None
    start_image = None
    if args.init_image:
        start_image = arrays.resize(jnp.asarray(read.load_image(args.init_image)), *hw)
    params, meta = load_weights(resolve_weights(args.weights))
    if run_plan.problem.widths != widths_of(params)[: len(run_plan.problem.widths)]:
        run_plan = None  # planned for VGG19's widths before the weights were read
    save = functools.partial(write.save_image, protect=tuple(inputs), **out)

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
        result = stylize(
            *run_args, config, callback=callback, checkpoint=keep, plan=run_plan, **common
        )
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
