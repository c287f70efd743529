"""Isolation: each failure costs its own run only, with the status it deserves.

One sweep through two worker processes mixes good runs with a learner that
raises, one that hangs past its wall-clock limit, one whose loss goes to inf,
one that allocates far beyond its memory budget, one that crashes with a
segmentation fault, one killed by SIGKILL with its memory nearly full (the
imitation of the kernel's OOM killer), a real network that diverges and an
exact kernel fit too large for the budget. The tests below read its rows.
"""

from __future__ import annotations

import os
import time

import pytest
from sweep_support import alive, plugin_environment, spec, worker_children

from bfcbench import resources
from bfcbench.engine import Job, ProcessPoolExecutor, run_sweep
from bfcbench.resources import AUTO
from bfcbench.store import Store

BUDGET = 512 * 2**20
HANG_LIMIT = 3.0

FAST_DEEP = {"steps": 100, "eval_every": 50, "width": 16}
RUNS = {
    "mean-0": ("mean", {"seed": 0}),
    "mean-1": ("mean", {"seed": 1}),
    "linear": ("linear", {}),
    "raises": ("raises", {}),
    "hangs": ("hangs", {}),
    "nan-loss": ("nan-loss", {}),
    "memory-hog": ("memory-hog", {"megabytes": 2048}),
    "segfault": ("segfault", {}),
    "oom-killed": ("oom-killed", {}),
    "deep-diverges": (
        "deep",
        {"n_train": 200, "optimizer": "sgd", "learning_rate": 1e4, **FAST_DEEP},
    ),
    "kernel-too-big": ("kernel-poly", {"n_train": 20_000}),
    "mean-2": ("mean", {"seed": 2}),
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Run the mixed sweep once; rows by name, the report and the worker pids."""
    path = tmp_path_factory.mktemp("isolation") / "runs.sqlite"
    environment = plugin_environment(BFCBENCH_TEST_MEMORY_LIMIT=str(BUDGET))
    with pytest.MonkeyPatch.context() as patch:
        # This process builds the rows of runs that never return: it needs the
        # plugins too.
        patch.setenv("BFCBENCH_PLUGINS", environment["BFCBENCH_PLUGINS"])
        specs = {
            name: spec(learner, **arguments)
            for name, (learner, arguments) in RUNS.items()
        }
        jobs = [
            Job(
                run,
                timeout=HANG_LIMIT if name == "hangs" else None,
                memory_limit=BUDGET,
            )
            for name, run in specs.items()
        ]
        with ProcessPoolExecutor(2, environment=environment) as executor:
            with Store(path) as store:
                report = run_sweep(jobs, store, executor)
                rows = store.runs()
            workers = [process.pid for process in executor._processes]
        names = {run.key(): name for name, run in specs.items()}
    return {names[row["config_key"]]: row for row in rows}, report, workers


EXPECTED = {
    "mean-0": ("ok", None),
    "mean-1": ("ok", None),
    "mean-2": ("ok", None),
    "linear": ("ok", None),
    "raises": ("failed", "RuntimeError: deliberate failure in fit"),
    "hangs": ("timeout", f"stopped at the wall-clock limit of {HANG_LIMIT:g} s"),
    "nan-loss": ("diverged", "training loss is inf at step"),
    "memory-hog": ("oom", "MemoryError: Unable to allocate 2.00 GiB"),
    "segfault": (
        "failed",
        "died of SIGSEGV (segmentation fault); last words: Fatal Python error: "
        "Segmentation fault, in fit (faulty_learners.py",
    ),
    "oom-killed": ("oom", "killed by SIGKILL, not sent by bfcbench"),
    "deep-diverges": ("diverged", "at step"),
    "kernel-too-big": ("skipped", "not attempted: estimated peak memory 8.95 GiB"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_run_gets_its_status_and_message(sweep, name):
    rows, _, _ = sweep
    status, message = EXPECTED[name]
    row = rows[name]
    assert row["status"] == status, row["message"]
    if message is None:
        assert row["test_nmse"] is not None and row["message"] is None
    else:
        assert message in row["message"]
        # A run that did not finish has no error values: empty, never 0.
        assert row["test_nmse"] is None and row["test_mse"] is None


def test_every_run_is_stored_once_and_the_sweep_went_on(sweep):
    rows, report, _ = sweep
    assert set(rows) == set(RUNS)
    assert report.executed == len(RUNS)
    assert report.statuses["ok"] == 4


def test_hang_is_stopped_at_the_limit_not_when_it_ends(sweep):
    rows, _, _ = sweep
    # "after X s" in the message: the time from dispatch to the kill.
    after = float(rows["hangs"]["message"].rsplit("after ", 1)[1].split(" s")[0])
    # The learner sleeps an hour; anything near the limit means it was stopped.
    assert HANG_LIMIT <= after < HANG_LIMIT + 30


def test_diverged_rows_say_when(sweep):
    rows, _, _ = sweep
    assert rows["nan-loss"]["failed_step"] >= 2
    assert rows["deep-diverges"]["failed_step"] >= 1


def test_rows_record_the_threads_of_the_run(sweep):
    rows, _, _ = sweep
    assert {row["threads"] for row in rows.values()} == {1}


def test_no_worker_process_outlives_the_sweep(sweep):
    _, _, workers = sweep
    deadline = time.monotonic() + 10
    while any(pid and alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid and alive(pid) for pid in workers)
    assert worker_children(os.getpid()) == []


def test_a_run_with_many_jobs_allowed_gets_the_whole_budget(monkeypatch, tmp_path):
    # Half of 2 GiB shared among 64 workers leaves 16 MiB, not enough for the
    # mean's test sample; the one run uses one worker and gets all of it.
    monkeypatch.setattr(resources, "physical_memory", lambda: 2 * 2**30)
    job = Job(spec("mean", n_test=4000, threads=None), memory_limit=AUTO)
    with ProcessPoolExecutor(64) as executor, Store(tmp_path / "runs.sqlite") as store:
        run_sweep([job], store, executor)
        rows = store.runs()
        started = executor.processes_started
    assert [row["status"] for row in rows] == ["ok"], rows[0]["message"]
    # Threads follow the jobs asked for, not the runs left (reproducible tails).
    assert rows[0]["threads"] == resources.threads_per_run(64)
    assert started == 1
