"""``bfcbench features``: per-level feature recovery of stored network runs."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bfcbench.commands._reading import add_filters, add_store, results
from bfcbench.commands.common import int_list
from bfcbench.errors import ConfigError
from bfcbench.output import render


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "features",
        parents=parents,
        help="per-level feature recovery (R² of true levels from learned ones)",
        description="For stored runs that recorded feature recovery: the final R² of "
        "each true level from the learned level of the same index, median over "
        "seeds per (task, learner, n); with --curves, the median R² at every "
        "recorded training step.",
    )
    add_filters(parser)
    parser.add_argument(
        "--n", metavar="N[,N...]", help="only these sizes (as --where n_train=N,...)"
    )
    add_store(parser)
    parser.add_argument(
        "--curves", action="store_true", help="print the curves during training"
    )
    parser.add_argument(
        "--format",
        default="table",
        choices=("table", "markdown", "csv", "latex", "json"),
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.n:
        sizes = ",".join(str(n) for n in int_list(args.n, "--n", 1))
        args.where = [*args.where, f"n_train={sizes}"]
    found = results(args)
    runs = select_runs(found.rows)
    if not runs:
        raise ConfigError(
            f"--store: got {found.source!r}, whose matching runs recorded no feature "
            "recovery; allowed: a result set with ok runs of a network learner "
            "(deep, layerwise, two-layer) on a task with true levels."
        )
    rows = recovery_curves(runs, found.curves) if args.curves else final_recovery(runs)
    print(render(rows, args.format))
    return 0


def select_runs(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ok runs among ``rows`` that recorded feature recovery."""
    return [
        row
        for row in rows
        if row["status"] == "ok" and row.get("feature_r2") not in (None, [])
    ]


def final_recovery(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Median over seeds of the final R² per level, one row per (task, learner, n)."""
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for row in runs:
        groups.setdefault(
            (row["task_label"], row["learner_label"], row["n_train"]), []
        ).append(row)
    table = []
    for (task, learner, n_train), members in groups.items():
        levels = max(len(row["feature_r2"]) for row in members)
        entry: dict[str, Any] = {
            "task": task,
            "learner": learner,
            "n_train": n_train,
            "seeds": len(members),
        }
        for level in range(levels):
            values = [
                row["feature_r2"][level]
                for row in members
                if level < len(row["feature_r2"])
                and row["feature_r2"][level] is not None
            ]
            entry[f"level_{level + 1}"] = statistics.median(values) if values else None
        table.append(entry)
    return table


def recovery_curves(
    runs: Sequence[Mapping[str, Any]], curves: Mapping[int, Sequence[Any]]
) -> list[dict[str, Any]]:
    """Median over seeds of R² per level at each recorded step."""
    points: dict[tuple[str, str, int, int], dict[int, list[float]]] = {}
    for row in runs:
        for step, level, r2 in curves.get(row["run_id"], ()):
            key = (row["task_label"], row["learner_label"], row["n_train"], step)
            if r2 is not None:
                points.setdefault(key, {}).setdefault(level, []).append(r2)
    table = []
    for (task, learner, n_train, step), levels in sorted(points.items()):
        entry: dict[str, Any] = {
            "task": task,
            "learner": learner,
            "n_train": n_train,
            "step": step,
        }
        for level in sorted(levels):
            entry[f"level_{level}"] = statistics.median(levels[level])
        table.append(entry)
    return table
