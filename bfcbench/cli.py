"""The ``bfcbench`` command line.

Each command lives in ``bfcbench.commands.<name>`` with a ``register`` function
that adds its sub-parser, and a plain function that does the work and can be
called from Python. :func:`main` turns a :class:`~bfcbench.errors.ConfigError`
into one line on stderr and exit status 2, any other bfcbench error (a store that
cannot be written, a lost Dask scheduler, Dask workers that lack a plugin) into
one line and exit status 1; real bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence

from bfcbench import __version__
from bfcbench.commands import COMMANDS
from bfcbench.errors import BfcbenchError, ConfigError
from bfcbench.params import did_you_mean


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line ConfigErrors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split()).rstrip(".")
        hint = ""
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", text)
        if match:
            hint = did_you_mean(
                match.group(1), re.findall(r"'([^']*)'", match.group(2))
            )
        raise ConfigError(f"{self.prog}: {text}.{hint}")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="bfcbench",
        description="Compare learners on hierarchical targets: kernels, shallow, "
        "layerwise and end-to-end deep networks.",
    )
    parser.add_argument(
        "--version", action="version", version=f"bfcbench {__version__}"
    )
    _add_verbosity(parser, default=False)
    # -v and -q are accepted after the command too; there they only override.
    common = ArgumentParser(add_help=False)
    _add_verbosity(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=ArgumentParser
    )
    for command in COMMANDS:
        command.register(commands, [common])
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log more"
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="errors only"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _configure_logging(args)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except ConfigError as error:
        print(f"bfcbench: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except BfcbenchError as error:
        print(f"bfcbench: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bfcbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``bfcbench list learners | head``): not an error.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _configure_logging(args: argparse.Namespace) -> None:
    level = (
        logging.WARNING
        if args.quiet
        else logging.DEBUG
        if args.verbose
        else logging.INFO
    )
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    # Only bfcbench's own messages at INFO; libraries stay at WARNING.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("bfcbench").setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
