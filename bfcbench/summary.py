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


# Bulky diagnostics left out of the compact view of choices (kept in the store).
_DETAIL_KEYS = ("validation_mse", "learning_rate_trials")


def choices_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One line per run with the hyperparameters the learner chose on validation
    data, compactly (``ridge=1e-05 solver=cholesky``), and why it stopped."""
    table = []
    for row in rows:
        choices = row.get("choices") or {}
        shown = " ".join(
            f"{key}={_compact(value)}"
            for key, value in choices.items()
            if key not in _DETAIL_KEYS
        )
        table.append(
            {
                "learner": row["learner_label"],
                "n_train": row["n_train"],
                "seed": row["seed"],
                "status": row["status"],
                "choices": shown,
                "stop_reason": row.get("stop_reason") or "",
            }
        )
    return table


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ",".join(_compact(item) for item in value)
    return str(value)
