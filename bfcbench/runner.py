"""One run: a task and a learner at a sample size and a seed, to one row.

:func:`execute` never raises for what happens inside a run: an exception, a
divergence or non-finite predictions end up in the row's ``status`` and
``message``, and the caller stores the row like any other.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from bfcbench import registry
from bfcbench.environment import peak_memory_mb, peak_memory_reset, software
from bfcbench.errors import BfcbenchWarning, Diverged
from bfcbench.features import FeatureProbe, curve_rows
from bfcbench.params import canonical_json, label
from bfcbench.seeding import stream
from bfcbench.tasks.base import Task

logger = logging.getLogger(__name__)

DEFAULT_N_TEST = 4000


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run.

    Parameters are stored resolved (every declared parameter present), so equal
    configurations have equal keys whether or not defaults were spelled out.
    """

    task: str
    task_params: dict[str, Any]
    learner: str
    learner_params: dict[str, Any]
    n_train: int
    seed: int
    n_test: int = DEFAULT_N_TEST
    device: str = "cpu"
    threads: int | None = None

    @property
    def task_version(self) -> int:
        return registry.task_class(self.task).version

    @property
    def learner_version(self) -> int:
        return registry.learner_class(self.learner).version

    def configuration(self) -> dict[str, Any]:
        """The fields that identify the configuration (not where it runs)."""
        return {
            "task": self.task,
            "task_version": self.task_version,
            "task_params": self.task_params,
            "learner": self.learner,
            "learner_version": self.learner_version,
            "learner_params": self.learner_params,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "seed": self.seed,
        }

    def key(self) -> str:
        """Hash of :meth:`configuration`: the key a resumed sweep skips by."""
        text = canonical_json(self.configuration())
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def labels(self) -> tuple[str, str]:
        task_cls = registry.task_class(self.task)
        learner_cls = registry.learner_class(self.learner)
        return (
            label(self.task, self.task_params, task_cls.params),
            label(self.learner, self.learner_params, learner_cls.params),
        )


@dataclass
class RunOutcome:
    """A finished run: its row and its feature-recovery curve."""

    row: dict[str, Any]
    curve: list[tuple[int, int, float | None]] = field(default_factory=list)


def run_data(
    task: Task, n_train: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training and test samples a run with ``seed`` sees.

    Returns
    -------
    X_train : ndarray of shape (n_train, d)
    y_train : ndarray of shape (n_train,)
    X_test : ndarray of shape (n_test, d)
    y_test : ndarray of shape (n_test,)
    """
    X_train, y_train = task.sample(n_train, stream("train", seed))
    X_test, y_test = task.sample(n_test, stream("test", seed))
    return X_train, y_train, X_test, y_test


def base_row(spec: RunSpec) -> dict[str, Any]:
    """The columns of a run's row known before it starts."""
    task_label, learner_label = spec.labels()
    return {
        **spec.configuration(),
        "config_key": spec.key(),
        "task_label": task_label,
        "learner_label": learner_label,
        "device": spec.device,
        "threads": spec.threads or torch.get_num_threads(),
        "dtype": spec.learner_params.get("dtype", "float64"),
        **software(),
        # A run that does not finish has no error values: empty, never 0.
        "test_mse": None,
        "test_nmse": None,
        "train_mse": None,
        "failed_step": None,
        "message": None,
    }


def execute(spec: RunSpec) -> RunOutcome:
    """Run one configuration and return its row; never raises for run failures."""
    if spec.threads:
        torch.set_num_threads(spec.threads)
    row = base_row(spec)
    row["started_at"] = _now()
    outcome = RunOutcome(row)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BfcbenchWarning)
        try:
            _fit_and_score(spec, outcome)
        except Diverged as error:
            row.update(status="diverged", message=str(error), failed_step=error.step)
        except MemoryError as error:
            row.update(status="oom", message=f"MemoryError: {error}")
        except Exception as error:  # any failure of a learner costs this run only
            logger.debug("run %s failed", spec.key(), exc_info=True)
            row.update(status="failed", message=_describe(error))
    notes = [str(w.message) for w in caught if issubclass(w.category, BfcbenchWarning)]
    if notes:
        row["message"] = "; ".join(filter(None, [row.get("message"), *notes]))
    row["peak_memory_mb"] = peak_memory_mb()
    row["finished_at"] = _now()
    return outcome


def _fit_and_score(spec: RunSpec, outcome: RunOutcome) -> None:
    row = outcome.row
    task = registry.build_task(spec.task, spec.task_params)
    X_train, y_train, X_test, y_test = run_data(
        task, spec.n_train, spec.n_test, spec.seed
    )
    learner = registry.learner_class(spec.learner)(
        seed=stream("init", spec.seed), device=spec.device, **spec.learner_params
    )
    learner.adapt(task.shape())
    probe = None
    if hasattr(learner, "probe") and task.features(X_train[:1]):
        probe = FeatureProbe(task, spec.seed)
        learner.probe = probe

    peak_memory_reset()
    start = time.perf_counter()
    try:
        learner.fit(X_train, y_train)
    finally:
        row["fit_seconds"] = time.perf_counter() - start
        row["choices"] = learner.choices
        row["stop_reason"] = learner.stop_reason or None
    start = time.perf_counter()
    predictions = learner.predict(X_test)
    row["predict_seconds"] = time.perf_counter() - start
    predictions, wrong = _one_per_point(predictions, len(X_test), "test")
    if wrong:
        row.update(status="failed", message=wrong)
        return

    if probe is not None:
        outcome.curve = curve_rows(learner.curve_)
        row["feature_r2"] = probe(learner.model_)
    for column in ("ridge", "solver"):
        if column in learner.choices:
            row[column] = learner.choices[column]
    bad = int(np.count_nonzero(~np.isfinite(predictions)))
    if bad:
        row.update(
            status="failed",
            message=f"{bad} of {len(predictions)} test predictions are not finite",
        )
        return
    train_predictions, wrong = _one_per_point(
        learner.predict(X_train), len(X_train), "training"
    )
    if wrong:
        row.update(status="failed", message=wrong)
        return
    test_mse = float(np.mean((predictions - y_test) ** 2))
    variance = float(np.var(y_test))
    row.update(
        status="ok",
        test_mse=test_mse,
        test_nmse=test_mse / variance if variance > 0 else None,
        train_mse=float(np.mean((train_predictions - y_train) ** 2)),
    )
    if row["train_mse"] is not None and not math.isfinite(row["train_mse"]):
        row["train_mse"] = None


def _one_per_point(predictions: Any, points: int, sample: str) -> tuple[Any, str]:
    """Predictions as a flat array of one value per point, or why they are not.

    A column ``(n, 1)`` is flattened; any other shape would broadcast against
    the targets into a meaningless error, so the run fails instead.
    """
    values = np.asarray(predictions, dtype=float)
    if values.shape == (points, 1):
        values = values[:, 0]
    if values.shape != (points,):
        return values, (
            f"predict returned shape {values.shape} for {points} {sample} points; "
            f"allowed: ({points},)"
        )
    return values, ""


def _describe(error: BaseException) -> str:
    where = (
        traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    )
    place = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(error).__name__}: {error}{place}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
