"""Options and parsing shared by several commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch

from bfcbench import registry
from bfcbench.errors import ConfigError
from bfcbench.output import FORMATS
from bfcbench.params import parse_assignments
from bfcbench.tasks.base import Task

DEFAULT_TASK = "hierarchical"


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="SQLite result store "
        "(default: $BFCBENCH_STORE, else results/bfcbench.sqlite)",
    )


def add_format(
    parser: argparse.ArgumentParser, formats: Sequence[str] = FORMATS
) -> None:
    parser.add_argument(
        "--format",
        default="table",
        choices=formats,
        help="output format (default: table)",
    )


def add_task(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task", default=DEFAULT_TASK, help=f"task name (default: {DEFAULT_TASK})"
    )
    parser.add_argument(
        "--task-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a task parameter; repeat for several",
    )


def make_task(args: argparse.Namespace) -> Task:
    """The task named by ``--task`` with its ``--task-param`` values, checked."""
    cls = registry.task_class(args.task)
    return cls(**parse_assignments(args.task_param, "--task-param"))


def int_list(text: str, option: str, low: int, high: int | None = None) -> list[int]:
    """Parse ``"500,2000"`` into distinct integers within [low, high], in the
    given order."""
    allowed = f"comma-separated integers >= {low}" + (f" and <= {high}" if high else "")
    values = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.") from None
        if value < low or (high is not None and value > high):
            raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
        if value in values:
            raise ConfigError(
                f"{option}: got {text!r} ({value} twice); allowed: {allowed}, "
                "each once."
            )
        values.append(value)
    return values


def single_int(text: str, option: str, low: int, high: int | None = None) -> int:
    """Parse one integer within [low, high]."""
    allowed = f"one integer >= {low}" + (f" and <= {high}" if high else "")
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
    return value


def resolve_device(text: str) -> str:
    """Check ``--device``: cpu, cuda, cuda:N or auto (cuda when available)."""
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device: got {text!r}; allowed: cpu or auto (this machine has no "
                "usable CUDA device)."
            )
        index = int(text[5:]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device: got {text!r}; allowed: cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1}."
            )
        return text
    raise ConfigError(f"--device: got {text!r}; allowed: cpu, cuda, cuda:N or auto.")


def describe_params(cls: Any) -> list[dict[str, Any]]:
    """One dict per declared parameter, for listings."""
    return [
        {
            "parameter": param.name,
            "type": param.type_name(),
            "default": param.default,
            "allowed": param.allowed(),
            "meaning": param.help,
        }
        for param in cls.params
    ]
