"""Exports of a result store to CSV and Parquet, and reading them back.

An export holds every row of ``runs`` (superseded ones included, so that an export
is the whole store) in the store's column order, plus one column ``curve``: the
run's feature-recovery curve as JSON, ``[[step, level, r2], ...]``, empty when the
run has none. Reading an export back gives the rows the store gives, value for
value:

- Parquet keeps types in the file: ``INTEGER`` columns are Arrow ``int64``,
  ``REAL`` columns ``float64``, ``TEXT`` columns ``string``, and missing values
  are Arrow nulls in every column. JSON columns are stored as their JSON text.
  The file's metadata records the format and the store's schema version.
- CSV has no types; they come back from the store schema (:data:`RUN_COLUMNS`),
  and columns the schema does not know come back as text. A missing value is an
  empty field, so CSV cannot tell an empty text from a missing one: both read
  back as missing (the runner never stores empty texts). Floats are written with
  ``repr``, which reads back to the same float.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bfcbench.errors import ConfigError
from bfcbench.store import JSON_COLUMNS, RUN_COLUMNS, Store

FORMATS = ("csv", "parquet")
CURVE_COLUMN = "curve"
FORMAT_VERSION = 1
METADATA_KEY = b"bfcbench"

# Declared SQL type of every known column, reduced to INTEGER, REAL or TEXT.
SCHEMA_TYPES = {name: kind.split()[0] for name, kind, _ in RUN_COLUMNS}
REQUIRED = ("run_id", "task", "learner", "n_train", "seed", "status")


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """``"csv"`` or ``"parquet"`` from the file's extension, else None."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)


def export_store(
    store_path: str | os.PathLike[str], out: str | os.PathLike[str], fmt: str
) -> int:
    """Write every run of a store, with its curve, to ``out``.

    Parameters
    ----------
    store_path : path-like
        An existing result store.
    out : path-like
        The file to write; its directory is created.
    fmt : {"csv", "parquet"}

    Returns
    -------
    int
        The number of rows written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--to: got {fmt!r}; allowed: one of {', '.join(FORMATS)}.")
    if not Path(store_path).is_file():
        raise ConfigError(
            f"--store: got {str(store_path)!r}; allowed: an existing store file."
        )
    with Store(store_path, readonly=True) as store:
        names, types = _store_columns(store.connection)
        rows = [
            dict(zip(names, values, strict=True))
            for values in store.connection.execute(
                f"SELECT {', '.join(names)} FROM runs ORDER BY run_id"
            )
        ]
        curves: dict[int, list[list[Any]]] = {}
        for run_id, step, level, r2 in store.connection.execute(
            "SELECT run_id, step, level, r2 FROM curves ORDER BY run_id, level, step"
        ):
            curves.setdefault(run_id, []).append([step, level, r2])
        schema_version = store.schema_version()
    for row in rows:
        curve = curves.get(row["run_id"])
        row[CURVE_COLUMN] = json.dumps(curve) if curve else None
    names = [*names, CURVE_COLUMN]
    types = {**types, CURVE_COLUMN: "TEXT"}

    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _write_csv(rows, names, target)
    else:
        _write_parquet(rows, names, types, target, schema_version)
    return len(rows)


def _store_columns(
    connection: sqlite3.Connection,
) -> tuple[list[str], dict[str, str]]:
    """Column names of ``runs`` in order, and each one's type affinity."""
    names, types = [], {}
    for _, name, declared, *_ in connection.execute("PRAGMA table_info(runs)"):
        names.append(name)
        declared = (declared or "").upper()
        types[name] = (
            "INTEGER" if "INT" in declared else "REAL" if "REAL" in declared else "TEXT"
        )
    return names, types


def _write_csv(rows: Sequence[Mapping[str, Any]], names: list[str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_csv_text(row[name]) for name in names])


def _csv_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_parquet(
    rows: Sequence[Mapping[str, Any]],
    names: list[str],
    types: Mapping[str, str],
    path: Path,
    schema_version: int,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
    columns = {}
    for name in names:
        values = [row[name] for row in rows]
        if types[name] == "REAL":
            # SQLite has no NaN; a NaN here would be a missing value in disguise.
            values = [
                None if isinstance(v, float) and math.isnan(v) else v for v in values
            ]
        columns[name] = pa.array(values, type=arrow_types[types[name]])
    metadata = {
        "format": FORMAT_VERSION,
        "schema_version": schema_version,
        "column_types": dict(types),
    }
    table = pa.table(columns).replace_schema_metadata(
        {METADATA_KEY: json.dumps(metadata).encode()}
    )
    pq.write_table(table, path)


# -- reading back --------------------------------------------------------------


def read(
    path: str | os.PathLike[str], kind: str, option: str = "--store"
) -> tuple[list[dict[str, Any]], dict[int, list[tuple[int, int, float | None]]]]:
    """Rows and curves of an export, as :meth:`Store.runs` and curves give them.

    Parameters
    ----------
    path : path-like
    kind : {"csv", "parquet"}
    option : str, default="--store"
        The option that named the file, for error messages.

    Returns
    -------
    rows : list of dict
        JSON columns decoded; integers as int, reals as float, missing as None.
    curves : dict
        ``run_id -> [(step, level, r2), ...]``.
    """
    records = _read_parquet(path) if kind == "parquet" else _read_csv(path, option)
    if records:
        absent = [name for name in REQUIRED if name not in records[0]]
        if absent:
            raise ConfigError(
                f"{option}: got {str(path)!r}, which lacks the columns "
                f"{', '.join(absent)}; allowed: a file written by bfcbench export."
            )
    curves: dict[int, list[tuple[int, int, float | None]]] = {}
    for record in records:
        curve = record.pop(CURVE_COLUMN, None)
        if curve:
            curves[record["run_id"]] = [
                (int(step), int(level), r2) for step, level, r2 in json.loads(curve)
            ]
        for name in JSON_COLUMNS:
            if isinstance(record.get(name), str):
                record[name] = json.loads(record[name])
    return records, curves


def _read_parquet(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _read_csv(path: str | os.PathLike[str], option: str) -> list[dict[str, Any]]:
    records = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            names = next(reader)
        except StopIteration:
            names = []
        except (csv.Error, UnicodeDecodeError) as error:
            raise _not_an_export(path, option, error) from None
        if not set(REQUIRED) <= set(names):
            raise _not_an_export(path, option, "its header lacks the run columns")
        try:
            for line, fields in enumerate(reader, start=2):
                if len(fields) != len(names):
                    raise ValueError(f"line {line} has {len(fields)} fields")
                records.append(
                    {
                        name: _parse(name, text)
                        for name, text in zip(names, fields, strict=True)
                    }
                )
        except (ValueError, csv.Error, UnicodeDecodeError) as error:
            raise _not_an_export(path, option, error) from None
    return records


def _parse(name: str, text: str) -> Any:
    if text == "":
        return None
    kind = SCHEMA_TYPES.get(name, "TEXT")
    if kind == "INTEGER":
        return int(text)
    if kind == "REAL":
        return float(text)
    return text


def _not_an_export(path: Any, option: str, why: Any) -> ConfigError:
    return ConfigError(
        f"{option}: got {str(path)!r} ({why}); allowed: a result store or a CSV or "
        "Parquet file written by bfcbench export."
    )


def read_frame(path: str | os.PathLike[str]):
    """An export or a store as a pandas DataFrame with nullable column types.

    ``INTEGER`` columns are ``Int64``, ``REAL`` columns ``Float64`` and text
    columns ``string``, so integers stay integers next to missing values and a
    missing value is ``pd.NA``, never a number. JSON columns hold decoded
    objects.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    pandas.DataFrame of shape (n_runs, n_columns)
    """
    import pandas as pd

    from bfcbench.reading.results import source_kind

    kind = source_kind(Path(path))
    if kind == "sqlite":
        with Store(path, readonly=True) as store:
            rows = store.runs()
    else:
        rows, _ = read(path, kind)
    frame = pd.DataFrame(rows)
    dtypes = {"INTEGER": "Int64", "REAL": "Float64", "TEXT": "string"}
    for name in frame.columns:
        if name in JSON_COLUMNS or name not in SCHEMA_TYPES:
            continue
        frame[name] = frame[name].astype(dtypes[SCHEMA_TYPES.get(name, "TEXT")])
    return frame
