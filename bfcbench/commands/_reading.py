"""Options shared by the commands that read results (table, samples, compare,
report, export)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bfcbench.commands.common import add_format, add_store
from bfcbench.errors import ConfigError
from bfcbench.reading.results import ResultSet, filter_rows, load

__all__ = ["add_filters", "add_format", "add_store", "number", "numbers", "results"]


def add_filters(parser: argparse.ArgumentParser) -> None:
    """Add ``--task``, ``--learner`` and ``--where``."""
    parser.add_argument(
        "--task",
        default=None,
        metavar="NAME[,NAME...]",
        help="only these tasks (names or labels such as hierarchical[depth=4])",
    )
    parser.add_argument(
        "--learner",
        default=None,
        metavar="NAME[,NAME...]",
        help="only these learners (names or labels such as kernel-poly[degree=4])",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE...]",
        help="only runs whose column or parameter (task.PARAM, learner.PARAM) "
        "has one of these values; repeat to require several",
    )


def results(
    args: argparse.Namespace, path: str | None = None, option: str = "--store"
) -> ResultSet:
    """Load ``path`` (default: ``--store``) and apply the filter options."""
    loaded = load(path if option != "--store" else args.store, option=option)
    filtered = filter_rows(loaded, args.task, args.learner, args.where)
    if not filtered.rows:
        used = [
            (name, value)
            for name, value in (
                ("--task", args.task),
                ("--learner", args.learner),
                *(("--where", where) for where in args.where),
            )
            if value
        ]
        if not loaded.rows or not used:
            raise ConfigError(
                f"{option}: got {loaded.source!r}, which holds no runs; allowed: a "
                "result set with at least one run."
            )
        names = "/".join(dict.fromkeys(name for name, _ in used))
        given = " ".join(f"{name} {value}" for name, value in used)
        raise ConfigError(
            f"{names}: got {given!r}, which no run of {loaded.source!r} matches; "
            "allowed: filters that match at least one run."
        )
    return filtered


def number(text: str, option: str) -> float:
    """Parse one number given to ``option``."""
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option}: got {text!r}; allowed: a number.") from None


def numbers(text: str, option: str) -> Sequence[float]:
    """Parse ``"0.1,0.03"``; at least one number."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ConfigError(f"{option}: got {text!r}; allowed: comma-separated numbers.")
    values: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(
                f"{option}: got {text!r}; allowed: comma-separated numbers."
            ) from None
        if value in values:
            raise ConfigError(
                f"{option}: got {text!r} ({part} twice); allowed: comma-separated "
                "numbers, each once."
            )
        values.append(value)
    return values
