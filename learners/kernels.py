"""Kernel ridge regression: ``kernel-poly`` and ``kernel-ntk``.

The fit solves ``(K + ridge * I) alpha = y - mean(y)`` exactly. The ridge is chosen
on a validation split carved from the training sample, from multiples of the
mean diagonal of ``K`` (``RELATIVE_RIDGES``), and the model is then refitted on the
whole training sample.

Numerical honesty: the solve is a Cholesky factorisation; when it fails (the
matrix is not numerically positive definite) or yields non-finite values, the
learner falls back to an eigendecomposition that drops eigenvalues below
``EIGEN_CUTOFF * max eigenvalue``, warns, and records ``solver = "eigh"`` with the
number of dropped directions. A Gram matrix with non-finite entries is never
solved: the fit raises :class:`KernelError`, and the run is recorded as failed
with that reason.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch

from bfcbench.errors import BfcbenchError, BfcbenchWarning
from bfcbench.learners._kernel_functions import ntk_kernel, poly_kernel
from bfcbench.learners.base import VALIDATION_FRACTION, Learner
from bfcbench.params import Param

RELATIVE_RIDGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
EIGEN_CUTOFF = {torch.float64: 1e-12, torch.float32: 1e-6}
DTYPES = {"float64": torch.float64, "float32": torch.float32}

# An exact fit holds the kernel matrix, a factor and a working copy at once.
MATRIX_COPIES = 3


class KernelError(BfcbenchError):
    """The kernel matrix cannot be used (non-finite entries)."""


class KernelRidge(Learner):
    """Exact kernel ridge regression; subclasses define the kernel."""

    params: ClassVar[tuple[Param, ...]]
    common_params: ClassVar[tuple[Param, ...]] = (
        Param(
            "ridge",
            float,
            "auto",
            "ridge added to the kernel diagonal; auto picks one on validation data",
            low=0,
            auto=True,
        ),
        Param("dtype", str, "float64", "precision of the solve", choices=tuple(DTYPES)),
        Param("center", bool, True, "subtract the training mean of y (intercept)"),
        VALIDATION_FRACTION,
    )

    def kernel(self, X1: torch.Tensor, X2: torch.Tensor) -> torch.Tensor:
        """Kernel matrix of shape (n1, n2)."""
        raise NotImplementedError

    def memory_estimate(self, n_train: int, n_features: int) -> int:
        """Bytes an exact fit on ``n_train`` examples needs at its peak."""
        itemsize = torch.finfo(DTYPES[self.values["dtype"]]).bits // 8
        return (
            MATRIX_COPIES * n_train * n_train * itemsize + 4 * n_train * n_features * 8
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> KernelRidge:
        dtype = DTYPES[self.values["dtype"]]
        self.X_ = torch.as_tensor(np.asarray(X), dtype=dtype, device=self.device)
        targets = torch.as_tensor(np.asarray(y), dtype=dtype, device=self.device)
        self.intercept_ = float(targets.mean()) if self.values["center"] else 0.0
        targets = targets - self.intercept_

        K = self.kernel(self.X_, self.X_)
        bad = int((~torch.isfinite(K)).sum())
        if bad:
            raise KernelError(f"the Gram matrix has {bad} non-finite entries")
        scale = float(K.diagonal().mean())
        self.choices["kernel_scale"] = scale

        ridge = self.values["ridge"]
        if ridge == "auto":
            ridge = self._choose_ridge(K, targets, scale)
        self.alpha_, solver = solve_ridge(K, targets, ridge)
        self.choices.update(ridge=ridge, **solver)
        self.stop_reason = "closed form"
        return self

    def _choose_ridge(
        self, K: torch.Tensor, targets: torch.Tensor, scale: float
    ) -> float:
        fit_rows, validation_rows = (
            torch.as_tensor(rows, device=K.device)
            for rows in self.validation_split(len(K))
        )
        K_fit = K[fit_rows][:, fit_rows]
        K_cross = K[validation_rows][:, fit_rows]
        scores = {}
        for relative in RELATIVE_RIDGES:
            alpha, _ = solve_ridge(
                K_fit, targets[fit_rows], relative * scale, quiet=True
            )
            residual = K_cross @ alpha - targets[validation_rows]
            scores[relative] = float((residual**2).mean())
        finite = {r: s for r, s in scores.items() if np.isfinite(s)}
        if not finite:
            raise KernelError("every ridge gave non-finite validation errors")
        best = min(finite, key=finite.__getitem__)
        self.choices["relative_ridge"] = best
        self.choices["validation_mse"] = {f"{r:g}": s for r, s in scores.items()}
        return best * scale

    def predict(self, X: np.ndarray) -> np.ndarray:
        X_new = torch.as_tensor(np.asarray(X), dtype=self.X_.dtype, device=self.device)
        predictions = self.kernel(X_new, self.X_) @ self.alpha_ + self.intercept_
        return predictions.cpu().numpy().astype(np.float64)


def solve_ridge(
    K: torch.Tensor, targets: torch.Tensor, ridge: float, quiet: bool = False
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Solve ``(K + ridge I) alpha = targets``.

    Parameters
    ----------
    K : Tensor of shape (n, n)
        Symmetric kernel matrix; left unchanged.
    targets : Tensor of shape (n,)
    ridge : float
        Absolute ridge, at least 0.
    quiet : bool, default=False
        Do not warn on fallback (used while scanning ridges).

    Returns
    -------
    alpha : Tensor of shape (n,)
    solver : dict
        ``{"solver": "cholesky"}``, or ``{"solver": "eigh", "dropped": int,
        "reason": str}`` after a fallback.
    """
    system = K.clone()
    system.diagonal().add_(ridge)
    factor, info = torch.linalg.cholesky_ex(system)
    del system
    if int(info) == 0:
        # Solving with the upper factor avoids a copy of the whole factor.
        alpha = torch.cholesky_solve(targets[:, None], factor.mT, upper=True)[:, 0]
        if bool(torch.isfinite(alpha).all()):
            return alpha, {"solver": "cholesky"}
        reason = "Cholesky solve gave non-finite values"
    else:
        reason = f"Cholesky failed at pivot {int(info)}"
    del factor

    eigenvalues, vectors = torch.linalg.eigh(K)
    cutoff = EIGEN_CUTOFF[K.dtype] * float(eigenvalues.abs().max())
    keep = eigenvalues + ridge > cutoff
    coefficients = (vectors[:, keep].T @ targets) / (eigenvalues[keep] + ridge)
    alpha = vectors[:, keep] @ coefficients
    dropped = int((~keep).sum())
    if not quiet:
        warnings.warn(
            f"kernel ridge: {reason}; solved by eigendecomposition, dropping "
            f"{dropped} directions below {cutoff:.3g}.",
            BfcbenchWarning,
            stacklevel=2,
        )
    return alpha, {"solver": "eigh", "dropped": dropped, "reason": reason}


class PolyKernel(KernelRidge):
    """Kernel ridge regression with the polynomial kernel."""

    name: ClassVar[str] = "kernel-poly"
    version: ClassVar[int] = 1
    description: ClassVar[str] = "kernel ridge regression, kernel (x.x'/d + c)**p"
    params: ClassVar[tuple[Param, ...]] = (
        Param("degree", int, 2, "polynomial degree p", low=1, high=32),
        Param("offset", float, 1.0, "constant c added to x.x'/d", low=0),
        *KernelRidge.common_params,
    )

    def kernel(self, X1: torch.Tensor, X2: torch.Tensor) -> torch.Tensor:
        return poly_kernel(X1, X2, self.values["degree"], self.values["offset"])


class NTKKernel(KernelRidge):
    """Kernel ridge regression with the neural tangent kernel of a deep network."""

    name: ClassVar[str] = "kernel-ntk"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "kernel ridge regression with the closed-form NTK of a fully connected "
        "ReLU (or quadratic) network"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("depth", int, 3, "hidden layers of the network", low=1, high=64),
        Param(
            "activation",
            str,
            "relu",
            "activation of the network",
            choices=("relu", "quadratic"),
        ),
        *KernelRidge.common_params,
    )

    def kernel(self, X1: torch.Tensor, X2: torch.Tensor) -> torch.Tensor:
        return ntk_kernel(X1, X2, self.values["depth"], self.values["activation"])
