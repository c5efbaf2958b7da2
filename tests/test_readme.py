"""The README's Python examples run as written, on slim random weights and tiny sizes.

Only three things are changed, and each must be found (so that an edited example
cannot silently run at full size): the image size, the iteration count, and the
default weights, which ``$JAXSTYLE_WEIGHTS`` points at a file written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SLIM, write_weights

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
SIZE, ITERATIONS = 32, 2
SHRINK = {"size=256": f"size={SIZE}", "iterations=300": f"iterations={ITERATIONS}"}


def _shrunk(block: str) -> str:
    for full, tiny in SHRINK.items():
        block = block.replace(full, tiny)
    return block


def test_every_change_finds_its_text():
    assert len(BLOCKS) == 4, "README's Python examples changed: update test_readme.py"
    joined = "".join(BLOCKS)
    assert all(full in joined for full in SHRINK), SHRINK
    assert "js.load_weights(js.resolve_weights())" in BLOCKS[0]


def test_python_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = write_weights(tmp_path / "vgg19-keras-normalised.npz", SLIM, source="random")
    monkeypatch.setenv("JAXSTYLE_WEIGHTS", str(weights))  # what resolve_weights() takes first
    scope: dict = {}
    exec(compile(_shrunk(BLOCKS[0]), "README.md (Python API)", "exec"), scope)
    content = scope["content"]
    h, w = content.shape[:2]
    assert max(h, w) == SIZE and (tmp_path / "out.png").is_file()
    assert scope["result"].image.shape == (h, w, 3)
    assert scope["result"].history.total.shape == (ITERATIONS,)
    assert scope["result"].history.style["relu3_1"].shape == (ITERATIONS,)

    # The batch example ends on the expression its comment describes.
    *body, last = _shrunk(BLOCKS[1]).rstrip().splitlines()
    exec(compile("\n".join(body), "README.md (batch)", "exec"), scope)
    expression, comment = last.split("#")
    assert comment.strip() == "(4, H, W, 3), (4, 300)"
    assert eval(expression, scope) == ((4, h, w, 3), (4, ITERATIONS))

    # The controls example: two paintings blended, then one per masked region.
    exec(compile(_shrunk(BLOCKS[2]), "README.md (controls)", "exec"), scope)
    assert scope["out"].image.shape == scope["regions"].image.shape == (h, w, 3)
    assert scope["regions"].history.total.shape == (ITERATIONS,)


def test_video_example_runs(tmp_path, monkeypatch):
    """The video example, on a tiny clip written here as the clip.mp4 it reads."""
    pytest.importorskip("av", reason="the [video] extra is not installed")
    pytest.importorskip("cv2", reason="the [video] extra is not installed")
    from fractions import Fraction

    from clips import pan

    import jaxstyle as js

    monkeypatch.chdir(tmp_path)
    js.write_clip("clip.mp4", pan(4, size=48), Fraction(12))
    weights = write_weights(tmp_path / "w.npz", SLIM, source="random")
    params, meta = js.load_weights(weights)
    scope = {"js": js, "params": params, "meta": meta, "style": pan(1, size=40)[0]}
    exec(compile(_shrunk(BLOCKS[3]), "README.md (video)", "exec"), scope)
    assert scope["out"].frames.shape == (4, SIZE, SIZE, 3) and scope["out"].passes == 3
    assert js.read_clip("out.mp4").frames.shape == (4, SIZE, SIZE, 3)
