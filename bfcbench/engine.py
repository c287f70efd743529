"""The sweep engine behind ``bfcbench run`` and ``bfcbench sweep``.

A sweep is a list of :class:`~bfcbench.isolation.Job` objects (a run spec and
the limits it runs under). :func:`run_sweep` skips what the store already holds
(resume), hands the rest to an executor, and commits every outcome as it
arrives, one transaction per run, in this process only, so that each finished
run is stored exactly once whatever the executor.

Resume: a configuration is identified by :meth:`RunSpec.key` (task, task version
and parameters, learner, learner version and parameters, n_train, n_test and
seed). Its *current* row is its latest row not marked superseded. By default a
configuration with a current row is not run again; ``retry_failed`` re-runs the
ones whose current row is not ``ok`` (failed, timeout, oom, diverged, skipped);
``force`` re-runs everything. A re-run marks the rows it replaces
``superseded = 1`` in the transaction that writes the new row, so every
configuration keeps exactly one current row and the old ones stay readable.

Executors (:func:`make_executor`):

- :class:`InlineExecutor`: in this process, no isolation; for debugging;
- :class:`ProcessPoolExecutor`: up to ``jobs`` worker processes on this
  machine (no more than there are runs to run), each running one run at a time
  with ``cores // jobs`` threads; one worker is the sequential mode;
- :class:`DaskExecutor`: a Dask cluster; each Dask worker thread runs its jobs
  in a worker process of its own, so timeouts and crashes behave as locally.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bfcbench.errors import ClusterSetupError, ConfigError, ExecutorLost
from bfcbench.isolation import Job, WorkerProcess, unfinished
from bfcbench.output import format_number
from bfcbench.registry import PLUGINS_VARIABLE
from bfcbench.resources import (
    AUTO,
    available_cores,
    default_memory_limit,
    threads_per_run,
)
from bfcbench.runner import RunOutcome, RunSpec
from bfcbench.store import Store
from bfcbench.worker import perform

logger = logging.getLogger(__name__)

__all__ = [
    "DaskExecutor",
    "EngineSettings",
    "Executor",
    "InlineExecutor",
    "Job",
    "ProcessPoolExecutor",
    "SweepReport",
    "describe_job",
    "jobs_allowed",
    "jobs_for",
    "make_executor",
    "most_jobs",
    "pending",
    "pending_from_statuses",
    "run_sweep",
]

# Statuses that --retry-failed runs again.
RETRIED = ("failed", "timeout", "oom", "diverged", "skipped")

# The most worker processes per core that --jobs may ask for. The runs are
# CPU-bound: beyond one process per core they only time-slice the same cores
# (and their fit times stop meaning anything), while each process holds a
# Python and torch of its own and takes its share of the memory budget. Four
# per core leaves room for runs that mostly wait on a GPU or on disk.
JOBS_PER_CORE = 4


def most_jobs() -> int:
    """The largest ``jobs`` allowed on this machine: :data:`JOBS_PER_CORE` per core."""
    return JOBS_PER_CORE * available_cores()


def jobs_allowed() -> str:
    """What ``--jobs`` accepts on this machine, for error messages."""
    cores = available_cores()
    return (
        f"an integer from 0 to {most_jobs()} ({JOBS_PER_CORE} per core; this "
        f"process may use {cores} core{'s' if cores > 1 else ''}) or 'auto' (one "
        "per core)"
    )


@dataclass(frozen=True)
class EngineSettings:
    """How a sweep executes: the options shared by ``run`` and ``sweep``.

    Parameters
    ----------
    jobs : int, default=1
        The most worker processes on this machine, from 0 to :func:`most_jobs`;
        a sweep starts no more than it has runs to run. 0 runs in this process
        without isolation (no timeout, no memory cap beyond the estimate check).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:port``); replaces ``jobs``.
    timeout : float, optional
        Default wall-clock limit of a run in seconds.
    memory_limit : int, "auto" or None, default="auto"
        Bytes one run may use; ``"auto"`` is half the machine's memory shared
        among the worker processes actually used; None for no limit.
    threads : int, optional
        Threads per run; default ``cores // jobs``, at least 1.
    retry_failed : bool, default=False
        Re-run configurations whose current row is not ``ok``.
    force : bool, default=False
        Re-run every configuration.
    """

    jobs: int = 1
    scheduler: str | None = None
    timeout: float | None = None
    memory_limit: int | str | None = AUTO
    threads: int | None = None
    retry_failed: bool = False
    force: bool = False

    def check(self) -> None:
        """Refuse out-of-range or contradictory settings with a one-line ConfigError."""
        if not 0 <= self.jobs <= most_jobs():
            raise ConfigError(f"--jobs: got {self.jobs!r}; allowed: {jobs_allowed()}.")
        if self.scheduler is not None and self.jobs != 1:
            raise ConfigError(
                f"--jobs: got {self.jobs!r} together with --scheduler; allowed: "
                "one of them (on a Dask cluster, the workers' --nthreads set how "
                "many runs execute at once)."
            )
        if self.jobs == 0 and self.timeout is not None:
            raise ConfigError(
                f"--timeout: got {self.timeout:g} s with --jobs 0; allowed: no "
                "timeout, since a run in this process cannot be stopped at a "
                "wall-clock limit (use --jobs 1 or more)."
            )


@dataclass
class SweepReport:
    """What a sweep did.

    Attributes
    ----------
    keys : list of str
        Configuration keys of every planned run, in plan order.
    stored_before : int
        Planned runs not run because the store already held them.
    statuses : Counter
        Statuses of the runs executed now.
    run_ids : list of int
        Rows written now, in the order they were committed.
    elapsed : float
        Wall-clock seconds of the whole sweep.
    """

    keys: list[str]
    stored_before: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    run_ids: list[int] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def executed(self) -> int:
        """Runs executed (and stored) now."""
        return len(self.run_ids)

    def summary(self) -> str:
        """One line: how many runs, with which statuses, in how long."""
        counts = ", ".join(
            f"{count} {status}" for status, count in sorted(self.statuses.items())
        )
        return (
            f"{len(self.keys)} runs planned, {self.stored_before} already stored, "
            f"{self.executed} executed"
            + (f" ({counts})" if counts else "")
            + f" in {self.elapsed:.1f} s"
        )


class Listener(Protocol):
    """Receives a sweep's events (the progress bar is one)."""

    def begin(self, to_run: int, stored_before: int) -> None: ...

    def started(self, job: Job) -> None: ...

    def finished(self, job: Job, outcome: RunOutcome) -> None: ...

    def end(self, report: SweepReport) -> None: ...


def jobs_for(
    specs: Iterable[RunSpec],
    timeout: float | None = None,
    memory_limit: int | str | None = AUTO,
    timeouts: Mapping[str, float | None] | None = None,
    threads: int | None = None,
) -> list[Job]:
    """Wrap run specs into jobs.

    Parameters
    ----------
    specs : iterable of RunSpec
    timeout : float, optional
        Wall-clock limit of every run without its own.
    memory_limit : int, "auto" or None, default="auto"
    timeouts : mapping, optional
        Limits of particular runs, by configuration key; they win over
        ``timeout``.
    threads : int, optional
        Threads of every run whose spec does not set them.

    Returns
    -------
    list of Job
    """
    timeouts = timeouts or {}
    jobs = []
    for spec in specs:
        if threads is not None and spec.threads is None:
            spec = replace(spec, threads=threads)
        key = spec.key()
        jobs.append(Job(spec, timeouts.get(key, timeout), memory_limit))
    return jobs


def pending(
    jobs: Sequence[Job], store: Store, retry_failed: bool = False, force: bool = False
) -> tuple[list[Job], int]:
    """The jobs still to run, and how many the store already holds.

    Raises
    ------
    ConfigError
        When two jobs have the same configuration.
    """
    keys = [job.spec.key() for job in jobs]
    seen: set[str] = set()
    for job, key in zip(jobs, keys, strict=True):
        if key in seen:
            raise ConfigError(
                f"sweep: got the configuration {describe_job(job)} twice; allowed: "
                "each configuration once."
            )
        seen.add(key)
    current = {} if force else store.current_statuses(keys)
    return pending_from_statuses(jobs, current, retry_failed, force)


def pending_from_statuses(
    jobs: Sequence[Job],
    statuses: Mapping[str, str],
    retry_failed: bool = False,
    force: bool = False,
) -> tuple[list[Job], int]:
    """The jobs to run given the current status of each stored configuration.

    Parameters
    ----------
    jobs : sequence of Job
    statuses : mapping
        Status of the current row by configuration key
        (:meth:`Store.current_statuses`).
    retry_failed : bool, default=False
        Also run configurations whose current row is not ``ok``.
    force : bool, default=False
        Run every configuration.

    Returns
    -------
    todo : list of Job
        In the order given.
    stored_before : int
        How many jobs are left out.
    """
    todo = []
    for job in jobs:
        status = statuses.get(job.spec.key())
        if force or status is None or (retry_failed and status in RETRIED):
            todo.append(job)
    return todo, len(jobs) - len(todo)


def run_sweep(
    jobs: Sequence[Job],
    store: Store,
    executor: Executor,
    retry_failed: bool = False,
    force: bool = False,
    listener: Listener | None = None,
) -> SweepReport:
    """Run what the store does not hold yet and commit each run as it ends.

    Parameters
    ----------
    jobs : sequence of Job
    store : Store
    executor : Executor
    retry_failed, force : bool, default=False
        See :func:`pending`.
    listener : Listener, optional
        Told when the sweep begins and ends and when each run starts and ends.

    Returns
    -------
    SweepReport
    """
    start = time.perf_counter()
    todo, stored_before = pending(jobs, store, retry_failed, force)
    report = SweepReport([job.spec.key() for job in jobs], stored_before)
    logger.info(
        "%d runs planned, %d already stored, %d to run on %s",
        len(jobs),
        stored_before,
        len(todo),
        executor.describe(len(todo)),
    )
    if listener is not None:
        listener.begin(len(todo), stored_before)
    on_start = listener.started if listener is not None else None
    for index, (job, outcome) in enumerate(executor.run(todo, on_start), start=1):
        report.run_ids.append(store.add(outcome.row, outcome.curve, supersede=True))
        report.statuses[outcome.row["status"]] += 1
        _log_run(index, len(todo), outcome)
        if listener is not None:
            listener.finished(job, outcome)
    report.elapsed = time.perf_counter() - start
    if listener is not None:
        listener.end(report)
    return report


def _log_run(index: int, total: int, outcome: RunOutcome) -> None:
    row = outcome.row
    if row["status"] == "ok":
        result = f"test NMSE {format_number(row.get('test_nmse'))}"
    else:
        result = row.get("message") or ""
    seconds = row.get("fit_seconds")
    logger.info(
        "[%d/%d] %s %s n=%d seed=%d: %s%s%s",
        index,
        total,
        row["task_label"],
        row["learner_label"],
        row["n_train"],
        row["seed"],
        row["status"],
        f", {result}" if result else "",
        f" ({seconds:.1f} s)" if seconds is not None else "",
    )


def describe_job(job: Job) -> str:
    """A job as a short readable line: task, learner, n and seed."""
    spec = job.spec
    task, learner = spec.labels()
    return f"{task} {learner} n={spec.n_train} seed={spec.seed}"


# Executors.

OnStart = Callable[[Job], None] | None


class Executor:
    """Runs jobs and yields ``(job, outcome)`` pairs as they finish.

    Subclasses implement :meth:`run`; ``slots`` is the most runs that execute at
    once on one machine; it sizes the default thread count of each run. A call
    of :meth:`run` with fewer jobs runs fewer at once (:meth:`concurrent_runs`),
    and that number sizes the default memory budget of its runs.
    """

    slots: int = 1

    def concurrent_runs(self, runs: int) -> int:
        """How many of ``runs`` jobs execute at once here: at least 1."""
        return max(1, min(self.slots, runs))

    def run(
        self, jobs: Sequence[Job], on_start: OnStart = None
    ) -> Iterator[tuple[Job, RunOutcome]]:
        """Execute ``jobs``; yield each with its outcome, in order of completion."""
        raise NotImplementedError

    def describe(self, runs: int | None = None) -> str:
        """The executor in a few words, for the log.

        Parameters
        ----------
        runs : int, optional
            How many runs it is about to execute; default as many as it can
            execute at once.
        """
        return type(self).__name__

    def close(self) -> None:
        """Release processes and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def local_job(self, job: Job, concurrent_runs: int | None = None) -> Job:
        """Fill in a job's threads and memory budget for a run on this machine.

        Parameters
        ----------
        job : Job
        concurrent_runs : int, optional
            Runs executing at once with it, which share the automatic memory
            budget; default ``slots``. The default thread count follows
            ``slots`` alone, so that a run gets the same threads, and the same
            last bits, whether it runs in a full sweep or in its resumed tail.
        """
        sharing = self.slots if concurrent_runs is None else concurrent_runs
        spec = job.spec
        if spec.threads is None:
            spec = replace(spec, threads=threads_per_run(self.slots))
        memory_limit = job.memory_limit
        if memory_limit == AUTO:
            memory_limit = default_memory_limit(sharing)
        return Job(spec, job.timeout, memory_limit)


class InlineExecutor(Executor):
    """Runs each job in this process: no isolation, no timeout; for debugging.

    The memory estimate of exact kernel fits is still checked against the budget.
    """

    def run(
        self, jobs: Sequence[Job], on_start: OnStart = None
    ) -> Iterator[tuple[Job, RunOutcome]]:
        for job in jobs:
            job = self.local_job(job)
            if on_start is not None:
                on_start(job)
            yield job, perform(job.spec, _bytes(job.memory_limit))

    def describe(self, runs: int | None = None) -> str:
        return "this process (no isolation)"


class ProcessPoolExecutor(Executor):
    """Up to ``workers`` worker processes on this machine, one run at a time each.

    A call of :meth:`run` starts no more processes than it has jobs, and its runs
    share the automatic memory budget among the processes it uses:
    ``min(workers, len(jobs))``. The processes, and one thread in this process
    that feeds each of them, live until :meth:`close`, so several calls of
    :meth:`run` share them and pay for starting Python and torch once.

    Parameters
    ----------
    workers : int
        The most worker processes, at least 1; each run gets ``cores // workers``
        threads unless its spec says otherwise (whatever number of processes its
        batch uses, so that a short batch computes the same bits).
    environment : mapping, optional
        Extra environment variables for the worker processes.
    """

    def __init__(
        self, workers: int, environment: Mapping[str, str] | None = None
    ) -> None:
        if workers < 1:
            raise ConfigError(f"--jobs: got {workers!r}; allowed: an integer >= 1.")
        self.slots = workers
        self.environment = dict(environment or {})
        self._todo: queue.SimpleQueue[tuple[Job, _Batch] | None] = queue.SimpleQueue()
        self._feeders: list[threading.Thread] = []
        self._processes: list[WorkerProcess] = []

    @property
    def processes_started(self) -> int:
        """Worker processes started so far (replacements included)."""
        return sum(process.started for process in self._processes)

    def describe(self, runs: int | None = None) -> str:
        used = self.slots if runs is None else self.concurrent_runs(runs)
        threads = threads_per_run(self.slots)
        plural = "es" if used > 1 else ""
        return (
            f"{used} worker process{plural} ({threads} thread"
            f"{'s' if threads > 1 else ''} each by default, {available_cores()} "
            "cores)"
        )

    def run(
        self, jobs: Sequence[Job], on_start: OnStart = None
    ) -> Iterator[tuple[Job, RunOutcome]]:
        if not jobs:
            return
        batch = _Batch()
        # Fewer jobs than workers: the idle workers are not started, and the
        # runs share the memory budget among the workers they use.
        used = self.concurrent_runs(len(jobs))
        while len(self._feeders) < used:
            process = WorkerProcess(self.environment)
            feeder = threading.Thread(
                target=self._feed,
                args=(process,),
                name=f"bfcbench-worker-{len(self._feeders)}",
                daemon=True,
            )
            self._processes.append(process)
            self._feeders.append(feeder)
            feeder.start()
        for job in jobs:
            self._todo.put((self.local_job(job, used), batch))
        remaining = len(jobs)
        try:
            while remaining:
                kind, job, payload = batch.events.get()
                if kind == "start":
                    if on_start is not None:
                        on_start(job)
                elif kind == "done":
                    remaining -= 1
                    yield job, payload
                else:
                    raise payload
        finally:
            # Stopped early (an error, Ctrl-C): the feeders drop the rest of this
            # batch and kill the runs in flight within a fraction of a second.
            batch.cancelled = True

    def _feed(self, process: WorkerProcess) -> None:
        try:
            while True:
                item = self._todo.get()
                if item is None:
                    return
                job, batch = item
                if batch.cancelled:
                    continue
                batch.events.put(("start", job, None))
                try:
                    outcome = process.run(job, batch.is_cancelled)
                except BaseException as error:  # handed to the sweep's thread
                    batch.events.put(("error", job, error))
                else:
                    batch.events.put(("done", job, outcome))
        finally:
            process.close()

    def close(self) -> None:
        """Stop the feeders and their worker processes."""
        for _ in self._feeders:
            self._todo.put(None)
        for feeder in self._feeders:
            feeder.join(timeout=60)
        self._feeders = []


class _Batch:
    """The jobs of one :meth:`ProcessPoolExecutor.run` call: events, cancel flag."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self.cancelled = False

    def is_cancelled(self) -> bool:
        return self.cancelled


_DASK_RECONNECT_LOGGERS = ("distributed.client", "distributed.utils")


class DaskExecutor(Executor):
    """Jobs on a Dask cluster, each isolated in a worker process there.

    Each thread of each Dask worker keeps one bfcbench worker process and sends
    it the jobs it receives, so that a hang is stopped at its wall-clock limit
    and a crash costs one run, as locally. If a Dask worker dies, the scheduler
    gives its jobs to other workers; a job whose workers keep dying is recorded
    as ``failed``. A job that the Dask workers cannot even resolve (a task or
    learner they do not know) stops the sweep with :class:`ClusterSetupError`,
    and a lost scheduler with :class:`ExecutorLost`; neither leaves a row for
    the runs not finished.

    Parameters
    ----------
    address : str
        The scheduler, e.g. ``tcp://127.0.0.1:8786``.
    connect_timeout : float, default=20
        Seconds to wait for the scheduler.
    """

    def __init__(self, address: str, connect_timeout: float = 20.0) -> None:
        from distributed import Client

        self.address = address
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ConfigError(
                f"--scheduler: got {address!r}; allowed: the address of a running "
                f"Dask scheduler, e.g. tcp://127.0.0.1:8786 (connecting failed: "
                f"{' '.join(str(error).split())})."
            ) from None
        self.slots = 1
        # A lost scheduler is reported once, as ExecutorLost; the client's own
        # reconnection attempts would print a traceback for each.
        self._quieted = {}
        for name in _DASK_RECONNECT_LOGGERS:
            quieted = logging.getLogger(name)
            self._quieted[name] = quieted.level
            quieted.setLevel(logging.CRITICAL)

    def describe(self, runs: int | None = None) -> str:
        workers = self.client.scheduler_info().get("workers", {})
        threads = sum(info.get("nthreads", 0) for info in workers.values())
        return (
            f"the Dask scheduler at {self.address} ({len(workers)} workers, "
            f"{threads} threads)"
        )

    def run(
        self, jobs: Sequence[Job], on_start: OnStart = None
    ) -> Iterator[tuple[Job, RunOutcome]]:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker, as_completed

        batch = uuid.uuid4().hex[:8]
        futures = {
            self.client.submit(
                run_on_dask_worker,
                job,
                key=f"bfcbench-{job.spec.key()}-{batch}",
                pure=False,
            ): job
            for job in jobs
        }
        finished = 0
        try:
            for future in as_completed(list(futures), loop=self.client.loop):
                job = futures[future]
                try:
                    outcome = future.result()
                except CancelledError:
                    # Only the cluster cancels our futures: the scheduler went
                    # away. The runs did not fail; they were not run, so they
                    # get no row and a second invocation runs them.
                    raise ExecutorLost(
                        f"lost the Dask scheduler at {self.address} after "
                        f"{finished} of {len(futures)} runs; the rest were not "
                        f"run and have no row: run the same command again to "
                        f"resume."
                    ) from None
                except ConfigError as error:
                    # Raised by the task itself, not by the run (which reports
                    # its own errors in its row): the workers do not know a
                    # name or parameter that this process knows. Every other
                    # run would fail the same way; none of them is a result.
                    raise ClusterSetupError(
                        f"the Dask workers at {self.address} cannot run "
                        f"{describe_job(job)}: {_sentence(error)}; install the "
                        f"same bfcbench and {PLUGINS_VARIABLE} on the workers as "
                        f"here, then run the same command again ({finished} of "
                        f"{len(futures)} runs were stored, the rest have no row)."
                    ) from None
                except KilledWorker as error:
                    outcome = unfinished(
                        job,
                        "failed",
                        f"the Dask workers that ran it died ({error})",
                    )
                except Exception as error:  # the task failed on the cluster
                    outcome = unfinished(
                        job, "failed", f"Dask: {type(error).__name__}: {error}"
                    )
                future.release()
                finished += 1
                yield job, outcome
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        for name, level in self._quieted.items():
            logging.getLogger(name).setLevel(level)


_dask_thread = threading.local()


def run_on_dask_worker(job: Job) -> RunOutcome:
    """The task a Dask worker executes: ``job`` in this thread's worker process.

    Threads and the memory budget left to be decided are decided here: the
    machine's cores, and the Dask worker's memory limit (else half the machine's
    memory), shared among the Dask worker's threads.
    """
    from distributed import get_worker

    process = getattr(_dask_thread, "process", None)
    if process is None:
        process = _dask_thread.process = WorkerProcess()
    worker = get_worker()
    try:
        slots = max(1, int(worker.state.nthreads))
    except (ValueError, AttributeError):
        slots = 1
    spec = job.spec
    if spec.threads is None:
        spec = replace(spec, threads=threads_per_run(slots))
    memory_limit = job.memory_limit
    if memory_limit == AUTO:
        # The memory the Dask worker was given (dask worker --memory-limit),
        # shared among its threads; else half the machine's.
        given = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        memory_limit = int(given) // slots if given else default_memory_limit(slots)
    return process.run(Job(spec, job.timeout, memory_limit))


def _sentence(error: BaseException) -> str:
    """An error's message on one line, without its final period."""
    return " ".join(str(error).split()).rstrip(".")


def _bytes(memory_limit: int | str | None) -> int | None:
    if isinstance(memory_limit, str):
        raise ValueError(f"memory limit {memory_limit!r} was not resolved")
    return memory_limit


def make_executor(settings: EngineSettings) -> Executor:
    """The executor that ``settings`` ask for (connecting to Dask if need be)."""
    settings.check()
    if settings.scheduler is not None:
        return DaskExecutor(settings.scheduler)
    if settings.jobs == 0:
        return InlineExecutor()
    return ProcessPoolExecutor(settings.jobs)
