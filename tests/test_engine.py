"""The sweep engine in this process: resume, retry, force, budgets, settings.

These use the in-process executor, so they cost no worker start; the isolated
executors are tested in test_isolation.py, test_survival.py and test_dask.py.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest
from sweep_support import spec

from bfcbench.engine import (
    EngineSettings,
    InlineExecutor,
    Job,
    ProcessPoolExecutor,
    jobs_for,
    pending_from_statuses,
    run_sweep,
)
from bfcbench.errors import ConfigError
from bfcbench.isolation import WorkerProcess, unfinished
from bfcbench.progress import Progress
from bfcbench.resources import (
    AUTO,
    available_cores,
    default_memory_limit,
    parse_duration,
    parse_size,
    physical_memory,
    threads_per_run,
)
from bfcbench.store import Store


@pytest.fixture(autouse=True)
def plugins(monkeypatch):
    monkeypatch.setenv("BFCBENCH_PLUGINS", "faulty_learners")


def sweep(store_path, jobs, **options):
    with Store(store_path) as store:
        report = run_sweep(jobs, store, InlineExecutor(), **options)
        rows = store.runs()
    return report, rows


def current(rows):
    return [row for row in rows if row["superseded"] == 0]


def test_resume_runs_only_what_is_missing(store_path):
    first = [Job(spec("mean", seed=seed)) for seed in range(3)]
    report, rows = sweep(store_path, first)
    assert (report.executed, report.stored_before) == (3, 0)

    more = [Job(spec("mean", seed=seed)) for seed in range(5)]
    report, rows = sweep(store_path, more)
    assert (report.executed, report.stored_before) == (2, 3)
    assert sorted(row["seed"] for row in rows) == [0, 1, 2, 3, 4]
    assert report.keys == [job.spec.key() for job in more]


def test_retry_failed_reruns_only_the_failures_and_supersedes_them(store_path):
    jobs = [Job(spec("mean")), Job(spec("raises")), Job(spec("nan-loss"))]
    report, _ = sweep(store_path, jobs)
    assert report.statuses == Counter(ok=1, failed=1, diverged=1)

    report, _ = sweep(store_path, jobs)
    assert report.executed == 0

    report, rows = sweep(store_path, jobs, retry_failed=True)
    assert report.executed == 2 and report.stored_before == 1
    assert len(rows) == 5
    assert Counter(row["learner"] for row in current(rows)) == Counter(
        {"mean": 1, "raises": 1, "nan-loss": 1}
    )
    old = [row for row in rows if row["superseded"] == 1]
    assert sorted(row["learner"] for row in old) == ["nan-loss", "raises"]


def test_force_reruns_everything_and_keeps_the_old_rows(store_path):
    jobs = [Job(spec("mean", seed=seed)) for seed in range(2)] + [
        Job(spec("linear", seed=0))
    ]
    sweep(store_path, jobs)
    report, rows = sweep(store_path, jobs, force=True)
    assert report.executed == 3 and report.stored_before == 0
    assert len(rows) == 6
    assert [row["superseded"] for row in rows] == [1, 1, 1, 0, 0, 0]
    # One current row per configuration, and a re-run gives the same numbers.
    assert len({row["config_key"] for row in current(rows)}) == 3
    for old, new in zip(rows[:3], rows[3:], strict=True):
        assert old["config_key"] == new["config_key"]
        assert old["test_mse"] == new["test_mse"]


def test_the_same_configuration_twice_is_refused_before_anything_runs(store_path):
    job = Job(spec("mean"))
    with Store(store_path) as store:
        with pytest.raises(ConfigError, match="twice"):
            run_sweep([job, Job(spec("mean"))], store, InlineExecutor())
        assert store.runs() == []


def test_exact_kernel_fit_over_budget_is_skipped_with_its_estimate(store_path):
    budget = 64 * 2**20
    jobs = [
        Job(spec("kernel-poly", n_train=20_000), memory_limit=budget),
        Job(spec("kernel-poly", n_train=100), memory_limit=budget),
    ]
    report, rows = sweep(store_path, jobs)
    skipped, fitted = rows
    assert skipped["status"] == "skipped"
    assert "estimated peak memory 8.95 GiB (9605120000 bytes)" in skipped["message"]
    assert "64 MiB" in skipped["message"]
    assert skipped["fit_seconds"] is None and skipped["test_nmse"] is None
    assert fitted["status"] == "ok"


def test_skipped_runs_are_retried_under_a_larger_budget(store_path):
    job = Job(spec("kernel-poly", n_train=3000), memory_limit=64 * 2**20)
    sweep(store_path, [job])
    report, rows = sweep(
        store_path, [Job(job.spec, memory_limit=2**30)], retry_failed=True
    )
    assert [row["status"] for row in rows] == ["skipped", "ok"]


def test_statuses_decide_what_runs():
    jobs = [Job(spec("mean", seed=seed)) for seed in range(6)]
    statuses = dict(
        zip(
            [job.spec.key() for job in jobs],
            ["ok", "failed", "timeout", "oom", "diverged", "skipped"],
            strict=True,
        )
    )
    assert pending_from_statuses(jobs, statuses) == ([], 6)
    retried, stored = pending_from_statuses(jobs, statuses, retry_failed=True)
    assert [job.spec.seed for job in retried] == [1, 2, 3, 4, 5] and stored == 1
    assert pending_from_statuses(jobs, statuses, force=True) == (jobs, 0)
    assert pending_from_statuses(jobs, {}) == (jobs, 0)


def test_jobs_take_learner_timeouts_over_the_default():
    specs = [spec("mean"), spec("linear")]
    jobs = jobs_for(specs, timeout=60.0, timeouts={specs[1].key(): 5.0}, threads=None)
    assert [job.timeout for job in jobs] == [60.0, 5.0]
    assert all(job.memory_limit == AUTO for job in jobs)


def test_threads_fill_in_only_where_the_spec_has_none():
    jobs = jobs_for([spec("mean", threads=None), spec("linear", threads=2)], threads=1)
    assert [job.spec.threads for job in jobs] == [1, 2]
    # The thread count is not part of the configuration key.
    assert jobs[0].spec.key() == spec("mean", threads=None).key()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (EngineSettings(jobs=2, scheduler="tcp://127.0.0.1:8786"), "--jobs: got 2"),
        (EngineSettings(jobs=0, timeout=5.0), "--timeout: got 5 s with --jobs 0"),
    ],
)
def test_contradictory_settings_are_refused(settings, expected):
    with pytest.raises(ConfigError, match=expected):
        settings.check()


@pytest.mark.parametrize("extra", [1, 1000])
def test_more_jobs_than_four_per_core_are_refused(extra):
    jobs = 4 * available_cores() + extra
    settings = EngineSettings(jobs=jobs)
    with pytest.raises(
        ConfigError,
        match=rf"^--jobs: got {jobs}; allowed: an integer from 0 to "
        rf"{4 * available_cores()} \(4 per core",
    ):
        settings.check()


def test_four_jobs_per_core_are_allowed():
    EngineSettings(jobs=4 * available_cores()).check()


@pytest.mark.parametrize(
    ("workers", "runs", "used"), [(64, 1, 1), (40, 4, 4), (2, 5, 2), (3, 3, 3)]
)
def test_budget_follows_the_workers_really_used_and_threads_the_jobs_asked(
    monkeypatch, store_path, workers, runs, used
):
    # Record what each worker process would be given, without starting any.
    given = []

    def record(self, job, should_stop=None):
        given.append(job)
        return unfinished(job, "failed", "not run by this test")

    monkeypatch.setattr(WorkerProcess, "run", record)
    jobs = [
        Job(spec("mean", seed=seed, threads=None), None, AUTO) for seed in range(runs)
    ]
    with ProcessPoolExecutor(workers) as executor, Store(store_path) as store:
        description = executor.describe(runs)
        report = run_sweep(jobs, store, executor)
    assert report.executed == runs
    assert {job.memory_limit for job in given} == {default_memory_limit(used)}
    # Threads do not depend on how many runs are left: a resumed tail computes
    # the same last bits as the full sweep would have.
    assert {job.spec.threads for job in given} == {threads_per_run(workers)}
    assert description.startswith(f"{used} worker process")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), (30, 30.0)],
)
def test_durations(text, seconds):
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "5d", True])
def test_bad_durations(text):
    with pytest.raises(ConfigError, match=r"^--timeout: got .*; allowed: a duration"):
        parse_duration(text, "--timeout")


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5g", int(1.5 * 2**30))]
    + [("2GiB", 2 * 2**30), ("auto", AUTO), ("none", None)],
)
def test_sizes(text, size):
    assert parse_size(text, "--memory-limit") == size


@pytest.mark.parametrize("text", ["lots", "12Q", "100", "0.5k", True])
def test_bad_sizes(text):
    with pytest.raises(ConfigError, match=r"^--memory-limit: got .*; allowed: a size"):
        parse_size(text, "--memory-limit")


def test_default_budget_is_an_equal_part_of_half_the_machine():
    total = physical_memory()
    assert total is not None and total > 0
    assert default_memory_limit(1) == total // 2
    assert default_memory_limit(4) == total // 8


@pytest.mark.parametrize(
    ("runs", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8)]
)
def test_threads_share_the_cores(runs, cores, threads):
    assert threads_per_run(runs, cores) == threads


def test_progress_is_silent_when_the_stream_is_not_a_terminal(store_path):
    stream = io.StringIO()
    progress = Progress(stream=stream)
    assert not progress.enabled
    with Store(store_path) as store:
        run_sweep([Job(spec("mean"))], store, InlineExecutor(), listener=progress)
    assert stream.getvalue() == ""


def test_progress_line_shows_counts_failures_times_and_configuration(store_path):
    stream = io.StringIO()
    progress = Progress(stream=stream, enabled=True, interval=60)
    jobs = [Job(spec("mean")), Job(spec("raises")), Job(spec("linear"))]
    seen = []
    progress_finished = progress.finished

    def finished(job, outcome):
        progress_finished(job, outcome)
        seen.append(progress.line())

    progress.finished = finished
    with Store(store_path) as store:
        run_sweep(jobs, store, InlineExecutor(), listener=progress)
    assert seen[0].startswith("[#######.............] 1/3 | 0 failed | ")
    assert "elapsed" in seen[0] and "left" in seen[0]
    assert "last hierarchical[d=8,depth=2,width=2] mean n=100 seed=0" in seen[0]
    assert " 2/3 | 1 failed | " in seen[1]
    assert "\r\x1b[2K" in stream.getvalue()
    assert stream.getvalue().endswith("\r\x1b[2K")
