"""The converted-weights file format: VGG19 params plus the metadata needed to use them.

Format (``.npz``, read with ``allow_pickle=False``, so a file can never run code):

* ``conv{b}_{i}/kernel``: float32 ``(3, 3, C_in, C_out)`` (HWIO, Flax's layout);
* ``conv{b}_{i}/bias``: float32 ``(C_out,)``;
* ``__meta__``: uint8 array holding UTF-8 JSON: ``format`` (``"jaxstyle-vgg19"``),
  ``version``, ``source``, ``checksum`` of the original file, ``preprocess``
  (:class:`~jaxstyle.model.preprocess.Preprocess` as a dict), ``normalised`` and ``info``
  (free-form, e.g. calibration statistics).

Files are written to a temporary name in the target directory and renamed into
place, so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxstyle.cache import atomic_write
from jaxstyle.errors import DAMAGED_NPZ, WeightsError
from jaxstyle.model.layers import CONV_LAYERS, VGG19_DEPTHS, held_layers
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, param_shapes

FORMAT = "jaxstyle-vgg19"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class WeightsMeta:
    """What a params file says about itself.

    Attributes:
        source: where the weights came from (``"keras"``, ``"torchvision"``,
            ``"gatys"``, ``"random"``, ...).
        preprocess: the input convention the weights were trained with.
        normalised: whether the activations were rescaled as in the paper.
        checksum: checksum of the original downloaded file, if any.
        info: free-form extra data (calibration statistics, notes).
    """

    source: str
    preprocess: Preprocess
    normalised: bool = False
    checksum: str | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "source": self.source,
                "checksum": self.checksum,
                "preprocess": self.preprocess.to_dict(),
                "normalised": self.normalised,
                "info": dict(self.info),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> WeightsMeta:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise WeightsError(f"not a {FORMAT} file (format {d.get('format')!r})")
        if int(d.get("version", 0)) > VERSION:
            raise WeightsError(
                f"file format version {d['version']} is newer than this jaxstyle reads ({VERSION})"
            )
        return cls(
            source=str(d["source"]),
            preprocess=Preprocess.from_dict(d["preprocess"]),
            normalised=bool(d["normalised"]),
            checksum=d.get("checksum"),
            info=d.get("info", {}),
        )


def _blocks_held(arrays: Mapping[str, Any]) -> int:
    """The deepest block with any layer in ``arrays`` (0 when none is)."""
    return max((int(name[4]) for name in CONV_LAYERS if name in arrays), default=0)


def widths_from_shapes(arrays: Mapping[str, Any]) -> tuple[int, ...]:
    """Block widths implied by ``{"conv1_2": {"kernel": ...}, ...}``, one per block held.

    Each block's width is the most common channel count among the shapes that
    carry it (its kernels' outputs, biases, and the next block's first input), so
    one mis-shaped layer is blamed itself rather than its well-shaped neighbours.
    """
    widths = []
    for b, depth in enumerate(VGG19_DEPTHS[: max(_blocks_held(arrays), 1)]):
        name = f"conv{b + 1}_{depth}"
        if name not in arrays or "kernel" not in arrays[name]:
            raise WeightsError(f"layer {name} is missing its kernel")
        votes: list[int] = []
        for i in range(depth):
            leaves = arrays.get(f"conv{b + 1}_{i + 1}", {})
            if np.ndim(leaves.get("kernel")) == 4:
                votes.append(int(np.shape(leaves["kernel"])[-1]))
            nxt = arrays.get(f"conv{b + 1}_{i + 2}" if i + 1 < depth else f"conv{b + 2}_1", {})
            if np.ndim(nxt.get("kernel")) == 4:
                votes.append(int(np.shape(nxt["kernel"])[-2]))
            if np.ndim(leaves.get("bias")) == 1:
                votes.append(int(np.shape(leaves["bias"])[0]))
        last = int(np.shape(arrays[name]["kernel"])[-1])
        # The most common width; a tie goes to the last conv's output width.
        widths.append(max(set(votes), key=lambda w: (votes.count(w), w == last)))
    return tuple(widths)


def check_params(params: Mapping[str, Mapping[str, Any]]) -> tuple[int, ...]:
    """Checks every layer's shape against the module; returns the block widths.

    The params may hold VGG19's first blocks only (1-5 of them, each whole): a
    lighter network, or a published file cut short. Every layer of each block up to
    the deepest one present must be there.

    Raises:
        WeightsError: naming the first missing or mis-shaped layer.
    """
    held = held_layers(max(_blocks_held(params), 1))
    missing = [name for name in held if name not in params]
    if missing:
        raise WeightsError(f"layer {missing[0]} is missing from the weights")
    widths = widths_from_shapes(params)
    expected = param_shapes(widths)
    for name in held:
        for leaf, shape in expected[name].items():
            if leaf not in params[name]:
                raise WeightsError(f"layer {name} has no {leaf}")
            got = tuple(np.shape(params[name][leaf]))
            if got != shape:
                raise WeightsError(f"layer {name} {leaf} has shape {got}, VGG19 needs {shape}")
            if not np.all(np.isfinite(np.asarray(params[name][leaf]))):
                raise WeightsError(f"layer {name} {leaf} holds NaN or infinite values")
    return widths


def save_weights(path: str | os.PathLike[str], params: Params, meta: WeightsMeta) -> None:
    """Writes ``params`` and ``meta`` to ``path`` (``.npz``) atomically."""
    held = held_layers(len(check_params(params)))
    arrays = {
        f"{layer}/{leaf}": np.asarray(value, np.float32)
        for layer in held
        for leaf, value in params[layer].items()
    }
    arrays["__meta__"] = np.frombuffer(meta.to_json().encode(), np.uint8)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    try:
        atomic_write(path, write, ".npz")
    except OSError as e:
        raise WeightsError(f"cannot write {path}: {e.strerror or e}") from None


def load_weights(path: str | os.PathLike[str]) -> tuple[Params, WeightsMeta]:
    """Loads a converted-weights file.

    Returns:
        ``(params, meta)``: params as a nested dict of float32 ``jax.Array``, one
        entry per convolution the file holds (all 16, or those of its first blocks:
        :func:`jaxstyle.model.vgg.blocks_of`).

    Raises:
        WeightsError: unreadable file, wrong format, or a missing/mis-shaped layer.

    Example:
        >>> params, meta = load_weights("weights/vgg19-keras-normalised.npz")  # doctest: +SKIP
        >>> params["conv1_1"]["kernel"].shape, meta.preprocess.channel_order  # doctest: +SKIP
        ((3, 3, 3, 64), 'BGR')
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        # Our own handle: np.load leaks its file when the zip directory is corrupt.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise WeightsError(f"{path} is not a jaxstyle weights file (no __meta__)")
            meta = WeightsMeta.from_json(bytes(data["__meta__"]).decode())
            raw: dict[str, dict[str, np.ndarray]] = {}
            for key in data.files:
                if key == "__meta__":
                    continue
                layer, _, leaf = key.partition("/")
                raw.setdefault(layer, {})[leaf] = data[key]
    except WeightsError:
        raise
    except DAMAGED_NPZ as e:
        raise WeightsError(f"cannot read weights file {path}: {e}") from None
    held = held_layers(len(check_params(raw)))
    params = {
        layer: {leaf: jnp.asarray(v, jnp.float32) for leaf, v in raw[layer].items()}
        for layer in held
    }
    return params, meta
