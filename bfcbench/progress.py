"""A one-line progress bar for sweeps, on standard error.

It shows runs done and to do, failures so far, elapsed and remaining time and
the configuration running now, redrawn in place once a second. It draws only
when its stream is a terminal, so logs and pipes never see it. Log lines go
above it: :meth:`Progress.attach` routes the logging handlers that write to the
same stream through the bar, which clears itself before each line and redraws
after it.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from bfcbench.engine import SweepReport, describe_job
from bfcbench.isolation import Job
from bfcbench.resources import format_duration
from bfcbench.runner import RunOutcome

FAILURES = ("failed", "timeout", "oom", "diverged")
BAR_WIDTH = 20


class Progress:
    """Progress of one sweep; implements the engine's listener interface.

    Parameters
    ----------
    stream : text stream, optional
        Where to draw; default ``sys.stderr``.
    enabled : bool, optional
        Draw at all; default: when ``stream`` is a terminal.
    interval : float, default=1.0
        Seconds between redraws while nothing happens (the clock moves on).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 1.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.interval = interval
        self.total = 0
        self.stored_before = 0
        self.done = 0
        self.failures = 0
        self.skipped = 0
        self.running: dict[int, str] = {}
        self.last = ""
        self._start = time.monotonic()
        self._lock = threading.RLock()
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # The listener interface.

    def begin(self, to_run: int, stored_before: int) -> None:
        """The sweep starts with ``to_run`` runs to execute."""
        self.total = to_run
        self.stored_before = stored_before
        self._start = time.monotonic()
        if self.enabled and to_run:
            self._ticker = threading.Thread(
                target=self._tick, name="bfcbench-progress", daemon=True
            )
            self._ticker.start()
            self.redraw()

    def started(self, job: Job) -> None:
        """A run was handed to a worker."""
        with self._lock:
            self.running[id(job)] = describe_job(job)
            self.redraw()

    def finished(self, job: Job, outcome: RunOutcome) -> None:
        """A run ended (and is stored)."""
        with self._lock:
            self.done += 1
            status = outcome.row.get("status")
            self.failures += status in FAILURES
            self.skipped += status == "skipped"
            self.running.pop(id(job), None)
            self.last = describe_job(job)
            self.redraw()

    def end(self, report: SweepReport) -> None:
        """The sweep is over: stop redrawing and clear the line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.clear()

    # Drawing.

    def line(self, width: int | None = None) -> str:
        """The text of the bar, cut to ``width`` characters."""
        elapsed = time.monotonic() - self._start
        remaining = (
            elapsed / self.done * (self.total - self.done) if self.done else None
        )
        filled = round(BAR_WIDTH * self.done / self.total) if self.total else 0
        parts = [
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}",
            f"{self.failures} failed"
            + (f", {self.skipped} skipped" if self.skipped else ""),
            f"{format_duration(elapsed)} elapsed, "
            f"{format_duration(remaining) if remaining is not None else '?'} left",
        ]
        if self.running:
            current = next(iter(self.running.values()))
            more = len(self.running) - 1
            parts.append(f"running {current}" + (f" (+{more})" if more else ""))
        elif self.last:
            parts.append(f"last {self.last}")
        text = " | ".join(parts)
        if width is not None and len(text) > width:
            text = text[: max(0, width - 3)] + "..."
        return text

    def redraw(self) -> None:
        """Draw the bar in place of the current line."""
        if not self.enabled or not self.total or self._stop.is_set():
            return
        with self._lock:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            self.stream.write("\r\x1b[2K" + self.line(width))
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        """Erase the bar, leaving the cursor at the start of an empty line."""
        if not self.enabled:
            return
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
                self._shown = False

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.redraw()

    @contextmanager
    def attach(self, logger: logging.Logger | None = None) -> Iterator[Progress]:
        """Route log lines written to the bar's stream above the bar.

        Every handler of ``logger`` (default the root logger) that writes to
        :attr:`stream` writes through the bar for the duration of the block.
        """
        if not self.enabled:
            yield self
            return
        target = logger if logger is not None else logging.getLogger()
        swapped = []
        for handler in target.handlers:
            if getattr(handler, "stream", None) is self.stream:
                swapped.append(handler)
                handler.stream = _AboveBar(self)  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            for handler in swapped:
                handler.stream = self.stream  # type: ignore[attr-defined]


class _AboveBar:
    """A stream that clears the bar before a line and redraws it after."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def write(self, text: str) -> int:
        with self.progress._lock:
            self.progress.clear()
            written = self.progress.stream.write(text)
            if text.endswith("\n"):
                self.progress.redraw()
        return written

    def flush(self) -> None:
        self.progress.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.progress.stream, name)
