"""``bfcbench compare A [B]``: two result sets cell by cell, with noise-aware
verdicts."""

from __future__ import annotations

import argparse
import json
import logging

from bfcbench.commands._reading import (
    add_filters,
    add_format,
    add_store,
    number,
    results,
)
from bfcbench.reading.compare import (
    DEFAULT_ALPHA,
    DEFAULT_FACTOR,
    compare,
    method_text,
    records,
    render_comparison,
    summary_text,
)
from bfcbench.reading.markup import markdown_escape
from bfcbench.reading.results import DEFAULT_METRIC

logger = logging.getLogger(__name__)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "compare",
        parents=parents,
        help="compare two result sets cell by cell, beyond seed noise",
        description="Join two result sets (stores, or CSV/Parquet exports) on "
        "configuration and give, per cell, both medians over seeds, their ratio "
        "B/A and a verdict from a one-sided Mann-Whitney U test over seeds plus a "
        "minimum ratio; also marks new, missing, newly failed and fixed cells.",
    )
    parser.add_argument("a", metavar="A", help="baseline: a store or an export")
    parser.add_argument(
        "b",
        metavar="B",
        nargs="?",
        default=None,
        help="new results: a store or an export (default: the store of --store)",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"lower-is-better column to compare (default: {DEFAULT_METRIC})",
    )
    parser.add_argument(
        "--alpha",
        default=str(DEFAULT_ALPHA),
        help=f"level of the one-sided test (default: {DEFAULT_ALPHA})",
    )
    parser.add_argument(
        "--factor",
        default=str(DEFAULT_FACTOR),
        help=f"smallest ratio of medians that counts as a change (default: "
        f"{DEFAULT_FACTOR})",
    )
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit with status 1 when a cell got worse beyond noise or newly failed",
    )
    add_filters(parser)
    add_store(parser)
    add_format(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    a = results(args, args.a, "A")
    b = results(args, args.b, "B") if args.b else results(args)
    metric = args.metric
    alpha = number(args.alpha, "--alpha")
    factor = number(args.factor, "--factor")
    found = compare(a, b, metric, alpha, factor)

    if args.format == "json":
        rows, _ = records(found, "json")
        document = {
            "a": a.source,
            "b": b.source,
            "metric": metric,
            "alpha": alpha,
            "factor": factor,
            "method": method_text(metric, alpha, factor),
            "summary": summary_text(found),
            "cells": rows,
        }
        print(json.dumps(document, indent=2))
    elif args.format == "csv":
        print(render_comparison(found, "csv"))
    else:
        prefix = "% " if args.format == "latex" else ""

        def line(text: str) -> str:
            text = markdown_escape(text) if args.format == "markdown" else text
            return prefix + text

        header = [
            line(f"A: {a.source} ({len(a.rows)} runs)"),
            line(f"B: {b.source} ({len(b.rows)} runs)"),
            line(method_text(metric, alpha, factor)),
        ]
        # Markdown joins lines into one paragraph unless a blank line parts them.
        print(("\n\n" if args.format == "markdown" else "\n").join(header))
        print()
        print(render_comparison(found, args.format))
        print()
        print(line(summary_text(found)))
    regressions = sum(item.regression for item in found)
    if args.format == "csv":
        logger.info("%s", summary_text(found))
    if args.fail_on_regression and regressions:
        logger.warning("%d regressions: exit status 1", regressions)
        return 1
    return 0
