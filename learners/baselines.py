"""Trivial baselines that anchor every table: ``mean`` and ``linear``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bfcbench.learners.base import VALIDATION_FRACTION, Learner
from bfcbench.params import Param

# Relative ridge strengths tried by ``linear``: multiples of the mean squared
# singular value of the centred design, so the grid does not depend on the scale of x.
LINEAR_RIDGES = (0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


class Mean(Learner):
    """Predicts the mean of the training labels everywhere."""

    name: ClassVar[str] = "mean"
    version: ClassVar[int] = 1
    description: ClassVar[str] = "predicts the training mean (test NMSE near 1)"
    params: ClassVar[tuple[Param, ...]] = ()

    def fit(self, X: np.ndarray, y: np.ndarray) -> Mean:
        self.mean_ = float(np.mean(y))
        self.choices = {"mean": self.mean_}
        self.stop_reason = "closed form"
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.mean_)


class Linear(Learner):
    """Ridge regression on the raw inputs, ridge chosen on validation data."""

    name: ClassVar[str] = "linear"
    version: ClassVar[int] = 1
    description: ClassVar[str] = "linear ridge regression with intercept"
    params: ClassVar[tuple[Param, ...]] = (
        Param(
            "ridge",
            float,
            "auto",
            "relative ridge strength; auto picks it on validation data",
            low=0,
            auto=True,
        ),
        VALIDATION_FRACTION,
    )

    def fit(self, X: np.ndarray, y: np.ndarray) -> Linear:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ridge = self.values["ridge"]
        if ridge == "auto":
            fit_rows, validation_rows = self.validation_split(len(X))
            scores = {}
            for candidate in LINEAR_RIDGES:
                coef, intercept = _ridge_fit(X[fit_rows], y[fit_rows], candidate)
                residual = X[validation_rows] @ coef + intercept - y[validation_rows]
                scores[candidate] = float(np.mean(residual**2))
            ridge = min(scores, key=scores.__getitem__)
            self.choices["validation_mse"] = {f"{k:g}": v for k, v in scores.items()}
        self.coef_, self.intercept_ = _ridge_fit(X, y, ridge)
        self.choices["ridge"] = ridge
        self.stop_reason = "closed form"
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_


def _ridge_fit(X: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Ridge with an unpenalised intercept; ``ridge`` is relative to the mean
    squared singular value of the centred design."""
    x_mean, y_mean = X.mean(axis=0), y.mean()
    u, singular, vt = np.linalg.svd(X - x_mean, full_matrices=False)
    penalty = ridge * np.mean(singular**2) if len(singular) else 0.0
    # Shrink each direction; directions with zero singular value get zero weight.
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(singular > 0, singular / (singular**2 + penalty), 0.0)
    coef = vt.T @ (shrink * (u.T @ (y - y_mean)))
    return coef, float(y_mean - x_mean @ coef)
