"""The ``jaxstyle`` command line: a thin layer over the public API.

Every user error (bad file, bad size, unknown layer, ...) ends as one line on stderr
and exit code 2; no traceback, no output file.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from jaxstyle import __version__
from jaxstyle.cache import setup
from jaxstyle.cli import figures, stylize_flags, video, weights
from jaxstyle.cli.args import EXIT_USAGE, Parser
from jaxstyle.cli.stylize import save_chunk
from jaxstyle.controls.regions import MaskWarning
from jaxstyle.errors import JaxstyleError

__all__ = ["build_parser", "main", "save_chunk"]


def build_parser() -> Parser:
    parser = Parser(
        prog="jaxstyle",
        description="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"jaxstyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    stylize_flags.add(sub)
    video.add(sub)
    figures.add(sub)
    weights.add(sub)
    return parser


def _warning_line(message: Warning | str, *_: object, **__: object) -> None:
    sys.stderr.write(f"jaxstyle: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    setup()  # before the first JAX computation: the compilation cache and CPU flags
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", MaskWarning)  # the user is told, in one line
            warnings.showwarning = _warning_line  # restored on return
            return int(args.run(args))
    except JaxstyleError as e:
        sys.stderr.write(f"jaxstyle: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("jaxstyle: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
