"""Cores, memory and the limits a sweep puts on each run.

Also the parsing of durations (``--timeout 90``, ``"10m"``) and sizes
(``--memory-limit 4G``) shared by the command line and sweep files.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from bfcbench.errors import ConfigError

# Share of the machine's physical memory that the runs of one machine may use
# together by default: the rest is left to the system, the parent process and
# whoever else works on the machine.
DEFAULT_MEMORY_SHARE = 0.5

AUTO = "auto"

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_per_run(concurrent_runs: int, cores: int | None = None) -> int:
    """Threads for each of ``concurrent_runs`` runs so that they share the cores.

    Parameters
    ----------
    concurrent_runs : int
        Runs executing at the same time on one machine, at least 1.
    cores : int, optional
        Cores to share; default :func:`available_cores`.

    Returns
    -------
    int
        ``max(1, cores // concurrent_runs)``.
    """
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, concurrent_runs))


def physical_memory() -> int | None:
    """Bytes of physical memory (``MemTotal``), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def default_memory_limit(concurrent_runs: int) -> int | None:
    """The default memory budget of one run: an equal part of half the machine.

    Parameters
    ----------
    concurrent_runs : int
        Runs executing at the same time on this machine.

    Returns
    -------
    int or None
        Bytes, or None (no limit) where the machine's memory is unknown.
    """
    total = physical_memory()
    if total is None:
        return None
    return int(total * DEFAULT_MEMORY_SHARE / max(1, concurrent_runs))


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed in this cgroup.

    Read from cgroup v2 ``memory.events`` or cgroup v1 ``memory.oom_control``;
    None where neither says.
    """
    for path in (
        Path("/sys/fs/cgroup/memory.events"),
        Path("/sys/fs/cgroup/memory/memory.oom_control"),
    ):
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def parse_duration(text: str | float | int | None, option: str) -> float | None:
    """A wall-clock limit in seconds from ``90``, ``"90s"``, ``"10m"``, ``"1.5h"``.

    Parameters
    ----------
    text : str, number or None
        The value as typed (or read from a sweep file); ``None``, ``"none"`` and
        ``"off"`` mean no limit.
    option : str
        The option or key it came from, for the error message.

    Returns
    -------
    float or None
        Seconds, greater than 0; None for no limit.
    """
    allowed = "a duration > 0 such as 90, 90s, 10m or 1.5h, or 'none'"
    if text is None:
        return None
    if isinstance(text, bool):
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        cleaned = text.strip().lower()
        if cleaned in ("none", "off"):
            return None
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)", cleaned)
        if not match:
            raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
        seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
    return seconds


def parse_size(text: str | int | None, option: str) -> int | str | None:
    """A memory size in bytes from ``"4G"``, ``"512M"``, ``"1.5g"`` or bytes.

    Parameters
    ----------
    text : str, int or None
        The value as typed; ``"auto"`` (or None) means the default share of the
        machine, ``"none"`` and ``"off"`` no limit.
    option : str
        The option or key it came from, for the error message.

    Returns
    -------
    int, "auto" or None
        Bytes (at least 1 MiB), :data:`AUTO`, or None for no limit.
    """
    allowed = "a size such as 512M, 4G or 1.5G (at least 1M), 'auto' or 'none'"
    if text is None:
        return AUTO
    if isinstance(text, bool):
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
    if isinstance(text, int):
        size = float(text)
    else:
        cleaned = text.strip().lower()
        if cleaned == AUTO:
            return AUTO
        if cleaned in ("none", "off"):
            return None
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)i?b?", cleaned)
        if not match:
            raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
        size = float(match.group(1)) * _UNITS[match.group(2)]
    if size < 2**20:
        raise ConfigError(f"{option}: got {text!r}; allowed: {allowed}.")
    return int(size)


def format_size(size: float | None) -> str:
    """``"3.2 GiB"``-style text for a size in bytes; ``"no limit"`` for None."""
    if size is None:
        return "no limit"
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size / 2**10:.3g} KiB"


def format_duration(seconds: float | None) -> str:
    """``"1:02:03"`` or ``"2:03"`` for a number of seconds; ``"?"`` for None."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
