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
    CellComparison,
    compare,
    method_text,
    records,
    render_comparison,
    summary_text,
)
from bfcbench.reading.markup import markdown_escape
from bfcbench.reading.results import DEFAULT_METRIC, ResultSet

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
    text, found = comparison(
        a,
        b,
        args.metric,
        number(args.alpha, "--alpha"),
        number(args.factor, "--factor"),
        args.format,
    )
    print(text)
    if args.format == "csv":
        logger.info("%s", summary_text(found))
    regressions = sum(item.regression for item in found)
    if args.fail_on_regression and regressions:
        plural = "s" if regressions > 1 else ""
        logger.warning("%d regression%s: exit status 1", regressions, plural)
        return 1
    return 0


def comparison(
    a: ResultSet,
    b: ResultSet,
    metric: str = DEFAULT_METRIC,
    alpha: float = DEFAULT_ALPHA,
    factor: float = DEFAULT_FACTOR,
    fmt: str = "table",
) -> tuple[str, list[CellComparison]]:
    """Compare ``a`` and ``b`` and render the result in ``fmt``.

    Returns
    -------
    text : str
        The text formats state both sources and the rule of the verdicts above
        the table and the counts per verdict below it; ``json`` holds the same
        in one document; ``csv`` only the table.
    cells : list of CellComparison
    """
    found = compare(a, b, metric, alpha, factor)
    if fmt == "json":
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
        return json.dumps(document, indent=2), found
    if fmt == "csv":
        return render_comparison(found, "csv"), found

    prefix = "% " if fmt == "latex" else ""

    def line(text: str) -> str:
        return prefix + (markdown_escape(text) if fmt == "markdown" else text)

    header = [
        line(f"A: {a.source} ({len(a.rows)} runs)"),
        line(f"B: {b.source} ({len(b.rows)} runs)"),
        line(method_text(metric, alpha, factor)),
    ]
    # Markdown joins lines into one paragraph unless a blank line parts them.
    parts = [
        ("\n\n" if fmt == "markdown" else "\n").join(header),
        render_comparison(found, fmt),
        line(summary_text(found)),
    ]
    return "\n\n".join(parts), found
