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


def test_gpu_script_stages_parse(tmp_path):
    """gpu.sh's stages, as it would run them: the race at the paper's 512 px, pytest, 4096 px."""
    proc = _gpu_script(tmp_path, DRY_RUN="1", REQUIRE_GPU="0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = [
        shlex.split(line.removeprefix("gpu.sh: would run: "))
        for line in proc.stdout.splitlines()
        if line.startswith("gpu.sh: would run: ")
    ]
    assert [r[1:3] for r in runs[:3]] == [["-m", "benchmarks.race"]] * 2 + [["-m", "pytest"]]
    highres, remat = runs[3], runs[4]
    assert highres[0] == "env" and highres[3:5] == ["-m", "benchmarks.highres"]
    assert highres[highres.index("--sizes") + 1] == "4096"
    assert remat[1:3] == ["-m", "benchmarks.race"] and "remat=True" in remat
    speed, race = runs[0], runs[1]
    assert speed[speed.index("--sizes") + 1] == "256,512"
    assert race[race.index("--seeds") + 1] == "0-7"
    assert race[race.index("--inits") + 1] == "noise,content"
    jsons = {Path(r[r.index("--json") + 1]) for r in runs[:2]}
    assert len(jsons) == 2 and {j.parent for j in jsons} == {tmp_path}


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
