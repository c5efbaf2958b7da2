"""Clips in and out: video files (PyAV) and folders of frames, audio, and the refusals."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from clips import pan
from PIL import Image

from jaxstyle import read_clip, write_clip
from jaxstyle.errors import ConfigError, ImageError

av = pytest.importorskip("av", reason="the [video] extra is not installed")


def _with_audio(path, frames: np.ndarray, fps: int = 12) -> None:
    """A video file with a 440 Hz AAC track, written by PyAV for the test."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        for a in (frames * 255).astype(np.uint8):
            for p in video.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(p)
        for p in video.encode():
            out.mux(p)
        seconds = len(frames) / fps
        t = np.arange(int(44100 * seconds)) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 44100
        for p in audio.encode(frame):
            out.mux(p)
        for p in audio.encode():
            out.mux(p)


@pytest.mark.parametrize("suffix", [".mp4", ""])
def test_a_clip_round_trips_through_a_file_and_a_folder(tmp_path, suffix):
    frames = pan(6, size=32)
    path = tmp_path / f"out{suffix}"
    write_clip(path, frames, Fraction(12))
    clip = read_clip(path)
    assert clip.frames.shape == frames.shape and clip.frames.dtype == np.float32
    tolerance = 0.06 if suffix else 1 / 255  # H.264 is lossy, PNG is not
    assert np.abs(clip.frames - frames).mean() < tolerance
    assert clip.fps == (Fraction(12) if suffix else Fraction(24))
    part = read_clip(path, start=2, frames=3)
    assert part.frames.shape[0] == 3 and part.start == 2
    np.testing.assert_allclose(part.frames, clip.frames[2:5])


def test_audio_is_copied_for_the_frames_taken(tmp_path):
    source = tmp_path / "in.mp4"
    _with_audio(source, pan(24, size=32))
    clip = read_clip(source, start=6, frames=12)
    write_clip(tmp_path / "out.mp4", clip.frames, clip.fps, audio=clip)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert len(c.streams.audio) == 1
        seconds = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert 0.8 < seconds <= 1.1  # 12 frames at 12 fps, whole packets


def test_an_odd_sized_clip_loses_its_last_row_and_column_in_a_video_file(tmp_path):
    frames = pan(3, size=33)
    write_clip(tmp_path / "odd.mp4", frames, Fraction(24))
    assert read_clip(tmp_path / "odd.mp4").frames.shape == (3, 32, 32, 3)


def test_unreadable_missing_and_mixed_inputs_are_one_line(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ImageError, match="cannot read"):
        read_clip(bad)
    with pytest.raises(ImageError, match="no such video"):
        read_clip(tmp_path / "missing.mp4")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    Image.new("RGB", (9, 8)).save(folder / "b.png")
    with pytest.raises(ImageError, match="different sizes: 8x8, 9x8"):
        read_clip(folder)
    with pytest.raises(ImageError, match="no frames"):
        read_clip(folder, start=5)


def test_a_failed_write_leaves_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "frames"
    write_clip(out, pan(2, size=16), Fraction(24))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ImageError, match="must have shape"):
        write_clip(out, np.zeros((2, 16, 16, 2), np.float32), Fraction(24))
    calls = []

    def full_disk(path, image, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        Image.fromarray((np.asarray(image) * 255).astype(np.uint8)).save(path)

    monkeypatch.setattr("jaxstyle.video.io.save_image", full_disk)
    with pytest.raises(ImageError, match="No space left"):
        write_clip(out, pan(3, size=16), Fraction(24))
    assert sorted(p.name for p in out.iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_without_pyav_one_line_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"pip install 'jaxstyle\[video\]'"):
        read_clip(tmp_path / "x.mp4")
