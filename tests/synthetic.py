"""Result rows made up for the reading tests, written to a real store on disk.

The reading commands must be checked against numbers the test knows in advance,
so these rows are built by hand rather than by running learners.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfcbench.store import COLUMN_NAMES, Store

TASK_PARAMS = {"d": 8, "depth": 2, "width": 2, "skip": "dense", "gap": 0.3, "seed": 0}


def row(
    learner: str = "deep",
    n_train: int = 500,
    seed: int = 0,
    test_nmse: float | None = 0.5,
    status: str = "ok",
    fit_seconds: float | None = 1.0,
    task: str = "hierarchical",
    task_params: dict[str, Any] | None = None,
    task_label: str | None = None,
    learner_params: dict[str, Any] | None = None,
    learner_label: str | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """A complete row of ``runs``; metrics are empty unless ``status`` is ok."""
    ok = status == "ok"
    values: dict[str, Any] = {name: None for name in COLUMN_NAMES if name != "run_id"}
    values.update(
        config_key=f"{task}-{learner}-{n_train}-{seed}",
        task=task,
        task_version=1,
        task_params=task_params if task_params is not None else dict(TASK_PARAMS),
        task_label=task_label or task,
        learner=learner,
        learner_version=1,
        learner_params=learner_params if learner_params is not None else {},
        learner_label=learner_label or learner,
        n_train=n_train,
        n_test=1000,
        seed=seed,
        status=status,
        message=None if ok else f"{status} on purpose",
        test_mse=test_nmse * 2.0 if ok and test_nmse is not None else None,
        test_nmse=test_nmse if ok else None,
        train_mse=0.1 if ok else None,
        fit_seconds=fit_seconds,
        predict_seconds=0.01,
        peak_memory_mb=300.0,
        choices={"learning_rate": 0.001},
        stop_reason="step budget",
        dtype="float32",
        device="cpu",
        threads=2,
        bfcbench_version="0.1.0",
        git_revision="abc123",
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:00:01+00:00",
        superseded=0,
    )
    values.update(columns)
    return values


def write_store(
    path: Path,
    rows: list[dict[str, Any]],
    curves: dict[int, list[tuple[int, int, float | None]]] | None = None,
) -> Path:
    """Write ``rows`` (and curves keyed by the row's position) to a new store."""
    with Store(path) as store:
        for index, values in enumerate(rows):
            store.add(values, (curves or {}).get(index, []))
    return path


def power_law_rows(
    learner: str,
    scale: float,
    exponent: float,
    grid: tuple[int, ...] = (500, 2000, 8000),
    seeds: tuple[int, ...] = (0, 1, 2),
    jitter: float = 0.02,
    **columns: Any,
) -> list[dict[str, Any]]:
    """Runs whose test NMSE is ``scale * n**-exponent`` times ``1 + jitter * k``
    for seed offset ``k`` in -1, 0, 1 (so the seed median is the power law),
    and whose fit time is ``1e-3 * n``."""
    rows = []
    for n in grid:
        for index, seed in enumerate(seeds):
            factor = 1.0 + jitter * (index - (len(seeds) - 1) / 2)
            rows.append(
                row(
                    learner,
                    n,
                    seed,
                    test_nmse=scale * n**-exponent * factor,
                    fit_seconds=1e-3 * n * factor,
                    **columns,
                )
            )
    return rows
