"""``bfcbench table``: a metric pivoted by two dimensions, median and spread."""

from __future__ import annotations

import argparse

from bfcbench.commands._reading import add_filters, add_format, add_store, results
from bfcbench.reading.results import DEFAULT_METRIC, METRICS, SPREADS, ResultSet
from bfcbench.reading.tables import pivot_tables, render_tables


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "table",
        parents=parents,
        help="a metric pivoted by two dimensions (default: test NMSE, learner x n)",
        description="Median and spread over seeds of a metric, pivoted by two "
        "dimensions; one table per task (and per any other configuration "
        "dimension left over). A cell without an ok run shows its status.",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"column to show: {', '.join(METRICS)} (default: {DEFAULT_METRIC})",
    )
    parser.add_argument(
        "--rows",
        default="learner",
        help="dimension of the rows: task, learner, n_train, n_test, seed, "
        "task.PARAM or learner.PARAM (default: learner)",
    )
    parser.add_argument(
        "--columns",
        default="n_train",
        help="dimension of the columns, as --rows (default: n_train)",
    )
    parser.add_argument(
        "--spread",
        default="range",
        choices=SPREADS,
        help="spread over seeds in brackets: min and max (range), quartiles (iqr), "
        "or none (default: range)",
    )
    add_filters(parser)
    add_store(parser)
    add_format(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    print(
        table(
            results(args),
            args.metric,
            args.rows,
            args.columns,
            args.spread,
            args.format,
        )
    )
    return 0


def table(
    data: ResultSet,
    metric: str = DEFAULT_METRIC,
    rows: str = "learner",
    columns: str = "n_train",
    spread: str = "range",
    fmt: str = "table",
) -> str:
    """The pivot tables of ``data`` as text in ``fmt``."""
    return render_tables(pivot_tables(data, metric, rows, columns), fmt, spread)
