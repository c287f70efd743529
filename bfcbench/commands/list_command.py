"""``bfcbench list tasks|learners``: names, descriptions, parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bfcbench import registry
from bfcbench.commands.common import describe_params
from bfcbench.output import render


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "list", parents=parents, help="list tasks or learners with their parameters"
    )
    parser.add_argument("kind", choices=("tasks", "learners"))
    parser.add_argument(
        "--format", default="table", choices=("table", "markdown", "json")
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    print(listing(args.kind, args.format))
    return 0


def listing(kind: str, fmt: str = "table") -> str:
    """The listing of ``kind`` (``"tasks"`` or ``"learners"``) as text."""
    classes = registry.tasks() if kind == "tasks" else registry.learners()
    broken = registry.unavailable()[kind]
    entries: list[dict[str, Any]] = [
        {
            "name": name,
            "version": cls.version,
            "description": cls.description,
            "parameters": describe_params(cls),
        }
        for name, cls in classes.items()
    ]
    entries += [{"name": name, "status": reason} for name, reason in broken.items()]
    if fmt == "json":
        return json.dumps(entries, indent=2)
    blocks = []
    for entry in entries:
        if "status" in entry:
            blocks.append(f"{entry['name']}: {entry['status']}")
            continue
        heading = (
            f"{entry['name']} (version {entry['version']}): {entry['description']}"
        )
        if fmt == "markdown":
            heading = f"### {heading}"
        table = (
            render(entry["parameters"], fmt)
            if entry["parameters"]
            else "  (no parameters)"
        )
        blocks.append(f"{heading}\n\n{table}")
    return "\n\n".join(blocks)
