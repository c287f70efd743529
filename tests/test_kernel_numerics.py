"""Kernel ridge never passes off NaN as a result: fallbacks and failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bfcbench import registry
from bfcbench.errors import BfcbenchWarning
from bfcbench.learners.kernels import KernelError, PolyKernel, solve_ridge
from bfcbench.runner import RunSpec, execute
from bfcbench.seeding import stream
from bfcbench.tasks.hierarchical import Hierarchical


def linear_kernel_learner(**params):
    # Degree 1 without offset is the linear kernel x.x'/d: of rank d.
    return registry.learner_class("kernel-poly")(
        seed=stream("init", 0), degree=1, offset=0.0, center=False, **params
    )


def test_rank_deficient_gram_falls_back_to_eigh_and_matches_least_squares():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(200)
    learner = linear_kernel_learner(ridge=0.0)
    with pytest.warns(BfcbenchWarning, match="eigendecomposition"):
        learner.fit(X, y)
    assert learner.choices["solver"] == "eigh"
    assert learner.choices["dropped"] >= 195  # rank 5 out of 200
    X_new = rng.standard_normal((50, 5))
    predictions = learner.predict(X_new)
    # With the null space dropped, kernel "ridge" at 0 is the minimum-norm
    # interpolant, i.e. ordinary least squares in the linear kernel's space.
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(predictions, X_new @ coef, rtol=1e-6, atol=1e-8)


def test_full_rank_gram_uses_cholesky():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 5))
    learner = registry.learner_class("kernel-poly")(seed=stream("init", 0), ridge=1e-3)
    learner.fit(X, rng.standard_normal(100))
    assert learner.choices["solver"] == "cholesky"


def test_non_finite_gram_is_refused():
    X = np.full((10, 3), 1e200)
    learner = registry.learner_class("kernel-poly")(seed=stream("init", 0), degree=4)
    with pytest.raises(KernelError, match="non-finite entries"):
        learner.fit(X, np.ones(10))


def test_solver_reports_fallback_reason():
    K = torch.ones(4, 4, dtype=torch.float64)  # rank 1
    alpha, info = solve_ridge(
        K, torch.arange(4.0, dtype=torch.float64), 0.0, quiet=True
    )
    assert info["solver"] == "eigh" and info["dropped"] == 3
    assert "Cholesky" in info["reason"]
    assert torch.isfinite(alpha).all()


def test_run_with_non_finite_gram_is_recorded_as_failed(monkeypatch):
    def broken_kernel(self, X1, X2):
        K = torch.ones(len(X1), len(X2), dtype=X1.dtype)
        K[0, 0] = float("nan")
        return K

    monkeypatch.setattr(PolyKernel, "kernel", broken_kernel)
    task = Hierarchical(d=6, width=2)
    params = registry.learner_class("kernel-poly")(seed=stream("init", 0)).values
    row = execute(
        RunSpec("hierarchical", task.values, "kernel-poly", params, 50, 0, n_test=20)
    ).row
    assert row["status"] == "failed"
    assert "non-finite entries" in row["message"]
    assert row["test_nmse"] is None


@pytest.mark.parametrize("learner", ["kernel-poly", "kernel-ntk"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_rows_record_dtype_ridge_and_solver(learner, dtype):
    task = Hierarchical(d=6, width=2)
    params = registry.learner_class(learner)(seed=stream("init", 0), dtype=dtype).values
    row = execute(
        RunSpec("hierarchical", task.values, learner, params, 300, 0, n_test=100)
    ).row
    assert row["status"] == "ok", row["message"]
    assert row["dtype"] == dtype
    assert row["ridge"] > 0
    assert row["solver"] in ("cholesky", "eigh")


def test_fallback_is_noted_in_the_run_message(monkeypatch):
    task = Hierarchical(d=6, width=2, depth=1)
    params = registry.learner_class("kernel-poly")(
        seed=stream("init", 0), degree=1, offset=0.0, ridge=0.0
    ).values
    row = execute(
        RunSpec("hierarchical", task.values, "kernel-poly", params, 100, 0, n_test=50)
    ).row
    assert row["status"] == "ok"
    assert row["solver"] == "eigh"
    assert "eigendecomposition" in row["message"]
