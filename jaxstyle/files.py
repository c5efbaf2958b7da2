"""Atomic file writes: outputs and caches never exist half-written under their final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[str], object], suffix: str = ""
) -> None:
    """Calls ``write(tmp_path)`` then renames the result onto ``path``.

    The temporary file lives beside ``path`` (same filesystem, so the rename is
    atomic) and is removed if ``write`` fails; ``path`` is untouched until success.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
