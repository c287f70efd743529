"""Sweeps on a real Dask cluster: a scheduler and two workers on 127.0.0.1.

The same rows as the local executors, value for value; timeouts and crashes
isolated as locally; a worker killed mid-sweep loses no run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sweep_support import (
    RESULT_COLUMNS,
    DaskCluster,
    alive,
    integrity,
    plugin_environment,
    sleepy_grid,
    spec,
    stored,
    worker_children,
)

from bfcbench.engine import DaskExecutor, Job, ProcessPoolExecutor, run_sweep
from bfcbench.errors import ConfigError
from bfcbench.store import Store

FAST = {"steps": 150, "eval_every": 50, "width": 16}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskCluster(
        tmp_path_factory.mktemp("dask"), environment=plugin_environment()
    ) as running:
        yield running


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.setenv("BFCBENCH_PLUGINS", "faulty_learners")


def equality_jobs():
    runs = []
    for seed in (0, 1):
        runs += [
            spec("mean", n_train=200, seed=seed),
            spec("linear", n_train=200, seed=seed),
            spec("kernel-poly", n_train=200, seed=seed, degree=3),
            spec("deep", n_train=200, seed=seed, **FAST),
        ]
    # One thread per run everywhere: results depend on the thread count in
    # their last bits, so executors are compared at the same count.
    return [Job(run, memory_limit=2**30) for run in runs]


def sweep_into(path, executor, jobs):
    with executor, Store(path) as store:
        report = run_sweep(jobs, store, executor)
    assert report.executed == len(jobs)
    return {row["config_key"]: row for row in stored(path)}


def test_every_executor_gives_the_same_rows(cluster, tmp_path):
    jobs = equality_jobs()
    results = {
        "sequential": sweep_into(
            tmp_path / "sequential.sqlite", ProcessPoolExecutor(1), jobs
        ),
        "two workers": sweep_into(
            tmp_path / "pool.sqlite", ProcessPoolExecutor(2), jobs
        ),
        "dask": sweep_into(
            tmp_path / "dask.sqlite", DaskExecutor(cluster.address), jobs
        ),
    }
    reference = results["sequential"]
    assert len(reference) == len(jobs)
    assert {row["status"] for row in reference.values()} == {"ok"}
    for name, rows in results.items():
        assert rows.keys() == reference.keys(), name
        for key, row in rows.items():
            for column in RESULT_COLUMNS:
                assert row[column] == reference[key][column], (name, column)


def test_timeouts_and_crashes_are_isolated_on_dask(cluster, tmp_path, plugins):
    jobs = [
        Job(spec("hangs"), timeout=3.0),
        Job(spec("segfault")),
        Job(spec("mean")),
        Job(spec("raises")),
    ]
    with (
        DaskExecutor(cluster.address) as executor,
        Store(tmp_path / "runs.sqlite") as store,
    ):
        run_sweep(jobs, store, executor)
        rows = {row["learner"]: row for row in store.runs()}
    assert rows["hangs"]["status"] == "timeout"
    assert "wall-clock limit of 3 s" in rows["hangs"]["message"]
    assert rows["segfault"]["status"] == "failed"
    assert "SIGSEGV" in rows["segfault"]["message"]
    assert rows["raises"]["status"] == "failed"
    assert rows["mean"]["status"] == "ok"


def test_unreachable_scheduler_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^--scheduler: got 'tcp://127.0.0.1:9'"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2)


KILL_GRID = sleepy_grid(seeds=6, seconds="0.3")


def test_a_dask_worker_killed_mid_sweep_loses_no_run(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(KILL_GRID)
    store = tmp_path / "runs.sqlite"
    with DaskCluster(tmp_path, environment=plugin_environment()) as cluster:
        environment = {**os.environ, **plugin_environment()}
        sweep = subprocess.Popen(
            [sys.executable, "-m", "bfcbench", "sweep", str(grid)]
            + ["--scheduler", cluster.address, "--threads", "1"]
            + ["--store", str(store), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
        )
        victim = cluster.workers[0]
        deadline = time.monotonic() + 120
        while True:
            rows = len(stored(store)) if store.exists() else 0
            runs = worker_children(victim.pid)
            if rows >= 3 and runs:
                break
            assert sweep.poll() is None, sweep.stderr.read()
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

        stdout, stderr = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, stderr
        # The run the killed worker was executing died with it.
        assert not any(alive(pid) for pid in runs)

    rows = stored(store)
    assert integrity(store) == "ok"
    assert len(rows) == 12 and len({row["config_key"] for row in rows}) == 12
    assert len(json.loads(stdout)) == 12
    statuses = [row["status"] for row in rows]
    lost = [row for row in rows if row["status"] != "ok"]
    # Rescheduled on the surviving worker, or recorded as lost with the reason.
    assert all("Dask workers that ran it died" in row["message"] for row in lost)
    print(f"killed worker: {statuses.count('ok')} ok, {len(lost)} recorded lost")


def test_a_lost_scheduler_stops_the_sweep_and_a_new_cluster_resumes_it(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(KILL_GRID)
    store = tmp_path / "runs.sqlite"
    environment = {**os.environ, **plugin_environment()}

    def sweep_on(cluster):
        return subprocess.Popen(
            [sys.executable, "-m", "bfcbench", "sweep", str(grid)]
            + ["--scheduler", cluster.address, "--threads", "1"]
            + ["--store", str(store), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
        )

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    with DaskCluster(tmp_path / "first", environment=plugin_environment()) as cluster:
        sweep = sweep_on(cluster)
        deadline = time.monotonic() + 120
        while not (store.exists() and len(stored(store)) >= 3):
            assert sweep.poll() is None, sweep.stderr.read()
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        cluster.scheduler.send_signal(signal.SIGKILL)
        stdout, stderr = sweep.communicate(timeout=300)

    # Stopped with one line; what finished is kept, nothing is recorded as
    # failed for runs that were never run.
    assert sweep.returncode == 1, stderr
    assert stdout == ""
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in stderr
    assert errors[0].startswith("bfcbench: error: lost the Dask scheduler at")
    assert "run the same command again to resume" in errors[0]
    kept = stored(store)
    assert 3 <= len(kept) < 12
    assert {row["status"] for row in kept} == {"ok"}

    with DaskCluster(tmp_path / "second", environment=plugin_environment()) as cluster:
        stdout, stderr = sweep_on(cluster).communicate(timeout=300)
    assert f"12 runs planned, {len(kept)} already stored" in stderr
    rows = stored(store)
    assert integrity(store) == "ok"
    assert len(rows) == 12 and len({row["config_key"] for row in rows}) == 12
    assert {row["status"] for row in rows} == {"ok"}
    assert {row["run_id"] for row in kept} <= {row["run_id"] for row in rows}


PLUGIN_GRID = sleepy_grid(seeds=2, seconds="0.1")


def test_workers_without_the_plugin_stop_the_sweep_and_store_nothing(
    tmp_path, monkeypatch
):
    grid = tmp_path / "grid.toml"
    grid.write_text(PLUGIN_GRID)
    store = tmp_path / "runs.sqlite"
    # Only the sweep process knows the plugin: the workers' environment lacks it.
    monkeypatch.delenv("BFCBENCH_PLUGINS", raising=False)
    environment = {**os.environ, **plugin_environment()}

    def sweep_on(cluster):
        return subprocess.run(
            [sys.executable, "-m", "bfcbench", "sweep", str(grid)]
            + ["--scheduler", cluster.address, "--store", str(store)],
            capture_output=True,
            env=environment,
            text=True,
            timeout=300,
        )

    for name in ("bare", "plugged"):
        (tmp_path / name).mkdir()
    with DaskCluster(tmp_path / "bare") as cluster:
        refused = sweep_on(cluster)
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout == ""
    errors = [line for line in refused.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert errors[0].startswith(
        f"bfcbench: error: the Dask workers at {cluster.address} cannot run "
        "hierarchical[d=8,depth=2,width=2] sleepy-mean[seconds=0.1] n="
    )
    assert ": --learner: got 'sleepy-mean'; allowed: " in errors[0]
    assert "BFCBENCH_PLUGINS on the workers" in errors[0]
    assert stored(store) == []

    with DaskCluster(tmp_path / "plugged", environment=plugin_environment()) as cluster:
        completed = sweep_on(cluster)
    assert completed.returncode == 0, completed.stderr
    assert "4 runs planned, 0 already stored, 4 executed (4 ok)" in completed.stderr
    assert [row["status"] for row in stored(store)] == ["ok"] * 4
