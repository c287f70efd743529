"""``bfcbench export``: the whole store as CSV or Parquet."""

from __future__ import annotations

import argparse
import logging

from bfcbench.commands._reading import add_store
from bfcbench.errors import ConfigError
from bfcbench.reading.export import FORMATS, export_store, format_from_path
from bfcbench.store import default_path

logger = logging.getLogger(__name__)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "export",
        parents=parents,
        help="write every run of the store to CSV or Parquet",
        description="Write every run of the store (superseded ones included) with "
        "its feature-recovery curve to a CSV or Parquet file that every reading "
        "command accepts in place of a store. Parquet keeps column types; CSV gets "
        "them back from the store schema.",
    )
    parser.add_argument(
        "--to",
        choices=FORMATS,
        default=None,
        help="file format (default: from the extension of --out)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="file to write")
    add_store(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    fmt = args.to or format_from_path(args.out)
    if fmt is None:
        raise ConfigError(
            f"--out: got {args.out!r}, whose extension names no format and --to is "
            "not given; allowed: a .csv or .parquet file, or --to csv|parquet."
        )
    source = default_path(args.store)
    count = export_store(source, args.out, fmt)
    logger.info("%d runs of %s written to %s (%s)", count, source, args.out, fmt)
    return 0
