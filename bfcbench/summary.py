"""Summaries of stored rows: one line per (learner, n) over seeds."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

SUMMARY_COLUMNS = ("learner", "n_train", "seeds", "test_nmse", "fit_seconds", "status")


def status_text(statuses: Iterable[str]) -> str:
    """``"ok"`` when every run is ok, else counts like ``"2 ok, 1 diverged"``."""
    counts = Counter(statuses)
    if set(counts) == {"ok"}:
        return "ok"
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Median test NMSE and fit seconds over seeds per (task, learner, n).

    The medians use the ``ok`` runs only; a cell without any shows the status in
    place of the number.
    """
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (row["task_label"], row["learner_label"], row["n_train"])
        groups.setdefault(key, []).append(row)
    summary = []
    for (task, learner, n_train), members in groups.items():
        ok = [row for row in members if row["status"] == "ok"]
        errors = [row["test_nmse"] for row in ok if row.get("test_nmse") is not None]
        status = status_text(row["status"] for row in members)
        summary.append(
            {
                "task": task,
                "learner": learner,
                "n_train": n_train,
                "seeds": len(members),
                "test_nmse": statistics.median(errors) if errors else status,
                "fit_seconds": statistics.median(
                    row["fit_seconds"]
                    for row in members
                    if row.get("fit_seconds") is not None
                )
                if any(row.get("fit_seconds") is not None for row in members)
                else None,
                "status": status,
            }
        )
    return summary
