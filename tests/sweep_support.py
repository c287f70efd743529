"""Helpers of the sweep tests: plugin environment, small specs, a Dask cluster."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bfcbench import registry
from bfcbench.params import resolve
from bfcbench.runner import RunSpec

TESTS = Path(__file__).resolve().parent
SMALL_TASK = {"d": 8, "depth": 2, "width": 2}
# The dask command of this environment (a console script: the worker runs in the
# process it starts, so without a nanny its pid is the worker's).
DASK = [str(Path(sys.executable).with_name("dask"))]


# Columns that say what a run computed (not when, where or how fast).
def sleepy_grid(seeds: int, seconds: str) -> str:
    """A sweep file: the small hierarchical task at n = 100 and 200, ``seeds``
    seeds, and ``sleepy-mean`` (a plugin learner) sleeping ``seconds`` (a TOML
    value: one number or a list, each list entry a learner configuration)."""
    return f"""\
n_train = [100, 200]
seeds = {seeds}
n_test = 100

[[tasks]]
name = "hierarchical"
params = {{ d = 8, depth = 2, width = 2 }}

[[learners]]
name = "sleepy-mean"
params = {{ seconds = {seconds} }}
"""


RESULT_COLUMNS = (
    "config_key",
    "status",
    "message",
    "test_mse",
    "test_nmse",
    "train_mse",
    "choices",
    "stop_reason",
    "failed_step",
    "ridge",
    "solver",
    "feature_r2",
    "dtype",
    "device",
    "threads",
)


def plugin_environment(**extra: str) -> dict[str, str]:
    """Environment under which subprocesses see the learners of faulty_learners."""
    paths = [str(TESTS), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    return {
        "PYTHONPATH": os.pathsep.join(paths),
        "BFCBENCH_PLUGINS": "faulty_learners",
        **extra,
    }


def spec(
    learner: str,
    n_train: int = 100,
    seed: int = 0,
    n_test: int = 100,
    threads: int | None = 1,
    **params: Any,
) -> RunSpec:
    """A run of ``learner`` on the small hierarchical task, parameters resolved."""
    task_values = resolve(
        registry.task_class("hierarchical").params, SMALL_TASK, "task"
    )
    learner_values = resolve(registry.learner_class(learner).params, params, "learner")
    return RunSpec(
        "hierarchical",
        task_values,
        learner,
        learner_values,
        n_train,
        seed,
        n_test=n_test,
        threads=threads,
    )


def stored(path: Path, where: str = "1") -> list[dict[str, Any]]:
    """Rows of the store at ``path`` read with plain sqlite3, as dicts."""
    connection = sqlite3.connect(path, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        return [
            dict(row)
            for row in connection.execute(
                f"SELECT * FROM runs WHERE {where} ORDER BY run_id"
            )
        ]
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):  # the store is being created
            return []
        raise
    finally:
        connection.close()


def integrity(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def children(pid: int) -> list[int]:
    """Process ids of the direct children of ``pid`` (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def worker_children(pid: int) -> list[int]:
    """Live children of ``pid`` that are bfcbench worker processes."""
    found = []
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bfcbench.worker" in command and alive(child):
            found.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class DaskCluster:
    """A real Dask scheduler and workers, as subprocesses bound to 127.0.0.1.

    Parameters
    ----------
    directory : Path
        Where the scheduler file, logs and worker directories go.
    workers : int, default=2
        Worker processes, one thread each, no nanny (a killed worker stays dead).
    environment : dict, optional
        Extra environment of the workers (the plugin hook).
    """

    def __init__(
        self,
        directory: Path,
        workers: int = 2,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.scheduler_file = directory / "scheduler.json"
        self.environment = {**os.environ, **(environment or {})}
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""
        self.n_workers = workers

    def __enter__(self) -> DaskCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.scheduler = self._spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.scheduler_file),
            ],
        )
        self.address = self._wait_for_address()
        for index in range(self.n_workers):
            self.workers.append(
                self._spawn(
                    f"worker-{index}",
                    [
                        "worker",
                        self.address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"worker-{index}",
                        "--local-directory",
                        str(self.directory / f"worker-{index}"),
                    ],
                )
            )
        self._wait_for_workers()

    def _spawn(self, name: str, arguments: list[str]) -> subprocess.Popen:
        with open(self.directory / f"{name}.log", "wb") as log:
            return subprocess.Popen(
                [*DASK, *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                start_new_session=True,
            )

    def _wait_for_address(self, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.scheduler_file.exists():
                try:
                    return json.loads(self.scheduler_file.read_text())["address"]
                except (ValueError, KeyError):
                    pass
            if self.scheduler is not None and self.scheduler.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the Dask scheduler did not start: {self.log('scheduler')}")

    def _wait_for_workers(self, seconds: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(self.n_workers, timeout=seconds)

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in [*self.workers, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
