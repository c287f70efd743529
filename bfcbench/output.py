"""Rendering of tables for the command line: terminal, Markdown, CSV, LaTeX, JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

FORMATS = ("table", "markdown", "csv", "latex", "json")
_TABULATE = {"table": "simple", "markdown": "github", "latex": "latex_booktabs"}


def render(
    rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None
) -> str:
    """Render ``rows`` (dicts) in ``fmt``; ``columns`` picks and orders the keys.

    Numbers are shown as given except floats, which get four significant digits
    in the text formats; CSV and JSON keep full precision. Missing values are
    empty (CSV, text) or null (JSON), never a number.
    """
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps(
            [{c: _plain(row.get(c)) for c in columns} for row in rows],
            indent=2,
            default=str,
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                ["" if row.get(c) is None else _csv_cell(row.get(c)) for c in columns]
            )
        return buffer.getvalue().rstrip("\n")
    body = [[_text_cell(row.get(c)) for c in columns] for row in rows]
    return tabulate(
        body, headers=columns, tablefmt=_TABULATE[fmt], disable_numparse=True
    )


def format_number(value: float | None) -> str:
    """Four significant digits, ``""`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}"


def _text_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
