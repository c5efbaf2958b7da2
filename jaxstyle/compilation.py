"""JAX's persistent compilation cache, on by default for jaxstyle users.

Compiling the VGG19 loss and the L-BFGS loop takes seconds to tens of seconds; the
persistent cache makes every later process that runs the same shapes skip it. It is
turned on when :mod:`jaxstyle` is imported, under ``$JAXSTYLE_HOME/xla`` (default
``~/.cache/jaxstyle/xla``), unless

* ``JAXSTYLE_COMPILATION_CACHE=0`` (or ``false``/``off``/``no``) is set, or
* the user already chose a cache directory (``jax_compilation_cache_dir`` or
  ``JAX_COMPILATION_CACHE_DIR``), which is then left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

from jaxstyle.weights import cache_dir

_OFF = ("0", "false", "off", "no")


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Turns JAX's persistent compilation cache on at ``path``.

    Args:
        path: cache directory; default ``cache_dir() / "xla"``.

    Returns:
        The directory in use.

    Example:
        >>> enable_compilation_cache("/tmp/jaxstyle-xla")  # doctest: +SKIP
        PosixPath('/tmp/jaxstyle-xla')
    """
    where = Path(path) if path is not None else cache_dir() / "xla"
    jax.config.update("jax_compilation_cache_dir", str(where))
    # JAX caches only programs that took >= 1 s to compile; the many small ones
    # (targets, init, image transforms) add up to seconds per process, so keep all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return where


def enable_by_default() -> Path | None:
    """What ``import jaxstyle`` does: the cache on, unless opted out or set up already."""
    if os.environ.get("JAXSTYLE_COMPILATION_CACHE", "1").strip().lower() in _OFF:
        return None
    if jax.config.jax_compilation_cache_dir:
        return None
    return enable_compilation_cache()
