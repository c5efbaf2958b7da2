"""Files and XLA setup: nothing happens at import; setup() does what the CLI needs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest

from jaxstyle.cache import CPU_FLAGS, atomic_write

ROOT = Path(__file__).resolve().parents[1]
_NEW_JAXLIB = tuple(int(p) for p in jax.lib.__version__.split(".")[:2]) >= (0, 10)

_PROBE = textwrap.dedent(
    """
    import os, sys
    import jax
    before = (os.environ.get("XLA_FLAGS"), jax.config.jax_compilation_cache_dir)
    import jaxstyle
    after = (os.environ.get("XLA_FLAGS"), jax.config.jax_compilation_cache_dir)
    print(before == after, after)
    if sys.argv[1] == "setup":
        jaxstyle.setup()
        print(os.environ.get("XLA_FLAGS"), jax.config.jax_compilation_cache_dir)
    """
)


def _probe(tmp_path, what: str, **env: str) -> list[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("JAX", "XLA_FLAGS"))}
    full.update(JAXSTYLE_HOME=str(tmp_path), JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **env)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, what], env=full, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()


def test_import_changes_no_flags_and_no_cache(tmp_path):
    assert _probe(tmp_path, "import") == ["True (None, None)"]


@pytest.mark.skipif(not _NEW_JAXLIB, reason="the CPU flags apply from jaxlib 0.10")
def test_setup_adds_the_flags_and_the_cache(tmp_path):
    assert _probe(tmp_path, "setup")[1] == f"{CPU_FLAGS[0]} {tmp_path / 'xla'}"
    # The user's own choices win.
    mine = "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"
    got = _probe(tmp_path, "setup", XLA_FLAGS=mine, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "c"))
    assert got[1] == f"{mine} {tmp_path / 'c'}"


def test_the_cli_sets_up_before_it_computes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX", "XLA_FLAGS"))}
    env.update(JAXSTYLE_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    code = (
        "import jax; from jaxstyle.cli import main; "
        f"rc = main(['weights', 'info', {str(tmp_path / 'none.npz')!r}]); "
        "print(rc, jax.config.jax_compilation_cache_dir)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["2", str(tmp_path / "xla")], out.stderr


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    atomic_write(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "new"
