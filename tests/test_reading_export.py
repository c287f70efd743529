"""Exports to CSV and Parquet round-trip without losing types (``bfcbench export``)."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from synthetic import power_law_rows, row, write_store

from bfcbench.errors import ConfigError
from bfcbench.reading.export import export_store, read, read_frame
from bfcbench.reading.results import load
from bfcbench.reading.tables import pivot_tables, render_tables
from bfcbench.store import RUN_COLUMNS, Store

INTEGER_COLUMNS = [name for name, kind, _ in RUN_COLUMNS if kind.startswith("INTEGER")]


@pytest.fixture
def store_with_everything(store_path):
    rows = [
        row("deep", 500, 0, test_nmse=0.123456789012345678, threads=4),
        row("deep", 500, 1, status="diverged", failed_step=1234, fit_seconds=2.5),
        row("kernel-poly", 500, 0, test_nmse=1e-300, ridge=3.5e-7, solver="cholesky"),
        row("kernel-poly", 500, 1, status="failed", fit_seconds=None),
        row("mean", 500, 0, test_nmse=float("inf"), superseded=1),
        row(
            "two-layer",
            500,
            0,
            learner_params={"width": 64, "activation": "relu", "lr": 0.001},
            message='comma, "quotes"\nand a newline; unicode: \u03b5 \u2264 0.1',
            feature_r2=[0.99, None, 0.5],
        ),
    ]
    curves = {0: [(100, 1, 0.25), (100, 2, None), (200, 1, 0.75)], 2: []}
    return write_store(store_path, rows, curves)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_rows_and_curves_round_trip_value_for_value(
    store_with_everything, tmp_path, fmt
):
    out = tmp_path / f"runs.{fmt}"
    assert export_store(store_with_everything, out, fmt) == 6
    rows, curves = read(out, fmt)
    with Store(store_with_everything, readonly=True) as store:
        stored = store.runs()
        stored_curve = store.curves([stored[0]["run_id"]])
    assert rows == stored
    for column in INTEGER_COLUMNS:
        assert all(r[column] is None or type(r[column]) is int for r in rows), column
    diverged = rows[1]
    assert diverged["status"] == "diverged" and diverged["failed_step"] == 1234
    assert diverged["test_nmse"] is None and diverged["test_mse"] is None
    assert rows[3]["fit_seconds"] is None
    assert math.isinf(rows[4]["test_nmse"])
    assert rows[0]["test_nmse"] == 0.123456789012345678  # exact, not rounded
    assert rows[5]["feature_r2"] == [0.99, None, 0.5]
    assert curves == {
        rows[0]["run_id"]: [(step, level, r2) for _, step, level, r2 in stored_curve]
    }


def test_parquet_declares_arrow_types(store_with_everything, tmp_path):
    out = tmp_path / "runs.parquet"
    export_store(store_with_everything, out, "parquet")
    schema = pq.read_schema(out)
    assert str(schema.field("n_train").type) == "int64"
    assert str(schema.field("failed_step").type) == "int64"
    assert str(schema.field("test_nmse").type) == "double"
    assert str(schema.field("status").type) == "string"
    table = pq.read_table(out)
    assert table.column("failed_step").null_count == 5
    assert table.column("test_nmse").null_count == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_pandas_frame_keeps_integers_and_missing(store_with_everything, tmp_path, fmt):
    import pandas as pd

    out = tmp_path / f"runs.{fmt}"
    export_store(store_with_everything, out, fmt)
    frame = read_frame(out)
    assert str(frame["failed_step"].dtype) == "Int64"
    assert str(frame["n_train"].dtype) == "Int64"
    assert str(frame["test_nmse"].dtype) == "Float64"
    assert frame["failed_step"].tolist()[:2] == [pd.NA, 1234]
    assert frame["test_nmse"].isna().tolist() == [
        False,
        True,
        False,
        True,
        False,
        False,
    ]
    assert frame["status"].tolist()[1] == "diverged"


def test_empty_text_survives_parquet_but_not_csv(store_path, tmp_path):
    write_store(store_path, [row("deep", message="")])
    export_store(store_path, tmp_path / "runs.parquet", "parquet")
    export_store(store_path, tmp_path / "runs.csv", "csv")
    assert read(tmp_path / "runs.parquet", "parquet")[0][0]["message"] == ""
    # documented: CSV writes both as an empty field and reads them back missing
    assert read(tmp_path / "runs.csv", "csv")[0][0]["message"] is None


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_readers_take_an_export_in_place_of_the_store(store_path, tmp_path, fmt):
    write_store(
        store_path,
        [*power_law_rows("deep", 20, 0.8), row("deep", 500, 0, 9.9, superseded=1)],
    )
    out = tmp_path / f"runs.{fmt}"
    export_store(store_path, out, fmt)
    from_store = render_tables(pivot_tables(load(store_path)), "csv")
    from_export = render_tables(pivot_tables(load(out)), "csv")
    assert from_export == from_store


def test_a_file_that_is_no_export_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="--store: got .*other.csv"):
        load(path)


def test_export_command_infers_the_format_and_refuses_an_unknown_one(
    store_with_everything, tmp_path
):
    out = tmp_path / "runs.parquet"
    result = run_cli("export", "--store", str(store_with_everything), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert pq.read_metadata(out).num_rows == 6

    bad = run_cli(
        "export", "--store", str(store_with_everything), "--out", str(tmp_path / "x")
    )
    assert bad.returncode == 2
    assert "--out: got" in bad.stderr and "--to csv|parquet" in bad.stderr
