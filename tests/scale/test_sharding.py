"""Sharding over several devices: each check runs in a child with 8 simulated CPU devices.

The checks are in tests/multidevice.py (the rest of the suite keeps one device);
here, the one-device pieces of :mod:`jaxstyle.scale.sharding`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from multidevice import CHECKS

from jaxstyle.errors import ConfigError
from jaxstyle.scale import sharding

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def eight():
    """Every check of tests/multidevice.py, in one child with 8 CPU devices."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "multidevice.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.heavy
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_on_eight_devices(eight, check):
    assert "failed" not in eight[check], eight[check]


def test_one_device_is_no_placement():
    assert sharding.choose("batch", 16, 1, True) is None
    assert sharding.choose("spatial", 1, 4, True) == "spatial"
    with pytest.raises(ConfigError, match="devices must be between 1 and"):
        sharding.devices(1000)


def test_pad_items_repeats_the_last():
    a = jnp.arange(3.0)[:, None]
    assert sharding.pad_items(a, 4)[:, 0].tolist() == [0.0, 1.0, 2.0, 2.0]


@pytest.mark.heavy
def test_two_processes_agree_with_one(tmp_path):
    """Two local processes joined by jax.distributed run one sharded batch."""
    import socket

    from distributed import problem

    from jaxstyle import TORCHVISION, init_params, stylize

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    out = tmp_path / "images.npy"
    script = str(ROOT / "tests" / "distributed.py")
    procs = [
        subprocess.Popen(
            [sys.executable, script, port, "2", str(i), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in logs]
    content, style, configs = problem()
    params = init_params(jax.random.key(0), (8, 16, 16, 24, 24))
    one = stylize(content, style, params, TORCHVISION, configs, key=jax.random.key(1)).image
    np.testing.assert_allclose(np.load(out), one, atol=1e-5)
