"""Files in the exact layout of the published Keras VGG19 weights, from numpy arrays.

No jaxstyle code: the tests and ``benchmarks/weighting.py`` write real-layout files
with it and then read them through jaxstyle's own converters.
"""

from __future__ import annotations

import h5py
import numpy as np


def write_keras_h5(path, raw, style="new", drop=None, reshape=None, blocks=5):
    """A Keras ``save_weights`` HDF5 file in the layout of the published VGG19 ``notop`` one.

    Args:
        raw: ``{"conv1_1": (HWIO kernel, bias), ...}`` numpy arrays.
        style: ``"old"`` (``block1_conv1_W_1:0`` datasets) or ``"new"``
            (``block1_conv1/kernel:0``).
        drop: a conv whose group lists no weights.
        reshape: a conv whose kernel loses its last output channel.
        blocks: how many of VGG19's blocks the file holds.
    """
    names = []
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5" if style == "old" else b"2.2.4"
        names.append(b"input_1")
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for b, depth in enumerate((2, 2, 4, 4, 4)[:blocks], start=1):
            for i in range(1, depth + 1):
                layer = f"block{b}_conv{i}"
                names.append(layer.encode())
                g = f.create_group(layer)
                name = f"conv{b}_{i}"
                if name == drop:
                    g.attrs["weight_names"] = np.array([], dtype="S1")
                    continue
                kernel, bias = raw[name]
                if name == reshape:
                    kernel = kernel[:, :, :, :-1]
                if style == "old":
                    wn = [f"{layer}_W_1:0", f"{layer}_b_1:0"]
                else:
                    wn = [f"{layer}/kernel:0", f"{layer}/bias:0"]
                g.attrs["weight_names"] = np.array([n.encode() for n in wn])
                g.create_dataset(wn[0], data=kernel)
                g.create_dataset(wn[1], data=bias)
            names.append(f"block{b}_pool".encode())
            f.create_group(f"block{b}_pool").attrs["weight_names"] = np.array([], dtype="S1")
        f.attrs["layer_names"] = np.array(names)


def read_keras_npz(path):
    """``blockB_convI/kernel`` and ``/bias`` arrays (Keras names) as ``{"convB_I": (k, b)}``."""
    with np.load(path) as data:
        groups = sorted({k.split("/")[0] for k in data.files})
        return {f"conv{g[5]}_{g[-1]}": (data[f"{g}/kernel"], data[f"{g}/bias"]) for g in groups}


def convert_real(raw, directory):
    """The raw arrays written as Keras' ``.h5`` and converted by ``jaxstyle.weights.convert.convert``."""
    from jaxstyle.weights.convert import convert

    blocks = max(int(name[4]) for name in raw)
    write_keras_h5(directory / "vgg19_notop.h5", raw, "old", blocks=blocks)
    convert("keras", directory / "vgg19_notop.h5", directory / "real.npz")
    return directory / "real.npz"
