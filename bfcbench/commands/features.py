"""``bfcbench features``: per-level feature recovery of stored network runs."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

from bfcbench.commands.common import add_store, int_list
from bfcbench.output import render
from bfcbench.store import Store, default_path


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
    add_store(parser)
    parser.add_argument("--task", help="only runs of this task (name or label)")
    parser.add_argument(
        "--learner", help="only these learners, comma-separated (names or labels)"
    )
    parser.add_argument("--n", metavar="N[,N...]", help="only these training sizes")
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
    n_train = int_list(args.n, "--n", 1) if args.n else None
    learners = (
        [name.strip() for name in args.learner.split(",")] if args.learner else None
    )
    with Store(default_path(args.store), readonly=True) as store:
        runs = select_runs(store, args.task, learners, n_train)
        rows = recovery_curves(store, runs) if args.curves else final_recovery(runs)
    if not rows:
        print("no stored runs with feature recovery match")
        return 0
    print(render(rows, args.format))
    return 0


def select_runs(
    store: Store,
    task: str | None = None,
    learners: Sequence[str] | None = None,
    n_train: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Current ok runs that recorded feature recovery, filtered."""
    runs = store.runs("status = 'ok' AND superseded = 0 AND feature_r2 IS NOT NULL")
    if task:
        runs = [row for row in runs if task in (row["task"], row["task_label"])]
    if learners:
        runs = [
            row
            for row in runs
            if row["learner"] in learners or row["learner_label"] in learners
        ]
    if n_train:
        runs = [row for row in runs if row["n_train"] in n_train]
    return runs


def final_recovery(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over seeds of the final R² per level, one row per (task, learner, n)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
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


def recovery_curves(store: Store, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over seeds of R² per level at each recorded step."""
    by_id = {row["run_id"]: row for row in runs}
    points: dict[tuple[str, str, int, int], dict[int, list[float]]] = {}
    for run_id, step, level, r2 in store.curves(by_id):
        row = by_id[run_id]
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
