"""The legacy torch.save reader against torch.load(weights_only=True), and what it refuses."""

from __future__ import annotations

import collections
import io
import os

import numpy as np
import pytest
import torch
from pastiche_files import save_legacy

from jaxstyle.errors import WeightsError
from jaxstyle.weights import torchfile


def _tensors():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 5, 6, generator=g)
    return {
        "float32": base,
        "float64": base.double(),
        "float16": base.half(),
        "uint8": (base * 40).to(torch.uint8),
        "int8": (base * 40).to(torch.int8),
        "int16": (base * 400).to(torch.int16),
        "int32": (base * 4e4).to(torch.int32),
        "int64": (base * 4e6).to(torch.int64),
        "bool": base > 0,
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "transposed": base.permute(2, 0, 1),  # strides of a view, shared storage
        "sliced": base[1:3, ::2, 4],  # an offset into the same storage
    }


def _equal(got: dict[str, np.ndarray], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)
    for key, t in want.items():
        a = t.numpy()
        assert got[key].dtype == a.dtype and got[key].shape == a.shape, key
        np.testing.assert_array_equal(got[key], a, err_msg=key)


@pytest.mark.parametrize("container", ["dict", "ordered", "state_dict", "nested"])
def test_equals_torch_load(tmp_path, container):
    if container == "state_dict":  # an OrderedDict with _metadata (a BUILD opcode)
        obj = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).state_dict()
    elif container == "nested":
        obj = {"a": _tensors(), "b": {"c": torch.ones(2)}}
    else:
        obj = _tensors() if container == "dict" else collections.OrderedDict(_tensors())
    path = tmp_path / "t.bin"
    save_legacy(obj, path)
    got = torchfile.read(path)
    loaded = torch.load(path, weights_only=True)
    if container == "nested":
        want = {f"a.{k}": v for k, v in loaded["a"].items()} | {"b.c": loaded["b"]["c"]}
    else:
        want = dict(loaded)
    _equal(got, want)
    with open(path, "rb") as f:  # a file object reads the same
        _equal(torchfile.read(io.BytesIO(f.read()), "t.bin"), want)


def test_equals_torch_load_on_pastiche_weights(pastiche_bin):
    _equal(torchfile.read(pastiche_bin), torch.load(pastiche_bin, weights_only=True))


class _Runs:
    """A pickle that would run ``os.system`` when unpickled by pickle itself."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _refused(path, want: str) -> None:
    with pytest.raises(WeightsError) as e:
        torchfile.read(path)
    assert "\n" not in str(e.value) and want in str(e.value), str(e.value)


@pytest.mark.parametrize(
    ("what", "want"),
    [
        ("code", "the global posix.system"),
        ("module", "the global torch.nn.modules.linear.Linear"),
        ("list", "a list where a dict of tensors belongs"),
        ("zip", "no legacy torch.save magic number"),
        ("truncated", "cut short"),
        ("text", "no legacy torch.save magic number"),
    ],
)
def test_refuses_in_one_line_and_runs_nothing(tmp_path, what, want):
    path, marker = tmp_path / "t.bin", tmp_path / "ran"
    if what == "code":
        save_legacy({"w": torch.ones(2), "x": _Runs(str(marker))}, path)
    elif what == "module":
        save_legacy(torch.nn.Linear(2, 2), path)
    elif what == "list":
        save_legacy([torch.ones(2)], path)
    elif what == "zip":
        torch.save({"w": torch.ones(2)}, path)
    elif what == "truncated":
        save_legacy({"w": torch.ones(1000)}, path)
        path.write_bytes(path.read_bytes()[:-100])
    else:
        path.write_text("not a pickle")
    _refused(path, want)
    assert not marker.exists()


def test_refuses_a_tensor_past_its_storage(tmp_path):
    """A tensor whose size or stride reaches past its storage (a forged file) is refused
    before any array is made."""
    path = tmp_path / "t.bin"
    save_legacy({"w": torch.ones(6)}, path)
    data = path.read_bytes()
    # The size tuple of the one tensor: BININT1 6 then TUPLE1; make it 60.
    at = data.index(b"K\x06\x85")
    path.write_bytes(data[:at] + b"K\x3c\x85" + data[at + 3 :])
    _refused(path, "past the end of its storage")


@pytest.mark.parametrize(
    ("forgery", "want"),
    [
        ("offset only", "a tensor rebuilt from 2 arguments, not 4 or more"),
        ("stride False", "a tensor with a malformed storage, offset, size or stride"),
    ],
)
def test_refuses_a_tensor_rebuilt_from_malformed_arguments(tmp_path, forgery, want):
    """Arguments of the tensor rebuild that the random fuzz profile found raising
    TypeError: refused in one line."""
    path = tmp_path / "t.bin"
    save_legacy({"w": torch.ones(6)}, path)
    data = path.read_bytes()
    # After the storage: offset 0, size (6,), stride (1,), False, OrderedDict().
    at = data.index(b"K\x00K\x06\x85")
    if forgery == "offset only":
        end = data.index(b")R", at) + 2
        end += 2 if data[end : end + 1] == b"q" else 0  # its memo slot
        forged = data[:at] + b"K\x00" + data[end:]
    else:
        stride = data.index(b"K\x01\x85", at)
        forged = data[:stride] + b"\x89" + data[stride + 3 :]
    path.write_bytes(forged)
    _refused(path, want)
