"""Clips in and out: video files through PyAV (FFmpeg), or folders of numbered frames.

A clip is ``(T, H, W, 3)`` float32 RGB in [0, 1] and its frame rate. Video files are
decoded and encoded by PyAV (the ``[video]`` extra; H.264 in an ``.mp4``, yuv420p, so
that any player plays it), with the source's audio copied packet by packet when
there is some and the container takes it. A folder holds one PNG per frame, read in
name order. Every output is written atomically (a temporary file or folder beside it,
renamed when complete); inputs are never overwritten.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.images.read import load_image, resize_long_side
from jaxstyle.images.write import save_image
from jaxstyle.video.estimate import EXTRA

#: Frame files a folder may hold.
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
#: The frame rate of a folder of frames, which has none of its own.
FOLDER_FPS = Fraction(24)


class Clip(NamedTuple):
    """Frames and their timing.

    Attributes:
        frames: ``(T, H, W, 3)`` float32 RGB in [0, 1].
        fps: frames per second.
        source: the video file the frames came from (its audio is copied), or ``None``.
        start: the index of the first frame in ``source``.
    """

    frames: np.ndarray
    fps: Fraction
    source: Path | None = None
    start: int = 0


def av() -> Any:
    """PyAV, or one line naming the extra that brings it."""
    try:
        import av as module
    except ImportError:
        raise ConfigError(f"reading and writing video needs PyAV: {EXTRA}") from None
    return module


def read_clip(
    path: str | os.PathLike[str], start: int = 0, frames: int | None = None, size: int | None = None
) -> Clip:
    """Frames ``start .. start + frames - 1`` of a video file or a folder of frames.

    ``size``: if given, each frame is resized so that its long side is ``size`` pixels
    (Lanczos, aspect kept, as :func:`jaxstyle.load_image`).

    Raises:
        ImageError: unreadable, empty, or frames of different sizes.
    """
    path = Path(path)
    if start < 0 or (frames is not None and frames < 1):
        raise ConfigError(f"start must be >= 0 and frames >= 1, got {start} and {frames}")
    stop = None if frames is None else start + frames
    if path.is_dir():
        names = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        images = [np.asarray(load_image(p)) for p in names[start:stop]]
        fps, source = FOLDER_FPS, None
    elif path.is_file():
        images, fps = _decode(path, start, stop)
        source = path
    else:
        raise ImageError(f"no such video file or folder: {path}")
    if not images:
        raise ImageError(f"{path} has no frames from frame {start} on")
    sizes = {a.shape for a in images}
    if len(sizes) > 1:
        shown = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(sizes))
        raise ImageError(f"the frames of {path} have different sizes: {shown}")
    if size is not None:
        images = [resize_long_side(a, size) for a in images]
    return Clip(np.stack(images).astype(np.float32), fps, source, start)


def _decode(path: Path, start: int, stop: int | None) -> tuple[list[np.ndarray], Fraction]:
    module = av()
    try:
        with module.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"{path} has no video stream")
            stream = container.streams.video[0]
            fps = Fraction(stream.average_rate or stream.guessed_rate or FOLDER_FPS)
            images = []
            for i, frame in enumerate(container.decode(stream)):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    images.append(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
    except module.FFmpegError as e:
        raise ImageError(f"cannot read {path} as a video: {e}") from None
    return images, fps


def write_clip(
    path: str | os.PathLike[str], frames: np.ndarray, fps: Fraction, audio: Clip | None = None
) -> None:
    """Writes ``(T, H, W, 3)`` frames in [0, 1] to a video file, or to a folder when ``path``
    has no video suffix (``frame_00000.png`` ...). ``audio``'s source's sound, from its
    ``start`` frame for the clip's length, is copied into a video file.

    Raises:
        ImageError: the file or folder cannot be written.
    """
    path = Path(path)
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ImageError(f"a clip's frames must have shape (T, H, W, 3), got {frames.shape}")
    if path.suffix:
        _encode(path, frames, fps, audio)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    old = path.parent / f"{tmp.name}.old"
    try:
        for i, frame in enumerate(frames):
            save_image(tmp / f"frame_{i:05d}.png", frame)
        if path.exists():  # the old folder kept until the new one is in place
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as e:
        raise ImageError(f"cannot write the frames to {path}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _encode(path: Path, frames: np.ndarray, fps: Fraction, audio: Clip | None) -> None:
    module = av()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"
    h, w = frames.shape[1:3]
    pixels = np.clip(frames * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if h % 2 or w % 2:  # yuv420p halves the chroma: an odd side loses its last row or column
        pixels = pixels[:, : h - h % 2, : w - w % 2]
    try:
        with module.open(str(tmp), "w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height = pixels.shape[2], pixels.shape[1]
            stream.pix_fmt = "yuv420p"
            sound = _audio_input(audio, module)
            copied = None if sound is None else out.add_stream_from_template(sound[1])
            for a in pixels:
                for packet in stream.encode(module.VideoFrame.from_ndarray(a, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if sound is not None:
                _copy_audio(sound, copied, out, audio, len(frames))
        os.replace(tmp, path)
    except (OSError, module.FFmpegError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"cannot write {path}: {e}") from None


def _audio_input(audio: Clip | None, module: Any) -> tuple[Any, Any] | None:
    if audio is None or audio.source is None:
        return None
    container = module.open(str(audio.source))
    if not container.streams.audio:
        container.close()
        return None
    return container, container.streams.audio[0]


def _copy_audio(sound: tuple[Any, Any], copied: Any, out: Any, clip: Clip, count: int) -> None:
    """Copies the audio packets of the clip's time span (whole packets, no re-encoding)."""
    container, stream = sound
    begin = float(clip.start / clip.fps)
    end = float((clip.start + count) / clip.fps)
    try:
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            t = float(packet.pts * stream.time_base)
            if t < begin or t >= end:
                continue
            shift = int(begin / stream.time_base)
            packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
            packet.stream = copied
            out.mux(packet)
    finally:
        container.close()
