"""``bfcbench samples``: training samples and fit time needed to reach an error."""

from __future__ import annotations

import argparse

from bfcbench.commands._reading import (
    add_filters,
    add_format,
    add_store,
    number,
    numbers,
    results,
)
from bfcbench.commands.common import single_int
from bfcbench.reading.results import DEFAULT_METRIC, ResultSet
from bfcbench.reading.samples import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    render_requirements,
    requirements,
)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "samples",
        parents=parents,
        help="samples and fit time each learner needs to reach test NMSE <= eps",
        description="For each task and learner: the training-set size at which the "
        "median test NMSE over seeds first reaches eps, interpolated on a log scale "
        "between the grid's sizes, and the fit time there, each with a bootstrap "
        "interval over seeds. A learner that never gets there is reported as "
        "'> n_max'; one already there at the smallest size as '<= n_min'. A run "
        "that did not finish counts as not reaching eps.",
    )
    parser.add_argument(
        "--eps",
        required=True,
        metavar="E[,E...]",
        help="errors to reach (test NMSE, or --metric), comma-separated",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"lower-is-better column (default: {DEFAULT_METRIC})",
    )
    parser.add_argument(
        "--bootstrap",
        default=str(DEFAULT_BOOTSTRAP),
        metavar="B",
        help=f"bootstrap replicates over seeds; 0 for none (default: "
        f"{DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--confidence",
        default=str(DEFAULT_CONFIDENCE),
        metavar="C",
        help=f"coverage of the interval (default: {DEFAULT_CONFIDENCE})",
    )
    add_filters(parser)
    add_store(parser)
    add_format(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    print(
        samples(
            results(args),
            numbers(args.eps, "--eps"),
            args.metric,
            single_int(args.bootstrap, "--bootstrap", 0, 1_000_000),
            number(args.confidence, "--confidence"),
            args.format,
        )
    )
    return 0


def samples(
    data: ResultSet,
    eps: list[float],
    metric: str = DEFAULT_METRIC,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    fmt: str = "table",
) -> str:
    """The samples-to-reach table of ``data`` as text in ``fmt``."""
    found = requirements(data, eps, metric, bootstrap, confidence)
    return render_requirements(found, fmt, confidence)
