"""Errors a user can cause and fix: the CLI turns each into one line and exit code 2."""

from __future__ import annotations

import zipfile
import zlib

#: What numpy's ``.npz`` reader raises on a damaged file: a bad zip directory, an
#: unsupported compression method or zip version (``NotImplementedError``), a broken
#: deflate stream, a bad ``.npy`` header, a missing key.
DAMAGED_NPZ: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)


class JaxstyleError(Exception):
    """Base class of the errors caused by bad input (files, sizes, layer names).

    Its message is always one line: a line break in it (from a file name, say) reads
    as ``\\n``.
    """

    def __str__(self) -> str:
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ImageError(JaxstyleError, ValueError):
    """An image file is missing, unreadable, empty, or cannot be written."""


class WeightsError(JaxstyleError, ValueError):
    """A weights file is missing, corrupt, or does not fit VGG19."""


class ConfigError(JaxstyleError, ValueError):
    """A hyper-parameter is out of range or names an unknown layer."""


class CheckpointError(JaxstyleError, ValueError):
    """A checkpoint is missing, damaged, or belongs to another run."""
