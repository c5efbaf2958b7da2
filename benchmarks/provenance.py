"""Where and when a benchmark ran: machine, versions, flags, commit, load, for every table."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _git(where: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _proc(path: str, key: str) -> str:
    """A field of /proc/cpuinfo or /proc/meminfo ("unknown" elsewhere)."""
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(key)), "unknown")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def measured_on(env: dict[str, Any], when: str | None = None) -> str:
    """Who measured a table, from :func:`environment`: machine, ``when`` (default: the
    date), commit and jax version, e.g. ``"Xeon, 2 cores, 23.4 GiB, 2026-12-04, commit
    63c7813 (dirty); jax 0.7.2"``."""
    dirty = " (dirty)" if env.get("jaxstyle_dirty") else ""
    return (
        f"{env.get('cpu')}, {env.get('cores')} cores, {env.get('memory_gib')} GiB, "
        f"{when or str(env.get('date'))[:10]}, commit {env.get('jaxstyle_commit')}{dirty}; "
        f"jax {env.get('versions', {}).get('jax')}"
    )


def environment(jaxstyle_dir: Path, jax_side: bool) -> dict[str, Any]:
    """Versions, machine, flags and the commit of the jaxstyle this process imported."""
    mem = _proc("/proc/meminfo", "MemTotal").split()
    status = _git(jaxstyle_dir, "status", "--porcelain", "--", ".")
    env: dict[str, Any] = {
        "date": utc_now(),
        "cpu": _proc("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem[0]) / 2**20, 1) if mem and mem[0].isdigit() else None,
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in ("jax", "jaxlib", "torch", "numpy")},
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jaxstyle_dir": str(jaxstyle_dir),
        "jaxstyle_commit": _git(jaxstyle_dir, "rev-parse", "--short", "HEAD"),
        "jaxstyle_dirty": None if status == "unknown" else status != "",
        "bench_commit": _git(Path(__file__).parent, "rev-parse", "--short", "HEAD"),
    }
    if jax_side:
        import jax

        dev = jax.devices()[0]
        env.update(backend=jax.default_backend(), device=getattr(dev, "device_kind", str(dev)))
        return {**env, "compilation_cache": jax.config.jax_compilation_cache_dir or None}
    import torch

    gpu = torch.cuda.is_available()
    env.update(backend="cuda" if gpu else "cpu", torch_threads=torch.get_num_threads())
    return {**env, "device": torch.cuda.get_device_name(0) if gpu else "cpu"}
