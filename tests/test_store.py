"""The SQLite result store on disk."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import run_cli

from bfcbench.errors import StoreError
from bfcbench.runner import RunSpec, execute
from bfcbench.store import COLUMN_NAMES, SCHEMA_VERSION, Store, default_path
from bfcbench.tasks.hierarchical import Hierarchical


def mean_row(seed=0):
    spec = RunSpec(
        "hierarchical", Hierarchical(d=6, width=2).values, "mean", {}, 100, seed
    )
    return execute(spec).row


def test_row_round_trips_with_every_column(store_path):
    row = mean_row()
    with Store(store_path) as store:
        run_id = store.add(row, [(10, 1, 0.5), (20, 1, 0.75)])
        (stored,) = store.runs()
        curve = store.curves([run_id])
    assert set(stored) == set(COLUMN_NAMES)
    assert stored["run_id"] == run_id
    assert stored["status"] == "ok"
    assert stored["test_nmse"] == pytest.approx(row["test_nmse"])
    assert stored["task_params"] == row["task_params"]
    assert stored["choices"] == row["choices"]
    assert stored["superseded"] == 0
    assert curve == [(run_id, 10, 1, 0.5), (run_id, 20, 1, 0.75)]


def test_schema_version_is_recorded(store_path):
    Store(store_path).close()
    connection = sqlite3.connect(store_path)
    (version,) = connection.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'"
    ).fetchone()
    assert int(version) == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_values_stay_missing(store_path):
    row = mean_row() | {"status": "failed", "test_mse": None, "test_nmse": None}
    with Store(store_path) as store:
        store.add(row)
    connection = sqlite3.connect(store_path)
    nmse, kind = connection.execute(
        "SELECT test_nmse, typeof(test_nmse) FROM runs"
    ).fetchone()
    assert nmse is None and kind == "null"


def test_unknown_status_is_rejected_by_the_schema(store_path):
    with Store(store_path) as store, pytest.raises(sqlite3.IntegrityError):
        store.add(mean_row() | {"status": "great"})
    with Store(store_path) as store:
        assert store.runs() == []


def test_newer_schema_is_refused(store_path):
    Store(store_path).close()
    connection = sqlite3.connect(store_path)
    connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="schema version 999"):
        Store(store_path)


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE unrelated (x)")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError):
        Store(path, readonly=True)


def test_default_path_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("BFCBENCH_STORE", raising=False)
    assert str(default_path()) == "results/bfcbench.sqlite"
    monkeypatch.setenv("BFCBENCH_STORE", str(tmp_path / "env.sqlite"))
    assert default_path() == tmp_path / "env.sqlite"
    assert default_path(tmp_path / "given.sqlite") == tmp_path / "given.sqlite"


def test_rows_from_two_connections_are_both_kept(store_path):
    first, second = Store(store_path), Store(store_path)
    first.add(mean_row(0))
    second.add(mean_row(1))
    first.close()
    second.close()
    with Store(store_path) as store:
        assert [row["seed"] for row in store.runs()] == [0, 1]


OPENER = """
import os, sys, time
from bfcbench.store import Store
path, go = sys.argv[1:]
while not os.path.exists(go):
    time.sleep(0.0005)
with Store(path):
    pass
"""


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path):
    # The first opening switches the file to WAL, which SQLite refuses at once
    # ("database is locked") to every other process doing the same.
    failures = []
    for round_ in range(8):
        path = tmp_path / f"new{round_}.sqlite"
        go = tmp_path / f"go{round_}"
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(path), str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        time.sleep(0.5)
        go.touch()
        for opener in openers:
            _, stderr = opener.communicate(timeout=120)
            if opener.returncode != 0:
                failures.append(stderr.strip().splitlines()[-1])
        with Store(path) as store:
            assert store.connection.execute("PRAGMA journal_mode").fetchone() == (
                "wal",
            )
    assert failures == []


def _foreign(path, *statements):
    connection = sqlite3.connect(path)
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()
    return path


def _tables(path):
    connection = sqlite3.connect(path)
    try:
        return sorted(
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        )
    finally:
        connection.close()


def test_another_database_is_never_written_into(tmp_path):
    other = _foreign(tmp_path / "other.sqlite", "CREATE TABLE foo (x)")
    with pytest.raises(StoreError, match="not a bfcbench store .*tables: foo"):
        Store(other)
    assert _tables(other) == ["foo"]
    # One with a table called runs, too: refused the same way, not half-read.
    runs = _foreign(tmp_path / "runs.sqlite", "CREATE TABLE runs (id)")
    with pytest.raises(StoreError, match="not a bfcbench store"):
        Store(runs)
    assert _tables(runs) == ["runs"]


@pytest.mark.parametrize("version", ["abc", "0", "-3", "1.5"])
def test_a_damaged_schema_version_is_refused(store_path, version):
    Store(store_path).close()
    connection = sqlite3.connect(store_path)
    update = "UPDATE meta SET value = ? WHERE key = 'schema_version'"
    connection.execute(update, (version,))
    connection.commit()
    connection.close()
    for readonly in (True, False):
        with pytest.raises(StoreError, match="damaged schema version"):
            Store(store_path, readonly=readonly)


def test_cli_refuses_files_that_are_not_stores_in_one_line(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello\n")
    other = _foreign(tmp_path / "other.sqlite", "CREATE TABLE foo (x)")
    damaged = tmp_path / "damaged.sqlite"
    Store(damaged).close()
    _foreign(damaged, "UPDATE meta SET value = 'abc' WHERE key = 'schema_version'")
    # Readers take exports too, so a text file reads there as a bad CSV.
    expected = {
        text: ("which is not an SQLite database", "its header lacks the run columns"),
        other: ("which is another database (tables: foo)",) * 2,
        damaged: ("which has a damaged schema version ('abc')",) * 2,
    }
    for path, reasons in expected.items():
        before = path.read_bytes()
        commands = (["run", "--learner", "mean", "--n", "50"], ["table"])
        for command, reason in zip(commands, reasons, strict=True):
            result = run_cli(*command, "--store", str(path))
            assert result.returncode == 2, result.stderr
            (line,) = result.stderr.splitlines()
            assert line.startswith(f"bfcbench: error: --store: got {str(path)!r}")
            assert reason in line, line
        assert path.read_bytes() == before
    empty = run_cli("table", "--store", "")
    assert empty.returncode == 2
    assert empty.stderr.startswith("bfcbench: error: --store: got ''; allowed:")
