"""Survival: a sweep killed with SIGKILL resumes without losing or duplicating a
row, and several processes write to one store at once without losing any."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sweep_support import (
    alive,
    integrity,
    plugin_environment,
    sleepy_grid,
    spec,
    worker_children,
)

from bfcbench.runner import execute

GRID = sleepy_grid(seeds=6, seconds="[0.1, 0.2, 0.3]")
GRID_RUNS = 3 * 2 * 6


def row_count(path) -> int:
    if not path.exists():
        return 0
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        connection.close()


def start_sweep(grid, store):
    environment = {**os.environ, **plugin_environment()}
    environment.pop("BFCBENCH_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bfcbench", "sweep", str(grid), "--jobs", "2"]
        + ["--store", str(store), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )


def kill_when(process, store, rows_at_least, extra_delay, timeout=120):
    """SIGKILL ``process`` ``extra_delay`` seconds after the store holds
    ``rows_at_least`` rows; returns the worker processes it had then."""
    deadline = time.monotonic() + timeout
    while row_count(store) < rows_at_least:
        if process.poll() is not None:
            pytest.fail(f"the sweep ended before the kill point: {process.stderr}")
        if time.monotonic() > deadline:
            pytest.fail("the sweep made no progress")
        time.sleep(0.01)
    time.sleep(extra_delay)
    workers = worker_children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()
    return workers


def check_store(store):
    """Integrity, one row per configuration, nothing superseded, all ok."""
    if not store.exists():  # killed before it opened the store
        return 0
    assert integrity(store) == "ok"
    connection = sqlite3.connect(store)
    try:
        keys, distinct, superseded, not_ok = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT config_key), SUM(superseded), "
            "SUM(status != 'ok') FROM runs"
        ).fetchone()
    finally:
        connection.close()
    assert keys == distinct
    assert (superseded or 0) == 0 and (not_ok or 0) == 0
    return keys


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    store = tmp_path / "runs.sqlite"
    rng = random.Random(20240917)
    counts = []

    # Kill points: once during start-up (before or around the first rows),
    # then three times after a random number of further rows, plus a random
    # fraction of a run.
    points = [(0, rng.uniform(0.5, 3.0))]
    for _ in range(3):
        points.append((None, rng.uniform(0.0, 0.3)))
    for rows_wanted, delay in points:
        before = row_count(store)
        assert before < GRID_RUNS - 4, "the grid is too short for the kill points"
        if rows_wanted is None:
            rows_wanted = before + rng.randint(1, (GRID_RUNS - before) // 4)
        process = start_sweep(grid, store)
        workers = kill_when(process, store, rows_wanted, delay)
        # The workers die with the sweep (the kernel kills them with it).
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers)
        counts.append(check_store(store))
    assert counts == sorted(counts) and counts[-1] < GRID_RUNS

    stored_before = row_count(store)
    final = start_sweep(grid, store)
    stdout, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr
    assert f"{GRID_RUNS} runs planned, {stored_before} already stored" in stderr
    assert check_store(store) == GRID_RUNS
    assert len(json.loads(stdout)) == GRID_RUNS
    print(f"rows after each SIGKILL: {counts}; after the resume: {GRID_RUNS}")


WRITER = """
import json, os, sys, time
from bfcbench.store import Store
template, writer, path, go = json.loads(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
while not os.path.exists(go):
    time.sleep(0.001)
with Store(path) as store:
    for index in range(200):
        row = dict(template, config_key=f"writer{writer}-{index:03d}", seed=index)
        store.add(row, [(index, 1, 0.5)])
"""


def test_four_processes_write_200_rows_each_to_one_store(tmp_path):
    store = tmp_path / "shared.sqlite"
    go = tmp_path / "go"
    template = execute(spec("mean")).row
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, json.dumps(template), str(index)]
            + [str(store), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]
    # Let every writer start (imports), then release them at once.
    time.sleep(1.0)
    go.touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr

    assert integrity(store) == "ok"
    connection = sqlite3.connect(store)
    try:
        per_writer = dict(
            connection.execute(
                "SELECT substr(config_key, 1, 7), COUNT(DISTINCT config_key) "
                "FROM runs GROUP BY 1"
            ).fetchall()
        )
        total = connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        points = connection.execute("SELECT COUNT(*) FROM curves").fetchone()[0]
    finally:
        connection.close()
    assert per_writer == {f"writer{index}": 200 for index in range(4)}
    assert total == 800 and points == 800
