"""How XLA compiles jaxstyle's programs: the persistent cache and the CPU flags.

Both are set when :mod:`jaxstyle` is imported, each with an opt-out.

The persistent compilation cache:

Compiling the VGG19 loss and the L-BFGS loop takes seconds to tens of seconds; the
persistent cache makes every later process that runs the same shapes skip it. It is
turned on when :mod:`jaxstyle` is imported, under ``$JAXSTYLE_HOME/xla`` (default
``~/.cache/jaxstyle/xla``), unless

* ``JAXSTYLE_COMPILATION_CACHE=0`` (or ``false``/``off``/``no``) is set, or
* the user already chose a cache directory (``jax_compilation_cache_dir`` or
  ``JAX_COMPILATION_CACHE_DIR``), which is then left as it is.

The XLA:CPU flags (:data:`CPU_FLAGS`): since jaxlib 0.10 XLA:CPU hands convolutions
to YNNPACK by default. On the machine the benchmarks ran on (2-core AMD EPYC, AVX2, no
AVX-512) XLA's own Eigen convolutions were faster for the VGG19 loss and gradient: one
evaluation took 1.07x torch's time with the flag against 1.31x without at 128 px, and
1.13x against 1.15x at 256 px (within noise), alternated in fresh processes
(``benchmarks/results/cpu_xla_flags.md``). So ``import jaxstyle`` appends
``--xla_cpu_experimental_ynn_fusion_type=`` (empty: YNNPACK fuses nothing) to
``XLA_FLAGS``, unless

* ``JAXSTYLE_XLA_FLAGS=0`` (or ``false``/``off``/``no``) is set,
* ``XLA_FLAGS`` already sets that flag (your choice wins),
* jaxlib is older than 0.10 (an unknown flag would abort XLA), or
* a JAX backend is already running (XLA has read its flags; import jaxstyle first).

It changes only the CPU backend; GPU and TPU programs are unaffected.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jaxlib

from jaxstyle.weights import cache_dir

_OFF = ("0", "false", "off", "no")

#: XLA:CPU flags ``import jaxstyle`` adds (see the module docstring).
CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


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


def _flag_name(flag: str) -> str:
    return flag.lstrip("-").split("=", 1)[0]


def cpu_flags_by_default() -> tuple[str, ...]:
    """What ``import jaxstyle`` does to ``XLA_FLAGS``: adds :data:`CPU_FLAGS`.

    Returns:
        The flags added (empty when opted out, already chosen, or too late).

    Example:
        >>> import os
        >>> "--xla_cpu_experimental_ynn_fusion_type" in os.environ.get("XLA_FLAGS", "")  # doctest: +SKIP
        True
    """
    from jax._src import xla_bridge

    if os.environ.get("JAXSTYLE_XLA_FLAGS", "1").strip().lower() in _OFF:
        return ()
    if tuple(int(p) for p in jaxlib.__version__.split(".")[:2]) < (0, 10):
        return ()
    if xla_bridge.backends_are_initialized():
        return ()
    current = os.environ.get("XLA_FLAGS", "")
    chosen = {_flag_name(f) for f in current.split()}
    added = tuple(f for f in CPU_FLAGS if _flag_name(f) not in chosen)
    if added:
        os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added
