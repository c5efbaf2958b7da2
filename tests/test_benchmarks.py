"""The benchmarks run end to end (``--quick``), so they cannot rot; they assert no speed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(tmp_path: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.<module> args`` from the repository, with its own cache."""
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        env={**os.environ, "JAXSTYLE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.heavy
def test_race_quick(tmp_path):
    """Fresh, alternated worker processes; both frameworks start from the same image."""
    out = tmp_path / "race.json"
    proc = _benchmark(tmp_path, "race", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {r["framework"] for r in report["speed"]} == {"jax", "torch"}
    assert all(r["seconds_per_iteration"] > 0 for r in report["speed"])
    assert [e["seed"] for e in report["race"]] == [0, 1]
    assert all(e["same_start"] for e in report["race"])
    assert "Time to torch's loss" in out.with_suffix(".md").read_text()


@pytest.mark.heavy
def test_video_quick(tmp_path):
    """benchmarks/video.py on the known pan: every variant runs and is measured."""
    pytest.importorskip("cv2", reason="the [video] extra is not installed")
    from conftest import TINY, write_weights

    weights, out = write_weights(tmp_path / "w.npz", TINY, source="random"), tmp_path / "v.json"
    args = ["--clips", "pan", "--frames", "3", "--size", "32", "--iterations", "1"]
    args += ["--passes", "2", "--weights", str(weights), "--json", str(out)]
    proc = _benchmark(tmp_path, "video", *args, "--markdown", str(tmp_path / "v.md"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["variant"] == "independent frames" and len(rows) == 5
    assert all(r["exact flow"] >= 0 and r["seconds_per_frame"] > 0 for r in rows)
    assert "| independent frames |" in (tmp_path / "v.md").read_text()


def _gpu_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    env = {"INSTALL": "0", "PYTHON": sys.executable, "RESULTS": str(tmp_path), **env}
    return subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks the no-GPU refusal")
def test_gpu_script_stops_without_a_gpu(tmp_path):
    proc = _gpu_script(tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        "gpu.sh: no GPU for both (jax: cpu, torch cuda: False); REQUIRE_GPU=0 runs it anyway"
    ]
    assert list(tmp_path.iterdir()) == []  # nothing measured, nothing written


def _would_run(proc: subprocess.CompletedProcess[str]) -> list[list[str]]:
    prefix = "gpu.sh: would run: "
    return [
        shlex.split(ln.removeprefix(prefix))
        for ln in proc.stdout.splitlines()
        if ln.startswith(prefix)
    ]


def test_gpu_script_stages_parse(tmp_path):
    """gpu.sh's stages, as it would run them: speed, 4096², 8K, remat, the race, video, pytest."""
    proc = _gpu_script(tmp_path, DRY_RUN="1", REQUIRE_GPU="0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    speed, highres, highres8k, remat, race, video, tests = _would_run(proc)
    assert video[1:3] == ["-m", "benchmarks.video"] and video[video.index("--size") + 1] == "512"
    for r in (speed, remat, race):
        assert r[1:3] == ["-m", "benchmarks.race"] and r[r.index("--sizes") + 1] == "512"
    assert "remat=True" in remat
    assert race[race.index("--seeds") + 1] == "0-7"
    assert race[race.index("--inits") + 1] == "noise,content"
    for r, size in ((highres, "4096"), (highres8k, "7680")):
        assert r[0] == "env" and r[1].startswith("XLA_PYTHON_CLIENT_MEM_FRACTION=")
        assert r[3:5] == ["-m", "benchmarks.highres"] and r[r.index("--sizes") + 1] == size
        assert r[r.index("--limit-gib") + 1] == "0"  # CUDA needs its address space
    assert "--square" in highres and highres8k[highres8k.index("--aspect") + 1] == "16:9"
    assert tests[:2] == ["env", "XLA_PYTHON_CLIENT_PREALLOCATE=false"] and "pytest" in tests
    runs = (speed, highres, highres8k, remat, race, video)
    jsons = {Path(r[r.index("--json") + 1]) for r in runs}
    assert len(jsons) == 6 and {j.parent for j in jsons} == {tmp_path}


def test_gpu_script_runs_the_stages_asked_for(tmp_path):
    env = {"DRY_RUN": "1", "REQUIRE_GPU": "0", "STAGES": "tests,speed", "OLD_CODE": "old"}
    proc = _gpu_script(tmp_path, **env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    speed, tests = _would_run(proc)  # in gpu.sh's order
    assert "benchmarks.race" in speed and "pytest" in tests
    assert speed[speed.index("--old-code") + 1] == "old"  # the default against older code


@pytest.mark.heavy
def test_tiling_quick(tmp_path):
    """Strip counts alternated in fresh processes; the table has each count's ratio."""
    out, weights = tmp_path / "tiling.json", tmp_path / "w.npz"
    args = ["--sizes", "64", "--tiles", "0,2", "--rounds", "2", "--iterations", "1"]
    args += ["--weights", str(weights), "--json", str(out), "--markdown", str(tmp_path / "t.md")]
    proc = _benchmark(tmp_path, "tiling", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["tiles"] for r in report["runs"]] == [0, 2, 2, 0]  # rotated each round
    assert [(r["tiles"], r["runs"]) for r in report["summary"]] == [(0, 2), (2, 2)]
    assert report["summary"][0]["ratio"] == 1.0 and report["summary"][1]["ratio"] > 0
    assert "| 64² | 2 |" in (tmp_path / "t.md").read_text()


def test_highres_table_has_the_device_peak_and_cap():
    from benchmarks.highres import markdown

    gpu = {"backend": "gpu", "device": "NVIDIA H200"}
    run = {"framework": "jax", "setting": "memory=auto", "size": 7680, "shape": [4320, 7680]}
    run |= {"peak_rss_kib": 2**20, "device_peak_bytes": 60 * 2**30, "env": gpu}
    run |= {"device_bytes_limit": 80 * 10**9, "plan_gib": 68.6}
    env = {"cpu": "x", "versions": {"jax": "0", "torch": "0"}}
    text = markdown({"env": env, "iterations": 2, "aspect": "16:9", "runs": [run], "slopes": []})
    assert text.startswith("# Peak memory against image size (gpu: NVIDIA H200)")
    assert "16:9 crops" in text and "jax's device limit 74.5 GiB." in text
    assert "| 7680x4320 | 33177600 | 1.00 | 60.00 | 68.60 |" in text


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("jax-lbfgs", True),
        ("jax-lbfgs-none", True),
        ("jax-lbfgs@none", True),
        ("jax-lbfgs-strong-wolfe@spectral", True),
        ("jax-lbfgs@fourier", False),
        ("torch@none", False),
        ("jax-sgd", False),
    ],
)
def test_racer_names(name, ok):
    from benchmarks.race import racer

    assert racer(name) is ok


def test_race_objective_is_jaxstyles_default():
    """Both racers minimise the default weighting's objective: the worker's ratios (kept
    apart so an older jaxstyle gets the same objective) are jaxstyle's defaults."""
    from benchmarks.objective import RATIOS
    from jaxstyle.options import DEFAULT_RATIOS

    assert RATIOS == DEFAULT_RATIOS
