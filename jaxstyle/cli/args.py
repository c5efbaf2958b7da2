"""Argument types and helpers shared by the ``jaxstyle`` subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import jax

from jaxstyle.config import Config, accelerator
from jaxstyle.errors import ImageError
from jaxstyle.options import RUN_DEFAULTS

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (scripts grep the reason) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        one_line = message.replace("\r", "\\r").replace("\n", "\\n")
        sys.stderr.write(f"{self.prog}: error: {one_line}\n")
        raise SystemExit(EXIT_USAGE)


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def whole(text: str) -> int:
    """A whole number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def counts(text: str) -> list[int]:
    """``"500"`` or ``"500,200,200"``: positive whole numbers, comma-separated."""
    values = [positive_int(t) for t in text.split(",") if t.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected whole numbers, got {text!r}")
    return values


def nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def run_defaults() -> dict[str, int]:
    """:data:`~jaxstyle.options.RUN_DEFAULTS` for this machine's backend."""
    return RUN_DEFAULTS["accelerator" if accelerator(jax.default_backend()) else "cpu"]


def add_choice(
    p: argparse.ArgumentParser, flag: str, choices: Sequence[str], help: str | None = None
) -> None:
    """``flag`` (e.g. ``"--mask-mode"``), one of ``choices``; its default is the
    :class:`~jaxstyle.config.Config` field of the same name (``mask_mode``), so the
    CLI and the API cannot disagree on a default."""
    default = getattr(Config, flag.removeprefix("--").replace("-", "_"))
    p.add_argument(flag, choices=choices, default=default, help=help)


def paths(text: str | None) -> list[Path]:
    """The paths of a comma-separated flag value (``None``: none)."""
    return [Path(t) for t in (text or "").split(",") if t.strip()]


def refuse_overwrite(output: Path, inputs: Sequence[Path], what: str = "input") -> None:
    """Refuses an output that is one of the inputs (one line, exit 2).

    Raises:
        ImageError: naming the input.
    """
    for source in inputs:
        if source.exists() and output.exists() and output.resolve() == source.resolve():
            raise ImageError(f"refusing to overwrite the {what} {source}")
