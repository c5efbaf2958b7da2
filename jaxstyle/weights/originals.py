"""Decoding the published checkpoints (HDF5, PyTorch) in a child process.

HDF5 and PyTorch's unpickler are large C/C++ readers: a damaged file can crash the
process that reads it or keep it busy. :func:`read` therefore decodes in a fresh
Python process (this file run as a script, which imports only numpy and h5py or
torch, never jaxstyle or JAX) under a timeout, and hands back plain arrays through a
``numpy.savez`` file (no pickles). Whatever goes wrong in the child (a named
problem, an exception, a crash, a hang) reaches the caller as one
:class:`~jaxstyle.errors.WeightsError` line.

What is read:

* ``h5``: the Keras layout. The root attribute ``layer_names`` lists the layer
  groups; each group's ``weight_names`` attribute lists its datasets (followed, never
  guessed). Gives ``{"block1_conv1": {"W0": array, ...}}`` in ``weight_names`` order.
* ``pth``: a state dict read with ``torch.load(weights_only=True)`` (no code runs);
  its tensors as float32 arrays under their keys.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

#: Seconds a child may take; the real files (80 MB HDF5, 548 MB .pth) take a few.
TIMEOUT = 300.0
_BAD = 3  # the child's exit code for a file it understood to be bad (message on stderr)
# Runs this file as the child's main module with neither the working directory nor this
# package's folder on sys.path (a module there must not shadow numpy, h5py or torch),
# while the user's site-packages and PYTHONPATH stay (``python -I`` would drop them).
_CHILD = "import runpy, sys; sys.path.pop(0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class _Bad(Exception):
    """A file the child read and found wrong: its message is the caller's error."""


def _decode(name: Any) -> str:
    return name.decode("utf-8") if isinstance(name, bytes | np.bytes_) else str(name)


def _read_h5(path: str) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            # Full-model saves keep the weights under "model_weights".
            root = (
                f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
            )
            if "layer_names" not in root.attrs:
                raise _Bad(f"{path} is not a Keras weights file (no layer_names attribute)")
            for raw_layer in root.attrs["layer_names"]:
                layer = _decode(raw_layer)
                if not layer.startswith("block") or "_conv" not in layer:
                    continue
                if layer not in root:
                    raise _Bad(f"layer {layer} is listed but has no group")
                group = root[layer]
                for i, raw_weight in enumerate(group.attrs.get("weight_names", [])):
                    weight = _decode(raw_weight)
                    if weight not in group:
                        raise _Bad(f"layer {layer}: dataset {weight!r} is missing")
                    out[f"{layer}/W{i}"] = np.asarray(group[weight], np.float32)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise _Bad(f"cannot read Keras weights file {path}: {e}") from None
    return out


def _read_pth(path: str) -> dict[str, np.ndarray]:
    import torch

    # Any exception here ends the child with its traceback: the caller's one line.
    sd = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(sd, dict):
        raise _Bad(f"{path} does not hold a state dict (got {type(sd).__name__})")
    return {str(k): v.detach().cpu().float().numpy() for k, v in sd.items() if torch.is_tensor(v)}


def _child(kind: str, path: str, out: str) -> int:
    try:
        arrays = _read_h5(path) if kind == "h5" else _read_pth(path)
    except _Bad as e:
        sys.stderr.write(" ".join(str(e).split()) + "\n")
        return _BAD
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return 0


def read(
    kind: str, path: str | os.PathLike[str], timeout: float = TIMEOUT
) -> dict[str, np.ndarray]:
    """The arrays of an original checkpoint, decoded in a child process.

    Args:
        kind: ``"h5"`` (Keras) or ``"pth"`` (a PyTorch state dict).
        path: the file.
        timeout: seconds before the child is killed.

    Returns:
        ``name -> float32 array`` (see the module docstring for the names).

    Raises:
        WeightsError: the file is missing or bad, or its decoder crashed or hung.
    """
    from jaxstyle.errors import WeightsError

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="jaxstyle-decode-") as tmp:
        out = Path(tmp) / "arrays.npz"
        cmd = [sys.executable, "-c", _CHILD, __file__, kind, str(path), str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WeightsError(
                f"reading {path} took over {timeout:g} s; the file is probably damaged"
            ) from None
        lines = done.stderr.strip().splitlines()
        if done.returncode == _BAD:
            raise WeightsError(lines[-1] if lines else f"cannot read {path}")
        if done.returncode < 0:
            why = signal.Signals(-done.returncode).name
            raise WeightsError(f"cannot read {path}: its decoder crashed ({why})")
        if done.returncode != 0:
            why = lines[-1] if lines else f"exit code {done.returncode}"
            raise WeightsError(f"cannot read {path}: its decoder failed ({why})")
        with np.load(out, allow_pickle=False) as f:
            return {k: np.array(f[k]) for k in f.files}


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:4]))
