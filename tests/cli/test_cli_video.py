"""``jaxstyle video`` end to end on a tiny clip: file and folder both ways, the refusals
(one line, exit 2), and an interrupted run resumed."""

from __future__ import annotations

import signal
import sys
from fractions import Fraction

import numpy as np
import pytest
from clips import pan
from conftest import TINY, write_weights
from PIL import Image

from jaxstyle import cli, read_clip, write_clip

pytest.importorskip("av", reason="the [video] extra is not installed")
pytest.importorskip("cv2", reason="the [video] extra is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("video")
    frames = pan(5, size=40)
    write_clip(d / "clip.mp4", frames, Fraction(12))
    write_clip(d / "frames", frames, Fraction(12))
    Image.fromarray((frames[0][::-1] * 255).astype(np.uint8)).save(d / "style.png")
    write_weights(d / "w.npz", TINY, source="random")
    return d


def _video(files, source, out, *extra):
    args = ["video", str(files / source), str(files / "style.png"), "-o", str(files / out)]
    args += ["--weights", str(files / "w.npz"), "--quiet", "--size", "32", "--iterations", "2"]
    try:
        return cli.main([*args, *extra])
    except SystemExit as e:  # argparse's own refusals
        return int(e.code)


@pytest.mark.parametrize(
    ("source", "out"), [("clip.mp4", "out"), ("frames", "out.mp4"), ("clip.mp4", "both.mp4")]
)
def test_video_end_to_end(files, capsys, source, out):
    assert _video(files, source, out, "--passes", "2", "--frames", "4") == 0
    got = read_clip(files / out)
    assert got.frames.shape == (4, 32, 32, 3)
    kept = source == "clip.mp4" and out.endswith(".mp4")  # a folder has no rate: 24 fps
    assert got.fps == (Fraction(12) if kept else Fraction(24))
    assert capsys.readouterr().err == ""
    assert not (files / f"{(files / out).stem}.video-state.npz").exists()


def test_video_single_pass_with_long_term_frames(files):
    assert _video(files, "clip.mp4", "scaled", "--temporal-frames", "1,2", "--frames", "3") == 0
    assert read_clip(files / "scaled").frames.shape[0] == 3


def test_video_with_scales(files):
    args = [
        "video",
        str(files / "clip.mp4"),
        str(files / "style.png"),
        "-o",
        str(files / "c2f.mp4"),
    ]
    args += [
        "--weights",
        str(files / "w.npz"),
        "--quiet",
        "--scales",
        "24,32",
        "--iterations",
        "2",
        "--frames",
        "3",
    ]
    assert cli.main(args) == 0
    assert read_clip(files / "c2f.mp4").frames.shape == (3, 32, 32, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--passes", "0"), "must be"),
        (("--temporal-frames", "0"), "positive whole numbers"),
        (("--blend", "2"), "blend must be in"),
        (("--start", "99"), "no frames from frame 99"),
    ],
)
def test_bad_video_flags_are_one_line(files, capsys, extra, message):
    assert _video(files, "clip.mp4", "bad.mp4", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unreadable_video_and_mixed_frames_are_one_line(files, capsys):
    (files / "broken.mp4").write_bytes(b"nope")
    assert _video(files, "broken.mp4", "x.mp4") == 2
    assert "cannot read" in capsys.readouterr().err
    mixed = files / "mixed"
    mixed.mkdir()
    Image.new("RGB", (8, 8)).save(mixed / "a.png")
    Image.new("RGB", (9, 8)).save(mixed / "b.png")
    assert _video(files, "mixed", "x.mp4") == 2
    assert "different sizes" in capsys.readouterr().err
    assert _video(files, "clip.mp4", "clip.mp4") == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err


def test_missing_extra_is_one_line(files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    assert _video(files, "clip.mp4", "x.mp4") == 2
    assert "pip install 'jaxstyle[video]'" in capsys.readouterr().err


def test_an_interrupted_video_writes_its_frames_and_resumes(files, capsys, monkeypatch):
    import jaxstyle.video.clip as clip_module

    real = (
        clip_module.stylize_video.__wrapped__
        if hasattr(clip_module.stylize_video, "__wrapped__")
        else None
    )
    assert real is None
    calls = []
    original = clip_module.Pass.window

    def stop_on_third(self, window, now):
        calls.append(window)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return original(self, window, now)

    monkeypatch.setattr(clip_module.Pass, "window", stop_on_third)
    assert _video(files, "clip.mp4", "stopped", "--frames", "5") == 130
    err = capsys.readouterr().err
    assert "SIGINT" in err and "--resume" in err
    assert read_clip(files / "stopped").frames.shape[0] == 3
    assert (files / "stopped.video-state.npz").exists()
    calls.clear()
    monkeypatch.setattr(clip_module.Pass, "window", original)
    assert _video(files, "clip.mp4", "stopped", "--frames", "5", "--resume") == 0
    assert read_clip(files / "stopped").frames.shape[0] == 5
    assert not (files / "stopped.video-state.npz").exists()


def test_masks_one_image_or_one_per_frame(files, capsys):
    """Two paintings by region: one mask image for every frame, a folder of per-frame masks."""
    left = np.zeros((40, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(files / "left.png")
    per_frame = files / "right_masks"
    per_frame.mkdir(exist_ok=True)
    for t in range(3):
        Image.fromarray(255 - left).save(per_frame / f"{t}.png")
    style2 = files / "style2.png"
    Image.fromarray((pan(1, size=40)[0] * 255).astype(np.uint8)).save(style2)
    styles = f"{files / 'style.png'},{style2}"
    args = ["video", str(files / "clip.mp4"), styles, "-o", str(files / "masked")]
    args += ["--weights", str(files / "w.npz"), "--quiet", "--size", "32", "--iterations", "2"]
    args += ["--frames", "3", "--masks", f"{files / 'left.png'},{per_frame}"]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert read_clip(files / "masked").frames.shape == (3, 32, 32, 3)
    few = files / "two_masks"
    few.mkdir(exist_ok=True)
    for t in range(2):
        Image.fromarray(left).save(few / f"{t}.png")
    args[-1] = f"{files / 'left.png'},{few}"
    assert cli.main(args) == 2
    assert "has 2 masks for 3 frames" in capsys.readouterr().err
