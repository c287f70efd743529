"""Pivot tables of a metric over seeds: learner by n, or any two dimensions.

A table's rows and columns are two *dimensions* of the runs: ``task``,
``learner``, ``n_train``, ``n_test``, ``seed``, or a parameter ``task.PARAM`` /
``learner.PARAM``. The configuration dimensions that are neither rows nor
columns split the result set into one table each (one per task, say), so a cell
only ever holds the seeds of one configuration. A cell shows the median of the
``ok`` runs and their spread; a cell without a single ``ok`` run shows its status
(``3 diverged``), never a number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bfcbench.errors import ConfigError
from bfcbench.output import render
from bfcbench.params import did_you_mean
from bfcbench.reading.markup import markdown_escape
from bfcbench.reading.results import (
    PIVOT_KEYS,
    SPREADS,
    Cell,
    Labeller,
    ResultSet,
    check_metric,
    value_getter,
)
from bfcbench.summary import status_text

# Dimensions that identify a cell besides the seed; those not pivoted split tables.
SPLIT_KEYS = ("task", "learner", "n_train", "n_test")


@dataclass
class PivotTable:
    """One pivot table.

    Parameters
    ----------
    context : dict
        The values of the splitting dimensions shared by every cell.
    row_key, column_key : str
        The dimensions of the rows and the columns.
    row_values, column_values : list
        Their values, in display order.
    cells : dict
        ``(row value, column value) -> Cell``; absent where nothing ran.
    metric : str
    """

    context: dict[str, Any]
    row_key: str
    column_key: str
    row_values: list[Any]
    column_values: list[Any]
    cells: dict[tuple[Any, Any], Cell]
    metric: str


def dimension(
    key: str, rows: Sequence[Mapping[str, Any]], labeller: Labeller, option: str
) -> Callable[[Mapping[str, Any]], Any]:
    """A function that reads dimension ``key`` of a row, checked."""
    if key == "task":
        return labeller.task
    if key == "learner":
        return labeller.learner
    if key in PIVOT_KEYS:
        return lambda row: row[key]
    if key.startswith(("task.", "learner.")):
        return value_getter(key, rows, option)
    allowed = [*PIVOT_KEYS, "task.PARAM", "learner.PARAM"]
    raise ConfigError(
        f"{option}: got {key!r}; allowed: one of {', '.join(allowed)}."
        + did_you_mean(key, PIVOT_KEYS)
    )


def pivot_tables(
    results: ResultSet,
    metric: str = "test_nmse",
    rows: str = "learner",
    columns: str = "n_train",
) -> list[PivotTable]:
    """Pivot ``metric`` by two dimensions, one table per remaining configuration.

    Parameters
    ----------
    results : ResultSet
    metric : str, default="test_nmse"
        A numeric column (:data:`~bfcbench.reading.results.METRICS`).
    rows, columns : str, default="learner", "n_train"
        Dimensions: ``task``, ``learner``, ``n_train``, ``n_test``, ``seed``,
        ``task.PARAM`` or ``learner.PARAM``.

    Returns
    -------
    list of PivotTable
    """
    check_metric(metric)
    if rows == columns:
        raise ConfigError(
            f"--columns: got {columns!r}, the same as --rows; allowed: another "
            "dimension."
        )
    data = results.rows
    labeller = Labeller.of(data)
    row_of = dimension(rows, data, labeller, "--rows")
    column_of = dimension(columns, data, labeller, "--columns")
    # A parameter pivot takes that parameter out of the task or learner label.
    splits = {}
    for key in SPLIT_KEYS:
        if key in (rows, columns):
            continue
        dropped = [
            pivot.partition(".")[2]
            for pivot in (rows, columns)
            if pivot.startswith(f"{key}.")
        ]
        splits[key] = (
            _reduced(key, labeller, dropped)
            if dropped
            else dimension(key, data, labeller, "--rows")
        )

    groups: dict[tuple[Any, ...], dict[tuple[Any, Any], Cell]] = {}
    for row in data:
        context = tuple(getter(row) for getter in splits.values())
        cell = groups.setdefault(context, {}).setdefault(
            (row_of(row), column_of(row)), Cell([], metric)
        )
        cell.rows.append(row)

    tables = []
    for context, cells in groups.items():
        tables.append(
            PivotTable(
                context=dict(zip(splits, context, strict=True)),
                row_key=rows,
                column_key=columns,
                row_values=_ordered(key[0] for key in cells),
                column_values=_ordered(key[1] for key in cells),
                cells=cells,
                metric=metric,
            )
        )
    return tables


def _reduced(
    kind: str, labeller: Labeller, dropped: list[str]
) -> Callable[[Mapping[str, Any]], str]:
    def reduced(row: Mapping[str, Any]) -> str:
        text = labeller.task(row) if kind == "task" else labeller.learner(row)
        return drop_from_label(text, dropped)

    return reduced


def drop_from_label(text: str, keys: Sequence[str]) -> str:
    """A label without some parameters.

    ``drop_from_label("kernel-poly[degree=4,ridge=0.1]", ["degree"])`` is
    ``"kernel-poly[ridge=0.1]"``.
    """
    name, bracket, rest = text.partition("[")
    if not bracket:
        return text
    inside, _, tail = rest.rpartition("]")
    kept = [part for part in inside.split(",") if part.partition("=")[0] not in keys]
    return (f"{name}[{','.join(kept)}]" if kept else name) + tail


def _ordered(values) -> list[Any]:
    unique = list(dict.fromkeys(values))
    if all(isinstance(value, (int, float)) for value in unique):
        return sorted(unique)
    return unique


# -- rendering ------------------------------------------------------------------


def cell_text(cell: Cell | None, spread: str) -> str:
    """What a text table shows in a cell.

    ``""`` where nothing ran; the status (``3 diverged``) where no run is ``ok``;
    otherwise the median, the spread in brackets, and the runs that are not
    ``ok`` in parentheses.
    """
    if cell is None or not cell.rows:
        return ""
    if cell.failed:
        return cell.status
    text = f"{cell.median:.3g}"
    bounds = cell.spread(spread)
    if bounds is not None:
        text += f" [{bounds[0]:.3g}, {bounds[1]:.3g}]"
    others = [row["status"] for row in cell.rows if row["status"] != "ok"]
    unusable = len(cell.rows) - len(others) - len(cell.values)
    if others or unusable:
        note = status_text(others) if others else ""
        if unusable:
            note = ", ".join(filter(None, [note, f"{unusable} without {cell.metric}"]))
        text += f" ({note})"
    return text


def describe_spread(spread: str) -> str:
    """What a cell's numbers are, in words: ``median over seeds [min, max]``."""
    return {
        "range": "median over seeds [min, max]",
        "iqr": "median over seeds [25th, 75th percentile]",
        "none": "median over seeds",
    }[spread]


def render_tables(tables: Sequence[PivotTable], fmt: str, spread: str = "range") -> str:
    """Render pivot tables as ``table``, ``markdown``, ``latex``, ``csv`` or ``json``.

    The text formats give one table per context with a heading line; ``csv``
    and ``json`` give one document with the context as leading columns, the
    median, the bounds and the status of every cell apart.
    """
    if spread not in SPREADS:
        raise ConfigError(
            f"--spread: got {spread!r}; allowed: one of {', '.join(SPREADS)}."
        )
    if not tables:
        return ""
    if fmt == "csv":
        return _render_csv(tables, spread)
    if fmt == "json":
        return json.dumps(_json_records(tables, spread), indent=2)
    blocks = []
    for table in tables:
        names, body = text_rows(table, spread)
        if fmt == "markdown":
            body = [
                {markdown_escape(k): markdown_escape(v) for k, v in line.items()}
                for line in body
            ]
            names = [markdown_escape(name) for name in names]
        blocks.append(_heading(table, spread, fmt) + "\n\n" + render(body, fmt, names))
    return "\n\n".join(blocks)


def text_rows(table: PivotTable, spread: str) -> tuple[list[str], list[dict[str, str]]]:
    """Column names and rows of text cells (:func:`cell_text`) of one table."""
    corner = f"{table.row_key} / {table.column_key}"
    names = [corner, *map(str, table.column_values)]
    body = [
        {
            corner: str(row_value),
            **{
                str(column): cell_text(table.cells.get((row_value, column)), spread)
                for column in table.column_values
            },
        }
        for row_value in table.row_values
    ]
    return names, body


def heading(table: PivotTable, spread: str) -> str:
    """Plain-text description of a table: its context and what its cells hold."""
    return _heading(table, spread, "table")


def _heading(table: PivotTable, spread: str, fmt: str) -> str:
    what = f"{table.metric}, {describe_spread(spread)}"
    context = "; ".join(f"{key}: {value}" for key, value in table.context.items())
    if fmt == "markdown":
        return f"**{markdown_escape(context)}** ({markdown_escape(what)})"
    if fmt == "latex":
        return f"% {context} ({what})"
    return f"{context} ({what})"


def _render_csv(tables: Sequence[PivotTable], spread: str) -> str:
    context_keys = list(dict.fromkeys(key for t in tables for key in t.context))
    first = tables[0]
    columns = list(dict.fromkeys(c for t in tables for c in t.column_values))
    header = [*context_keys, first.row_key]
    for column in columns:
        header += [str(column), f"{column} low", f"{column} high", f"{column} status"]
    rows = []
    for table in tables:
        for row_value in table.row_values:
            line: dict[str, Any] = {key: table.context.get(key) for key in context_keys}
            line[first.row_key] = row_value
            for column in columns:
                cell = table.cells.get((row_value, column))
                bounds = cell.spread(spread) if cell else None
                line[str(column)] = (
                    None
                    if cell is None
                    else cell.status
                    if cell.failed
                    else cell.median
                )
                line[f"{column} low"] = bounds[0] if bounds else None
                line[f"{column} high"] = bounds[1] if bounds else None
                line[f"{column} status"] = cell.status if cell else None
            rows.append(line)
    return render(rows, "csv", header)


def _json_records(tables: Sequence[PivotTable], spread: str) -> list[dict[str, Any]]:
    records = []
    for table in tables:
        for row_value in table.row_values:
            cells = {}
            for column in table.column_values:
                cell = table.cells.get((row_value, column))
                if cell is None:
                    continue
                bounds = cell.spread(spread)
                cells[str(column)] = {
                    "median": cell.median,
                    "low": bounds[0] if bounds else None,
                    "high": bounds[1] if bounds else None,
                    "values": cell.values,
                    "runs": cell.seeds,
                    "status": cell.status,
                }
            records.append(
                {
                    **table.context,
                    table.row_key: row_value,
                    "metric": table.metric,
                    "columns": table.column_key,
                    "cells": cells,
                }
            )
    return records
