"""``bfcbench describe``: measured properties of a task's target."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bfcbench.commands.common import add_task, int_list, make_task
from bfcbench.tasks.base import Task


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "describe",
        parents=parents,
        help="measured properties of a task: variance shares per level, degree floors",
    )
    add_task(parser)
    parser.add_argument(
        "--floors",
        default="",
        metavar="P[,P...]",
        help="also compute the share of Var(y) outside polynomials of these degrees",
    )
    parser.add_argument("--format", default="table", choices=("table", "json"))
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    degrees = int_list(args.floors, "--floors", 1, 16) if args.floors else []
    task = make_task(args)
    facts = describe(task, degrees)
    if args.format == "json":
        print(json.dumps(facts, indent=2))
    else:
        print("\n".join(f"{key}: {_show(value)}" for key, value in facts.items()))
    return 0


def describe(task: Task, degrees: list[int]) -> dict[str, Any]:
    """Task label, version, parameters and measured facts (``Task.info``)."""
    facts: dict[str, Any] = {
        "task": task.label,
        "version": task.version,
        "params": task.values,
        **task.info(),
    }
    floor = getattr(task, "degree_floor", None)
    for degree in degrees:
        facts[f"degree_{degree}_floor"] = floor(degree) if floor else None
    return facts


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    return "not computed" if value is None else str(value)
