"""``bfcbench sweep`` and the execution options of ``run``, in real subprocesses."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

import pytest
from conftest import run_cli
from sweep_support import plugin_environment, stored

from bfcbench.resources import available_cores

GRID = """\
n_train = [60, 120]
seeds = 2
n_test = 60

[[tasks]]
name = "hierarchical"
params = { d = 6, depth = 2, width = 2 }

[[learners]]
name = "mean"

[[learners]]
name = "raises"
"""
SMALL = ["--task-param", "d=6", "--task-param", "width=2", "--task-param", "depth=2"]
# The most worker processes that --jobs allows on this machine.
MOST_JOBS = 4 * available_cores()


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def sweep(*args, env=None):
    return run_cli("sweep", *args, env={**plugin_environment(), **(env or {})})


def test_sweep_stores_each_run_once_and_resumes(grid, store_path):
    first = sweep(str(grid), "--store", str(store_path), "--format", "json")
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert sorted(row["status"] for row in rows) == ["failed"] * 4 + ["ok"] * 4
    assert "8 runs planned, 0 already stored, 8 executed (4 failed, 4 ok)" in (
        first.stderr
    )

    again = sweep(str(grid), "--store", str(store_path))
    assert again.returncode == 0, again.stderr
    assert "8 runs planned, 8 already stored, 0 executed" in again.stderr
    assert len(stored(store_path)) == 8

    retried = sweep(str(grid), "--store", str(store_path), "--retry-failed")
    assert "4 already stored, 4 executed (4 failed)" in retried.stderr
    forced = sweep(str(grid), "--store", str(store_path), "--force", "--jobs", "2")
    assert "0 already stored, 8 executed (4 failed, 4 ok)" in forced.stderr

    rows = stored(store_path)
    assert len(rows) == 8 + 4 + 8
    current = [row for row in rows if row["superseded"] == 0]
    assert len(current) == 8 == len({row["config_key"] for row in current})


def test_dry_run_lists_what_would_run(grid, store_path):
    sweep(str(grid), "--store", str(store_path))
    result = sweep(str(grid), "--store", str(store_path), "--dry-run", "--retry-failed")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()[2:]]
    assert len(lines) == 8
    assert {(line[1], line[-2], line[-1]) for line in lines} == {
        ("mean", "ok", "skip"),
        ("raises", "failed", "run"),
    }
    assert len(stored(store_path)) == 8


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("seeds = 2", "seeds = [1, 1]"), "line 2: seeds: got [1, 1]"),
        (("n_test = 60", "n_test = 60\nretries = 3"), "line 4: retries: unknown key"),
        (("d = 6,", "d = 6 depth"), "line 7: not valid TOML"),
        (('name = "raises"', 'name = "mean"'), "line 12: learners[1]: got the "),
    ],
    ids=["repeated-seed", "unknown-key", "toml-syntax", "same-configuration"],
)
def test_bad_sweep_file_is_one_line_exit_2_and_nothing_stored(
    grid, store_path, edit, expected
):
    grid.write_text(GRID.replace(*edit))
    result = sweep(str(grid), "--store", str(store_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bfcbench: error: grid.toml ")
    assert expected in lines[0]
    assert result.stdout == ""
    assert not store_path.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jobs", "many"], "--jobs: got 'many'"),
        (
            ["--jobs", str(MOST_JOBS + 1)],
            f"--jobs: got {MOST_JOBS + 1}; allowed: an integer from 0 to {MOST_JOBS}",
        ),
        (["--timeout", "soon"], "--timeout: got 'soon'; allowed: a duration"),
        (["--memory-limit", "lots"], "--memory-limit: got 'lots'; allowed: a size"),
        (
            ["--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"],
            "--jobs: got 2 together with --scheduler",
        ),
        (["--jobs", "0", "--timeout", "5"], "--timeout: got 5 s with --jobs 0"),
        (["--scheduler", "the cluster"], "--scheduler: got 'the cluster'"),
    ],
)
def test_bad_execution_options_are_refused_before_anything_runs(
    store_path, args, expected
):
    result = run_cli(
        "run", *SMALL, "--learner", "mean", *args, "--store", str(store_path)
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not store_path.exists()


def test_run_goes_through_the_engine_and_resumes(store_path):
    args = [*SMALL, "--learner", "mean,linear", "--n", "50,80", "--n-test", "50"]
    options = ["--jobs", "2", "--timeout", "60", "--memory-limit", "1G"]
    first = run_cli("run", *args, *options, "--store", str(store_path))
    assert first.returncode == 0, first.stderr
    assert "4 executed (4 ok)" in first.stderr
    again = run_cli("run", *args, "--store", str(store_path), "--format", "json")
    assert "4 already stored, 0 executed" in again.stderr
    # The output still shows every planned configuration.
    assert len(json.loads(again.stdout)) == 4
    assert {row["threads"] for row in json.loads(again.stdout)} == {1}


def test_one_run_uses_one_worker_with_all_the_memory(store_path):
    # Each of MOST_JOBS workers would get a sliver of the memory; one run needs
    # one worker, which gets it all. Its threads follow --jobs, so that they do
    # not change with the number of runs left.
    result = run_cli(
        "run",
        *[*SMALL, "--learner", "mean", "--n", "200", "--format", "json"],
        *["--jobs", str(MOST_JOBS), "--store", str(store_path)],
    )
    assert result.returncode == 0, result.stderr
    assert "1 to run on 1 worker process (" in result.stderr
    [row] = json.loads(result.stdout)
    expected_threads = max(1, available_cores() // MOST_JOBS)
    assert (row["status"], row["threads"]) == ("ok", expected_threads)


def read_terminal(master: int, process: subprocess.Popen) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_is_drawn_on_a_terminal_only(grid, store_path, quiet):
    grid.write_text(GRID.replace('name = "raises"', 'name = "sleepy-mean"'))
    master, terminal = pty.openpty()
    environment = {**os.environ, **plugin_environment(), "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bfcbench", "sweep", str(grid)]
        + ["--store", str(store_path)]
        + (["-q"] if quiet else []),
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment,
    )
    os.close(terminal)
    screen = read_terminal(master, process)
    stdout = process.stdout.read().decode()
    process.wait(timeout=60)
    os.close(master)
    assert process.returncode == 0, screen
    assert "sleepy-mean" in stdout  # the table goes to stdout, not the terminal
    if quiet:
        assert screen == ""
        return
    assert "\r\x1b[2K[" in screen
    assert "/8 | 0 failed | " in screen and " elapsed, " in screen
    assert "8/8 | 0 failed" in screen
    assert "running hierarchical[d=6,depth=2,width=2] " in screen
    # Log lines are written above the bar, never through it.
    assert "8 executed (8 ok)" in screen
