"""Files that outlive a run: the cache directory, checksums, atomic writes, and XLA's setup.

Nothing here runs at import. :func:`setup` is the one explicit call that turns on
JAX's persistent compilation cache and jaxstyle's XLA:CPU flags; the ``jaxstyle``
command makes it, and so do the notebooks.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from jaxstyle.errors import WeightsError

#: XLA:CPU flags :func:`setup` adds: XLA's own convolutions instead of YNNPACK's
#: (jaxlib >= 0.10), the faster for VGG19's loss and gradient (``benchmarks/``).
CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def cache_dir() -> Path:
    """Where downloads and converted files live: ``$JAXSTYLE_HOME`` or ``~/.cache/jaxstyle``."""
    return Path(os.environ.get("JAXSTYLE_HOME") or Path.home() / ".cache" / "jaxstyle")


def default_weights_path(source: str = "keras") -> Path:
    """The converted, normalised params file for ``source`` in the cache."""
    return cache_dir() / f"vgg19-{source}-normalised.npz"


def file_checksum(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """``"sha256:<hex>"`` (or another hashlib algorithm) of a file, read in chunks."""
    h = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e}") from None
    return f"{algorithm}:{h.hexdigest()}"


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[str], object], suffix: str = ""
) -> None:
    """Calls ``write(tmp_path)``, flushes it to disk, then renames it onto ``path``.

    The temporary file lives beside ``path`` (same filesystem, so the rename is
    atomic), is created with the permissions of an ordinary new file (the umask's),
    and is removed if anything fails (a full disk, a read-only or vanished
    directory, an interrupt); ``path`` is untouched until success.

    Raises:
        OSError: the write, the flush or the rename failed (callers name the file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _seal_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def seal(path: str | os.PathLike[str]) -> None:
    """Writes ``path``'s checksum beside it (``<name>.sha256``), for :func:`sealed`."""
    path = Path(path)
    digest = file_checksum(path)
    atomic_write(_seal_path(path), lambda tmp: Path(tmp).write_text(digest + "\n"))


def sealed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` exists and matches the checksum :func:`seal` wrote beside it.

    A cached file without its seal (a crash between the two writes, an older
    jaxstyle) or with another checksum (a damaged disk) is not to be used.
    """
    path = Path(path)
    try:
        want = _seal_path(path).read_text().strip()
    except OSError:
        return False
    return path.is_file() and file_checksum(path) == want


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Turns JAX's persistent compilation cache on at ``path`` (default ``cache_dir()/xla``).

    Example:
        >>> enable_compilation_cache("/tmp/jaxstyle-xla")  # doctest: +SKIP
        PosixPath('/tmp/jaxstyle-xla')
    """
    import jax

    where = Path(path) if path is not None else cache_dir() / "xla"
    jax.config.update("jax_compilation_cache_dir", str(where))
    # JAX caches only programs that took >= 1 s to compile; the many small ones
    # (targets, init, image transforms) add up to seconds per process, so keep all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return where


def _flag_name(flag: str) -> str:
    return flag.lstrip("-").split("=", 1)[0]


def add_cpu_flags() -> tuple[str, ...]:
    """Appends :data:`CPU_FLAGS` to ``XLA_FLAGS``, except flags already chosen there.

    XLA reads ``XLA_FLAGS`` once, when the first computation starts its backend: call
    this before that. GPU and TPU programs are unaffected.

    Returns:
        The flags added.
    """
    current = os.environ.get("XLA_FLAGS", "")
    chosen = {_flag_name(f) for f in current.split()}
    added = tuple(f for f in CPU_FLAGS if _flag_name(f) not in chosen)
    if added:
        os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added


def setup(*, compilation_cache: bool = True, cpu_flags: bool = True) -> None:
    """What the ``jaxstyle`` command does first: the compilation cache and the CPU flags.

    The cache is left alone when a directory is already set
    (``jax_compilation_cache_dir`` or ``JAX_COMPILATION_CACHE_DIR``); the flags need
    jaxlib 0.10 or newer and must come before the first JAX computation.

    Example:
        >>> import jaxstyle
        >>> jaxstyle.setup()  # doctest: +SKIP
    """
    import jax
    import jaxlib

    if cpu_flags and tuple(int(p) for p in jaxlib.__version__.split(".")[:2]) >= (0, 10):
        add_cpu_flags()
    if compilation_cache and not jax.config.jax_compilation_cache_dir:
        enable_compilation_cache()
