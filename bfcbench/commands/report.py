"""``bfcbench report``: an HTML page and its Markdown twin with figures."""

from __future__ import annotations

import argparse
import logging

from bfcbench.commands._reading import add_filters, add_store, numbers, results
from bfcbench.reading.report import DEFAULT_EPS, write_report

logger = logging.getLogger(__name__)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "report",
        parents=parents,
        help="write a self-contained HTML report and its Markdown twin with figures",
        description="Write DIR/index.html (figures embedded, nothing loaded from "
        "elsewhere), DIR/report.md and DIR/figures/: per task, the test NMSE table, "
        "learning curves, fit time, samples to reach each eps and per-level feature "
        "recovery during training where runs recorded it.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory")
    parser.add_argument(
        "--eps",
        default=",".join(f"{value:g}" for value in DEFAULT_EPS),
        metavar="E[,E...]",
        help="test NMSE levels for samples to reach (default: "
        f"{','.join(f'{value:g}' for value in DEFAULT_EPS)})",
    )
    parser.add_argument("--title", default="", help="heading of the page")
    add_filters(parser)
    add_store(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    written = write_report(
        results(args), args.out, numbers(args.eps, "--eps"), args.title
    )
    print(written["html"])
    return 0
