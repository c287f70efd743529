"""What a run's row records about the software and machine it ran on."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

import bfcbench

_SOURCE = Path(__file__).resolve().parent.parent


@functools.cache
def git_revision() -> str:
    """Commit of the bfcbench source tree, ``-dirty`` if it has local changes.

    ``"unknown"`` when bfcbench is not installed from a git checkout.
    """
    try:
        revision = subprocess.run(
            ["git", "-C", str(_SOURCE), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            [
                "git",
                "-C",
                str(_SOURCE),
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision + ("-dirty" if status else "")


@functools.cache
def software() -> dict[str, str]:
    """Versions of bfcbench and the libraries that decide a run's numbers."""
    return {
        "bfcbench_version": bfcbench.__version__,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        # From the metadata: importing scikit-learn costs a second per process.
        "sklearn_version": _installed("scikit-learn"),
        "python_version": platform.python_version(),
        "hostname": socket.gethostname(),
    }


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def peak_memory_reset() -> bool:
    """Reset the kernel's record of this process's peak resident memory.

    Returns False where the system does not allow it (then the peak reported
    afterwards is the process's peak since it started).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process in MiB (``VmHWM``), None if unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None
