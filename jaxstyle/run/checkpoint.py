"""Checkpoints: a run's whole state in one ``.npz`` file, to resume it exactly.

A checkpoint holds what a solver continues from after a completed iteration (the
iterate with its loss and gradient, the L-BFGS memory or the optax/jaxopt/Adam state,
each item's lowest-loss iterate, the restart flags), the records of the iterations
done and their count, and a fingerprint of the problem: every setting that shapes it
and a sha256 of every input (content, styles, masks, start, PRNG keys, weights).
Resuming needs the same fingerprint. ``iterations`` may change (grow), and so may
the settings in :data:`RESUMABLE`, which place or chunk the same computation.

The file is a plain ``numpy.savez`` archive (no pickles), written atomically
(:func:`jaxstyle.cache.atomic_write`); a damaged one fails the zip's CRC on load and
is refused, never used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxstyle.cache import atomic_write
from jaxstyle.config import Config
from jaxstyle.errors import DAMAGED_NPZ, CheckpointError
from jaxstyle.solve.transfer import host

#: Config fields a resumed run may change: the iteration count, and settings that
#: only chunk, place or rematerialise the same computation (float32 round-off apart).
RESUMABLE = ("iterations", "chunk_size", "devices", "shard", "memory", "remat", "tiles")
_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where a run keeps its checkpoint, how often, and whether it starts from it.

    With ``lbfgs`` the L-BFGS memory is most of the file, ``2 x history x H x W x 3``
    float32: 30 MB at 128x96 with history 100 (0.07 s to write on 2 CPU cores), 630 MB at
    512x512; Adam's state is three images.

    Attributes:
        path: the ``.npz`` file (the CLI's is ``<output stem>.checkpoint.npz``).
        every: also write it every this many iterations (``None``: only when a
            signal stops the run, and at the end of a resumed run).
        resume: continue from the checkpoint at ``path`` (it must exist and match).

    Example:
        >>> Checkpoint("out.checkpoint.npz", every=50).every
        50
    """

    path: str | os.PathLike[str]
    every: int | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.every is not None and (isinstance(self.every, bool) or int(self.every) < 1):
            raise CheckpointError(f"checkpoint every must be a positive count, got {self.every}")


def digest(tree: Any) -> str:
    """sha256 of a pytree's arrays: their shapes, dtypes and bytes (PRNG keys by their data).

    Example:
        >>> digest(np.zeros(2)) == digest([np.zeros(2)]), digest(np.zeros(2)) == digest(np.ones(2))
        (True, False)
    """
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        a = np.ascontiguousarray(host(leaf))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(
    configs: list[Config], inputs: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, str]:
    """What a run's checkpoint must match: ``name -> value or sha256``.

    Args:
        configs: the run's resolved configs; every field outside :data:`RESUMABLE`.
        inputs: named pytrees of arrays (images, masks, keys, params), hashed.
        settings: other named values that shape the problem, by their ``repr``.
    """
    out = {
        f.name: repr([getattr(c, f.name) for c in configs])
        for f in dataclasses.fields(Config)
        if f.name not in RESUMABLE
    }
    out.update({name: digest(tree) for name, tree in inputs.items()})
    out.update({name: repr(value) for name, value in settings.items()})
    return out


def save(
    checkpoint: Checkpoint, fingerprint: Mapping[str, str], carry: Any, records: Any, done: int
) -> None:
    """Writes ``carry`` (a solver's state), ``records`` and ``done`` to ``checkpoint.path``.

    Raises:
        CheckpointError: the file cannot be written (nothing is left half-written).
    """
    arrays: dict[str, np.ndarray] = {}
    for name, tree in (("carry", carry), ("records", records)):
        for i, leaf in enumerate(jax.tree.leaves(host(tree))):
            arrays[f"{name}/{i:05d}"] = np.asarray(leaf)
    meta = {"version": _VERSION, "done": int(done), "fingerprint": dict(fingerprint)}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    try:
        atomic_write(checkpoint.path, write)
    except OSError as e:
        raise CheckpointError(f"cannot write the checkpoint {checkpoint.path}: {e}") from None


def load(
    checkpoint: Checkpoint,
    fingerprint: Mapping[str, str],
    carry_like: Any,
    records_like: Any,
    iterations: int,
) -> tuple[Any, Any, int]:
    """The ``(carry, records, done)`` saved at ``checkpoint.path``, as numpy pytrees.

    ``carry_like`` and ``records_like`` give the structure (and the carry's shapes and
    dtypes) the run expects.

    Raises:
        CheckpointError: no such file, a damaged one, another run's (the differing
            settings named), or more iterations done than ``iterations``.
    """
    path = Path(checkpoint.path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} to resume from")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            stored = {k: np.array(f[k]) for k in f.files if k != "meta"}
        saved, done = dict(meta["fingerprint"]), int(meta["done"])
        if meta["version"] != _VERSION or done < 0:
            raise ValueError(f"version {meta['version']}, {done} iterations done")
    except DAMAGED_NPZ as e:
        raise CheckpointError(f"cannot read the checkpoint {path} (damaged?): {e}") from None
    changed = sorted(
        k for k in fingerprint.keys() | saved.keys() if fingerprint.get(k) != saved.get(k)
    )
    if changed:
        raise CheckpointError(
            f"the checkpoint {path} is another run's (changed: {', '.join(changed)}); "
            "a resumed run may change only its iterations"
        )
    if done > iterations:
        raise CheckpointError(
            f"the checkpoint {path} has {done} iterations done, more than the {iterations} asked"
        )
    carry = _unflatten(stored, "carry", carry_like, path)
    records = _unflatten(stored, "records", records_like, path, rows=done)
    return carry, records, done


def _unflatten(
    stored: dict[str, np.ndarray], name: str, like: Any, path: Path, rows: int | None = None
) -> Any:
    """``like``'s structure from the stored leaves; their shapes and dtypes as ``like``'s,
    or, for records (``rows`` given), ``rows`` of them each."""
    leaves, treedef = jax.tree.flatten(like)
    got = [stored.get(f"{name}/{i:05d}") for i in range(len(leaves))]
    extra = sum(k.startswith(f"{name}/") for k in stored) - len(leaves)
    bad = extra != 0 or any(a is None for a in got)
    if not bad and rows is None:
        bad = any(
            a.shape != tuple(b.shape) or a.dtype != np.dtype(b.dtype)
            for a, b in zip(got, leaves, strict=True)
        )
    elif not bad:
        bad = any(a.ndim < 1 or a.shape[0] != rows for a in got)
    if bad:
        raise CheckpointError(f"the checkpoint {path} does not fit this run's solver state")
    return jax.tree.unflatten(treedef, got)
