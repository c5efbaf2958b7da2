"""The benchmark runs end to end (``--quick``), so it cannot rot; it asserts no speed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import jaxstyle
from benchmarks import compare, memory_plan

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the repository root, with its own jaxstyle home."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "JAXSTYLE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compare_quick(tmp_path):
    out = tmp_path / "q.json"
    proc = _run(
        tmp_path,
        "benchmarks.compare",
        "--quick",
        "--memory-variant",
        "history10:history_size=10",
        "--evaluation-variant",
        "winograd:convolution=winograd",
        "--compile-variant",
        "history10:history_size=10",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {"machine", "weights", "evaluation", "quality", "compile", "memory"} <= set(report)
    assert report["machine"]["cores"] and report["machine"]["versions"]["torch"]
    for row in report["evaluation"]:
        # The two frameworks compute the same loss and gradient (float32), Winograd too.
        assert row["loss_rel_diff"] < 1e-3 and row["grad_rel_diff"] < 1e-3, row
        variant = row["variants"]["winograd"]
        assert variant["loss_rel_diff"] < 1e-3 and variant["grad_rel_diff"] < 1e-3, row
    assert [q["seed"] for q in report["quality"]] == [0, 1]
    for quality in report["quality"]:
        assert len(quality["torch"]["curve"]["loss"]) >= quality["iterations"]
        for variant in quality["jax"].values():
            assert len(variant["curve"]["loss"]) == quality["iterations"]
    (summary,) = report["quality_summary"]  # one size, one variant, over both seeds
    assert summary["seeds"] == [0, 1] and len(summary["ratios"]) == 2
    for run in (report["compile"], report["compile"]["variants"]["history10"]):
        for key in ("cold", "warm"):
            assert "error" not in run[key], report["compile"]
            first = run["first_call"][key]
            # Each of stylize's programs is compiled (or loaded) once per run.
            assert first["programs"]["probe"]["count"] == 1, first
    memory = report["memory"]
    for entry in (memory["jax"], memory["torch"], memory["variants"]["jax history10"]):
        assert all("peak_bytes" in r for r in entry["runs"]), memory
    assert memory["variants"]["jax history10"]["config"] == {"history_size": 10}
    # Saved after every section; the last save is the whole run's.
    assert report["done"][0] == "evaluation 32" and report["done"][-1] == "all", report["done"]
    assert [d for d in report["done"] if d.startswith("quality 32 seed 0")] == [
        "quality 32 seed 0: torch, 0 jax",
        "quality 32 seed 0: torch, 1 jax",
    ]
    table = out.with_suffix(".md").read_text()
    assert table.startswith("# jaxstyle vs PyTorch") and "Partial" not in table
    assert out.with_suffix(".png").stat().st_size > 1000
    # A run stopped inside seed 1's quality section: its table says so and sums up
    # the variants over the runs that have them.
    stopped = {**report, "done": report["done"][:4]}
    stopped["quality"] = [report["quality"][0], {**report["quality"][1], "jax": {}}]
    assert "**Partial: the run stopped after quality 32 seed 1: torch, 0 jax**" in (
        compare.markdown(stopped)
    )
    (summary,) = compare.quality_summary(stopped["quality"])
    assert summary["seeds"] == [0], summary
    # A variant that raised is a row saying so, and counts as not reached.
    (name,) = report["quality"][0]["jax"]
    failed = {**report["quality"][0], "jax": {name: {"config": {}, "error": "XlaRuntimeError: x"}}}
    assert f"| {name} `{{}}` | error: XlaRuntimeError: x |" in compare.markdown(
        {**report, "quality": [failed]}
    )
    (summary,) = compare.quality_summary([failed, report["quality"][1]])
    assert summary["ratios"][0] is None and summary["reached"] <= 1, summary
    # ... or inside the memory section, after jaxstyle's default and before torch.
    assert report["done"][-4:-1] == [
        "memory: jax",
        "memory: jax, torch",
        "memory: jax, torch, jax history10",
    ]
    cut = {"sizes": memory["sizes"], "jax": memory["jax"], "variants": {}}
    table = compare.markdown(
        {**report, "memory": cut, "done": [*report["done"][:-4], "memory: jax"]}
    )
    rows = table.split("## Peak memory")[1].splitlines()
    assert [r.split(" | ")[0] for r in rows if r.startswith("| j") or r.startswith("| t")] == [
        "| jax"
    ], rows


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
    """benchmarks/gpu.sh's stages, as it would run them, are valid compare/memory_plan
    command lines with valid jaxstyle configs (checked here: the script runs only where
    a GPU is lent)."""
    proc = _gpu_script(tmp_path, DRY_RUN="1", REQUIRE_GPU="0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = [
        shlex.split(line.removeprefix("gpu.sh: would run: "))
        for line in proc.stdout.splitlines()
        if line.startswith("gpu.sh: would run: ")
    ]
    modules = [r[1] for r in runs]
    assert modules == ["benchmarks.compare"] * 4 + ["benchmarks.memory_plan"], modules
    jsons = []
    for run in runs[:4]:
        a = compare.parser().parse_args(run[2:])
        assert set(filter(None, a.skip.split(","))) < set(compare.SECTIONS), a.skip
        for text in [*(a.variant or []), *(a.memory_variant or []), *(a.compile_variant or [])]:
            _, overrides = compare.parse_variant(text)
            jaxstyle.Config(**overrides)  # raises on a bad field or value
        jsons.append(Path(a.json))
    plan = memory_plan.parser().parse_args(runs[4][2:])
    assert plan.sizes == "512,4096" and plan.history == "10,100"
    jsons.append(Path(plan.json))
    # Every stage writes its own report into RESULTS.
    assert len(set(jsons)) == 5 and {j.parent for j in jsons} == {tmp_path}, jsons
    speed = compare.parser().parse_args(runs[0][2:])
    assert (speed.sizes, speed.quality_sizes, speed.iterations) == ("256,512", "512", 500)
    big = compare.parser().parse_args(runs[2][2:])
    assert big.sizes == "4096" and big.memory_variant[0] == "history10:history_size=10"


def test_xla_flags_quick(tmp_path):
    out = tmp_path / "f.json"
    proc = _run(tmp_path, "benchmarks.xla_flags", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["setting"] for r in report["runs"]] == ["on", "off"]
    flags = {r["setting"]: r["xla_flags"] for r in report["runs"]}
    # Each setting really reached its process; the parent's own XLA_FLAGS did not leak.
    assert "ynn_fusion_type" in flags["on"] and "ynn_fusion_type" not in flags["off"]
    assert all(r["grad_rel_diff"] < 1e-3 for r in report["runs"])
    assert out.with_suffix(".md").read_text().startswith("# jaxstyle's XLA:CPU flags")


def test_memory_plan_quick(tmp_path):
    out = tmp_path / "m.json"
    proc = _run(
        tmp_path,
        "benchmarks.memory_plan",
        "--sizes",
        "32",
        "--precisions",
        "float32",
        "--history",
        "0,3",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (plan,) = json.loads(out.read_text())["plans"]
    # The gradient needs at least relu1_1 (32 x 32 x 64 float32) while it runs.
    assert plan["probe_program"]["temporaries"] >= 32 * 32 * 64 * 4
    assert plan["plan_bytes"]["3"] - plan["plan_bytes"]["0"] == 2 * 3 * 32 * 32 * 3 * 4
    assert out.with_suffix(".md").read_text().startswith("# Memory plan")


def test_gram_vjp_quick(tmp_path):
    out = tmp_path / "g.json"
    proc = _run(tmp_path, "benchmarks.gram_vjp", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = json.loads(out.read_text())["runs"]
    # Both programs compute the same gradient; the hand-written VJP needs one product
    # per style layer where autodiff's needs two, and transposes only (C, C) matrices.
    assert run["grad_rel_diff"] < 1e-5, run
    assert run["dots"]["autodiff"] - run["dots"]["vjp"] == 5, run
    moved = run["transposed_elements"]
    assert moved["vjp"] < moved["autodiff"], run
    assert out.with_suffix(".md").read_text().startswith("# Gram VJP")


def test_conv_layers_quick(tmp_path):
    out = tmp_path / "c.json"
    proc = _run(tmp_path, "benchmarks.conv_layers", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    # conv1_1 .. conv5_1: the 13 convolutions the loss reaches, at the shapes of a 32 px input.
    assert [r["layer"] for r in report["layers"]][::4] == [
        "conv1_1",
        "conv3_1",
        "conv4_1",
        "conv5_1",
    ]
    assert [(r["side"], r["in"], r["out"]) for r in report["layers"]][-1] == (2, 512, 512)
    assert "ynn_fusion_type" in report["machine"]["flags"]["XLA_FLAGS"]
    assert report["winograd_layers"] == [
        "conv3_1",
        "conv3_2",
        "conv3_3",
        "conv3_4",
        "conv4_1",
        "conv4_2",
        "conv4_3",
        "conv4_4",
        "conv5_1",
    ]
    assert all(r["winograd_forward"] > 0 for r in report["layers"])
    # F(4x4) for blocks 2-5: conv2_1 .. conv5_1.
    assert report["winograd4_layers"] == [r["layer"] for r in report["layers"]][2:]
    assert all(r["winograd4_input_grad"] > 0 for r in report["layers"])
    assert out.with_suffix(".md").read_text().startswith("# VGG19's convolutions")
