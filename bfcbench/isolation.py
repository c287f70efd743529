"""Runs in worker processes that may die: the parent's side.

A :class:`WorkerProcess` owns one ``python -m bfcbench.worker`` process
(:mod:`bfcbench.worker`) and executes :class:`Job` objects in it one at a time.
:meth:`WorkerProcess.run` always returns a :class:`~bfcbench.runner.RunOutcome`:

- the run's own outcome, when the process sends it back;
- ``timeout``, when the wall-clock limit passes first: the process is killed at
  the limit, wherever the run is, and replaced for the next job;
- ``oom``, when the process was killed by a SIGKILL that bfcbench did not send
  while the kernel counted an OOM kill in this cgroup, or after the run's
  resident memory had grown to three quarters of its budget or more;
- ``failed``, when the process died otherwise (a segmentation fault, an abort,
  an exit), with the signal or exit status and the last line the process wrote
  to standard error (Python's fault handler names the function that crashed).

The rows of runs that never returned are built with
:func:`~bfcbench.runner.base_row`, so their error columns stay empty.
"""

from __future__ import annotations

import logging
import os
import re
import select
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bfcbench.errors import BfcbenchError
from bfcbench.resources import format_duration, format_size, oom_kills
from bfcbench.runner import RunOutcome, RunSpec, base_row
from bfcbench.worker import THREAD_VARIABLES, receive_from, send, utc_now

logger = logging.getLogger(__name__)

# How often a busy worker's memory is sampled, in seconds.
SAMPLE_SECONDS = 0.25
# How long a new worker may take to import torch and start its thread pools.
STARTUP_SECONDS = 300.0
# A SIGKILL that bfcbench did not send, after the run's resident memory grew
# by this share of its budget, counts as the OOM killer's.
NEAR_LIMIT = 0.75


class WorkerStartError(BfcbenchError):
    """A worker process could not start (so no run could be attempted)."""


@dataclass(frozen=True)
class Job:
    """A run as the executors see it: the spec and the limits it runs under.

    Parameters
    ----------
    spec : RunSpec
        The configuration; ``spec.threads`` is the thread count of the run.
    timeout : float or None
        Wall-clock limit in seconds, from the moment the run is sent to its
        process; None for none.
    memory_limit : int, "auto" or None
        Bytes the run may add to an idle worker process; None for none;
        ``"auto"`` until the executor decides it on the machine that runs it.
    """

    spec: RunSpec
    timeout: float | None = None
    memory_limit: int | str | None = None


class WorkerProcess:
    """One worker process, started on first use and replaced when it dies.

    Parameters
    ----------
    environment : mapping, optional
        Extra environment variables for the process.
    """

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self.environment = dict(environment or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._settings: tuple[int, int | None] | None = None
        # What the process writes to stderr, in a file with no name (so that
        # nothing is left behind, whatever happens to this process).
        self._stderr: BinaryIO | None = None
        self._last_stderr = ""
        self._killed = False
        self._peak_bytes = 0
        self._idle_resident = 0
        self.started = 0

    @property
    def pid(self) -> int | None:
        """Process id of the current worker process, if one is running."""
        return self._process.pid if self._process is not None else None

    def run(
        self, job: Job, should_stop: Callable[[], bool] | None = None
    ) -> RunOutcome:
        """Execute ``job`` in the worker process; never raises for the run.

        Parameters
        ----------
        job : Job
        should_stop : callable, optional
            Asked a few times a second while the run executes; when it returns
            True the process is killed and the run comes back ``failed``
            (cancelled). For sweeps that stop early.

        Raises
        ------
        WorkerStartError
            When no worker process can be started at all.
        """
        if isinstance(job.memory_limit, str):
            raise ValueError(f"memory limit {job.memory_limit!r} was not resolved")
        # The address-space cap holds for runs on the CPU only: a GPU driver
        # maps far more address space than the memory it uses. Runs on a GPU
        # keep the memory estimate check.
        cap = job.memory_limit if job.spec.device == "cpu" else None
        process, stderr = self._ensure(job.spec.threads or 1, cap)
        stderr.truncate(0)
        self._peak_bytes = 0
        kills_before = oom_kills()
        started_at = utc_now()
        start = time.monotonic()
        deadline = None if job.timeout is None else start + job.timeout

        try:
            send(process.stdin, ("run", job.spec, job.memory_limit))
        except OSError:
            return self._lost(job, started_at, kills_before)
        fd = process.stdout.fileno()
        while True:
            wait = SAMPLE_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    self.kill()
                    elapsed = time.monotonic() - start
                    return self._unfinished(
                        job,
                        "timeout",
                        f"stopped at the wall-clock limit of "
                        f"{_seconds(job.timeout)} (after {elapsed:.1f} s)",
                        started_at,
                    )
            ready, _, _ = select.select([fd], [], [], wait)
            self._sample_memory()
            if should_stop is not None and should_stop():
                self.kill()
                return self._unfinished(
                    job, "failed", "cancelled: the sweep stopped", started_at
                )
            if not ready:
                continue
            message = receive_from(fd)
            if message is None:
                return self._lost(job, started_at, kills_before)
            kind, payload = message
            if kind == "done":
                if payload.row.get("status") == "oom":
                    # A fresh process gets a fresh address space for the next run.
                    self.close()
                return payload
            return self._unfinished(
                job, "failed", f"error in the worker process: {payload}", started_at
            )

    def kill(self) -> None:
        """Kill the worker process now (SIGKILL), if one is running."""
        process = self._process
        if process is None:
            return
        self._killed = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                process.kill()
            except ProcessLookupError:
                pass
        self._reap()

    def close(self) -> None:
        """Stop the worker process: end of input, then SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._reap()

    # Starting, watching and burying the process.

    def _ensure(
        self, threads: int, memory_limit: int | None
    ) -> tuple[subprocess.Popen[bytes], BinaryIO]:
        """The running process for these settings, started if need be."""
        process = self._process
        if (
            process is None
            or self._settings != (threads, memory_limit)
            or process.poll() is not None
        ):
            self.close()
            self._start(threads, memory_limit)
        if self._process is None or self._stderr is None:
            raise WorkerStartError("a worker process could not start.")
        return self._process, self._stderr

    def _start(self, threads: int, memory_limit: int | None) -> None:
        self._stderr = tempfile.TemporaryFile(prefix="bfcbench-worker-")
        environment = {
            **os.environ,
            **{variable: str(threads) for variable in THREAD_VARIABLES},
            **self.environment,
        }
        command = [
            sys.executable,
            "-m",
            "bfcbench.worker",
            "--threads",
            str(threads),
            "--memory-limit",
            str(memory_limit or 0),
            "--parent",
            str(os.getpid()),
        ]
        # The child appends (O_APPEND) through its own open file, so truncating
        # between runs is safe and this process reads at its own offset.
        # Elsewhere than Linux both share one file (the offset too), which only
        # matters for the tail shown in the message of a crash.
        try:
            stderr: BinaryIO = open(f"/proc/self/fd/{self._stderr.fileno()}", "ab")
            separate = True
        except OSError:
            stderr, separate = self._stderr, False
        try:
            # A new session: Ctrl-C reaches the sweep, which stops its workers,
            # and a timeout kills whatever the run started along with it.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=environment,
                start_new_session=True,
                bufsize=0,
            )
        finally:
            if separate:
                stderr.close()
        self._settings = (threads, memory_limit)
        self._killed = False
        self.started += 1
        ready, _, _ = select.select([self._process.stdout], [], [], STARTUP_SECONDS)
        message = receive_from(self._process.stdout.fileno()) if ready else None
        if message is None or message[0] != "ready":
            tail = self._stderr_tail()
            self.kill()
            raise WorkerStartError(
                "a worker process could not start"
                + (f": {tail}" if tail else " (it wrote nothing to standard error).")
            )
        self._idle_resident = message[1].get("resident") or 0
        logger.debug(
            "worker process %d started (%d threads, memory limit %s)",
            self._process.pid,
            threads,
            format_size(memory_limit),
        )

    def _reap(self) -> int | None:
        process = self._process
        if process is None:
            return None
        self._process = None
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        if self._stderr is not None:
            self._last_stderr = self._stderr_tail()
            self._stderr.close()
            self._stderr = None
        return code

    def _sample_memory(self) -> None:
        """Track the busy process's peak resident memory (``VmHWM``, ``VmRSS``)."""
        if self._process is None:
            return
        try:
            text = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                self._peak_bytes = max(self._peak_bytes, int(line.split()[1]) * 1024)

    def _stderr_tail(self, size: int = 8192) -> str:
        """The most telling line of what the process last wrote to stderr."""
        if self._stderr is None:
            return self._last_stderr
        try:
            end = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, end - size))
            text = self._stderr.read().decode(errors="replace")
        except OSError:
            return ""
        return _telling_line(text)

    def _lost(self, job: Job, started_at: str, kills_before: int | None) -> RunOutcome:
        """The outcome of a run whose process died under it."""
        killed_by_us = self._killed
        self._last_stderr = self._stderr_tail()
        code = self._reap()
        detail = self._last_stderr
        peak = self._peak_bytes
        if code is not None and code < 0:
            number = -code
            name = _signal_name(number)
            kills_after = oom_kills()
            oom_killer = (
                kills_before is not None
                and kills_after is not None
                and kills_after > kills_before
            )
            # Compare what the run added to the idle process with its budget.
            near_limit = job.memory_limit is not None and (
                peak - self._idle_resident >= NEAR_LIMIT * job.memory_limit
            )
            if (
                number == signal.SIGKILL
                and not killed_by_us
                and (oom_killer or near_limit)
            ):
                evidence = (
                    "the kernel counted an OOM kill"
                    if oom_killer
                    else f"its resident memory had grown by "
                    f"{format_size(peak - self._idle_resident)} of a "
                    f"{format_size(job.memory_limit)} budget"
                )
                return self._unfinished(
                    job,
                    "oom",
                    "the worker process was killed by SIGKILL, not sent by "
                    f"bfcbench, after {evidence}: out of memory (the kernel's OOM "
                    "killer)",
                    started_at,
                )
            message = f"the worker process died of {name}"
        elif code is None:
            message = "the worker process stopped answering"
        else:
            message = f"the worker process exited with status {code}"
        if detail:
            message += f"; last words: {detail}"
        return self._unfinished(job, "failed", message, started_at)

    def _unfinished(
        self, job: Job, status: str, message: str, started_at: str
    ) -> RunOutcome:
        peak = self._peak_bytes / 2**20 if self._peak_bytes else None
        return unfinished(job, status, message, started_at, peak)


def unfinished(
    job: Job,
    status: str,
    message: str,
    started_at: str | None = None,
    peak_memory_mb: float | None = None,
) -> RunOutcome:
    """The outcome of a run that never returned a row of its own.

    Parameters
    ----------
    job : Job
    status : {"timeout", "oom", "failed"}
    message : str
        What happened, for the row's ``message``.
    started_at : str, optional
        When the run was sent off (UTC, ISO 8601); default now.
    peak_memory_mb : float, optional
        The highest resident memory seen while it ran.

    Returns
    -------
    RunOutcome
        Its row has the configuration and software columns and no error values.
    """
    row = base_row(job.spec)
    now = utc_now()
    row.update(
        status=status,
        message=message,
        started_at=started_at or now,
        finished_at=now,
        peak_memory_mb=peak_memory_mb,
    )
    logger.debug("run %s: %s: %s", job.spec.key(), status, message)
    return RunOutcome(row)


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    description = signal.strsignal(number)
    return f"{name} ({description.lower()})" if description else name


def _telling_line(text: str) -> str:
    """From a process's last words, the line that says most, kept short.

    For a crash reported by Python's fault handler, the error and the innermost
    frame outside the standard library and installed packages (``Fatal Python
    error: Segmentation fault, in fit (learner.py, line 12)``); otherwise the
    last non-empty line.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    if not fatal:
        return _short(lines[-1])
    index = lines.index(fatal[-1])
    frames = [
        match
        for line in lines[index:]
        if (match := re.match(r'File "(.*)", line (\d+) in (\S+)', line))
    ]
    installed = tuple(
        {sysconfig.get_paths()[name] for name in ("stdlib", "purelib", "platlib")}
    )
    own = [frame for frame in frames if not frame.group(1).startswith(installed)]
    frame = (own or frames or [None])[0]
    where = (
        f", in {frame.group(3)} ({Path(frame.group(1)).name}, line {frame.group(2)})"
        if frame
        else ""
    )
    return _short(fatal[-1] + where)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seconds(timeout: float | None) -> str:
    if timeout is None:
        return "none"
    if timeout < 60:
        return f"{timeout:g} s"
    return format_duration(timeout)
