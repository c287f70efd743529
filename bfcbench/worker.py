"""The process that executes isolated runs: ``python -m bfcbench.worker``.

A sweep starts one such process per concurrent run (locally or on each Dask
worker) and sends it runs one after another, so that the cost of starting
Python and importing torch is paid once per process, not once per run. Should a
run crash the process (a segmentation fault in a native library, the kernel's
OOM killer) or overrun its wall-clock limit, only that process dies; the parent
records the run and starts another (:mod:`bfcbench.isolation`).

Protocol, over the process's standard input and output: each message is an
8-byte big-endian length followed by a pickle. The worker first sends
``("ready", info)``; then, for each ``("run", spec, memory_limit)`` it reads, it
sends ``("done", outcome)``, or ``("error", text)`` when bfcbench itself failed
outside the run. End of input ends the worker. Anything else written to standard
output (by a learner or a native library) goes to standard error, which the
parent keeps for the message of a run that kills the process.

Setup, before the first run: the thread count of every math library is fixed
(the parent also sets the ``*_NUM_THREADS`` variables before Python starts);
the thread pools are started; then the address space the process may add is
capped at the memory limit (``RLIMIT_AS``), so an allocation beyond it fails
with an error that the run records as ``oom`` instead of exhausting the
machine. On Linux the worker asks to be killed when its parent dies, so a killed
sweep leaves no runs behind.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import pickle
import re
import signal
import struct
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from bfcbench.resources import format_size
from bfcbench.runner import RunOutcome, RunSpec, base_row, execute

logger = logging.getLogger(__name__)

HEADER = struct.Struct("!Q")

# Environment variables that size the thread pools of OpenMP, MKL, OpenBLAS
# and Apple's Accelerate; read once, when each library loads.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

# Messages of allocation failures that do not raise MemoryError: torch's CPU
# allocator raises RuntimeError, C++ code std::bad_alloc, system calls ENOMEM.
_ALLOCATION_FAILURE = re.compile(
    r"can't allocate memory|not enough memory|bad_alloc|Cannot allocate memory|"
    r"out of memory",
    re.IGNORECASE,
)

_PR_SET_PDEATHSIG = 1


def perform(spec: RunSpec, memory_limit: int | None) -> RunOutcome:
    """Run one configuration under a memory budget; never raises for the run.

    Before the run, a learner that can estimate its peak memory
    (``memory_estimate(n_train, n_features)``, as the exact kernel learners do)
    is asked to; a run whose estimate exceeds ``memory_limit`` is not attempted
    and comes back as ``skipped`` with the estimate in its message. A run that
    fails to allocate memory comes back as ``oom``.

    Parameters
    ----------
    spec : RunSpec
    memory_limit : int or None
        Bytes the run may use; None for no budget.

    Returns
    -------
    RunOutcome
    """
    if memory_limit is not None:
        skipped = _over_budget(spec, memory_limit)
        if skipped is not None:
            return skipped
    outcome = execute(spec)
    row = outcome.row
    if row["status"] == "failed" and _ALLOCATION_FAILURE.search(
        row.get("message") or ""
    ):
        row["status"] = "oom"
    return outcome


def _over_budget(spec: RunSpec, memory_limit: int) -> RunOutcome | None:
    from bfcbench import registry
    from bfcbench.seeding import stream

    try:
        task = registry.build_task(spec.task, spec.task_params)
        learner = registry.learner_class(spec.learner)(
            seed=stream("init", spec.seed), device=spec.device, **spec.learner_params
        )
        estimate_memory = getattr(learner, "memory_estimate", None)
        if estimate_memory is None:
            return None
        estimate = int(estimate_memory(spec.n_train, task.input_dim))
    except Exception:  # the run itself will fail and say why
        logger.debug("no memory estimate for %s", spec.key(), exc_info=True)
        return None
    if estimate <= memory_limit:
        return None
    row = base_row(spec)
    row["started_at"] = row["finished_at"] = utc_now()
    row.update(
        status="skipped",
        peak_memory_mb=None,
        message=f"not attempted: estimated peak memory {format_size(estimate)} "
        f"({estimate} bytes) exceeds the memory limit of "
        f"{format_size(memory_limit)}",
    )
    return RunOutcome(row)


def utc_now() -> str:
    """The current UTC time as stored in rows (ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def send(channel: BinaryIO, message: Any) -> None:
    """Write one framed message."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    channel.write(HEADER.pack(len(payload)) + payload)
    channel.flush()


def receive_from(fd: int) -> Any:
    """Read one framed message from a file descriptor; None at end of input."""
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(fd, HEADER.unpack(header)[0])
    if payload is None:
        return None
    return pickle.loads(payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = []
    while size:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    # The parent may have died before the request took effect.
    if os.getppid() != parent:
        os._exit(3)


def _status_bytes(field: str) -> int | None:
    """A size from ``/proc/self/status`` (``VmSize``, ``VmRSS``) in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _prepare(threads: int) -> None:
    """Fix thread counts and start every pool and import before measuring."""
    import numpy as np
    import torch

    from bfcbench import registry
    from bfcbench.environment import software

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set; harmless
        pass
    # Start the thread pools and load the kernels the learners use, so that
    # their memory belongs to the baseline and not to the first run's budget.
    matrix = torch.randn(256, 256, dtype=torch.float64)
    torch.linalg.cholesky(matrix @ matrix.T + 256 * torch.eye(256, dtype=torch.float64))
    (matrix.float() @ matrix.float()).sum()
    np.linalg.svd(np.ones((64, 8)) + np.eye(64, 8), full_matrices=False)
    registry.tasks()
    registry.learners()
    software()


def _limit_address_space(memory_limit: int) -> int | None:
    import resource

    baseline = _status_bytes("VmSize")
    if baseline is None:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = baseline + memory_limit
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return baseline


def main(argv: list[str] | None = None) -> int:
    """Serve runs until the end of standard input."""
    parser = argparse.ArgumentParser(prog="python -m bfcbench.worker")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, default=0, help="bytes; 0: none")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)

    _die_with_parent(args.parent)
    # Keep standard output for messages: whatever else writes to it lands on
    # standard error, which the parent reads only when the process dies.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    faulthandler.enable()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    _prepare(args.threads)
    baseline = _limit_address_space(args.memory_limit) if args.memory_limit else None
    info = {
        "pid": os.getpid(),
        "address_space": baseline,
        "resident": _status_bytes("VmRSS"),
    }
    send(channel, ("ready", info))

    while True:
        message = receive_from(0)
        if message is None:
            return 0
        _, spec, memory_limit = message
        try:
            outcome = perform(spec, memory_limit)
        except BaseException as error:  # report, and stay up for the next run
            reply: Any = ("error", f"{type(error).__name__}: {error}")
        else:
            reply = ("done", outcome)
        send(channel, reply)


if __name__ == "__main__":
    sys.exit(main())
