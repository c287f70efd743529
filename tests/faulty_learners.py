"""Learners that misbehave on purpose, for the tests of sweeps and isolation.

Worker processes load them through the plugin hook: with ``tests/`` on
``PYTHONPATH`` and ``BFCBENCH_PLUGINS=faulty_learners`` (see
``sweep_support.PLUGIN_ENVIRONMENT``), every class below is a learner that
``bfcbench`` can run. Each really does what its name says: raises, hangs,
diverges, allocates, crashes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import ClassVar

import numpy as np

from bfcbench.errors import Diverged
from bfcbench.learners.base import Learner
from bfcbench.params import Param


class _Faulty(Learner):
    """Predicts the training mean, if it ever gets that far."""

    version: ClassVar[int] = 1
    params: ClassVar[tuple[Param, ...]] = ()

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Faulty:
        self.mean_ = float(np.mean(y))
        self.stop_reason = "closed form"
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.mean_)


class Raises(_Faulty):
    name: ClassVar[str] = "raises"
    description: ClassVar[str] = "raises an exception in fit"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Raises:
        raise RuntimeError("deliberate failure in fit")


class Hangs(_Faulty):
    name: ClassVar[str] = "hangs"
    description: ClassVar[str] = "sleeps in fit, far past any test's timeout"
    params: ClassVar[tuple[Param, ...]] = (
        Param("seconds", float, 3600.0, "how long fit sleeps", low=0),
    )

    def fit(self, X: np.ndarray, y: np.ndarray) -> Hangs:
        time.sleep(self.values["seconds"])
        return super().fit(X, y)


class SleepyMean(_Faulty):
    name: ClassVar[str] = "sleepy-mean"
    description: ClassVar[str] = "the mean, after sleeping a while (a run that lasts)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("seconds", float, 0.2, "how long fit sleeps", low=0),
    )

    def fit(self, X: np.ndarray, y: np.ndarray) -> SleepyMean:
        time.sleep(self.values["seconds"])
        return super().fit(X, y)


class NanLoss(_Faulty):
    """Full-batch gradient descent on least squares with a step far too large.

    The loss grows geometrically until it overflows; the learner stops with
    :class:`Diverged` at the first step whose loss is not finite, as the network
    learners do.
    """

    name: ClassVar[str] = "nan-loss"
    description: ClassVar[str] = "gradient descent whose loss overflows to inf/nan"

    def fit(self, X: np.ndarray, y: np.ndarray) -> NanLoss:
        weights = np.zeros(X.shape[1])
        # Twenty times the largest stable step size 2 / L.
        curvature = np.linalg.eigvalsh(X.T @ X / len(X)).max()
        learning_rate = 40.0 / curvature
        with np.errstate(over="ignore", invalid="ignore"):
            for step in range(1, 10_001):
                residual = X @ weights - y
                loss = float(np.mean(residual**2))
                if not np.isfinite(loss):
                    raise Diverged(step, f"training loss is {loss} at step {step}")
                weights -= learning_rate * 2 * X.T @ residual / len(X)
        raise RuntimeError("the loss never left the finite numbers")


class MemoryHog(_Faulty):
    name: ClassVar[str] = "memory-hog"
    description: ClassVar[str] = "allocates and touches a large array in fit"
    params: ClassVar[tuple[Param, ...]] = (
        Param("megabytes", int, 2048, "size of the array", low=1),
    )

    def fit(self, X: np.ndarray, y: np.ndarray) -> MemoryHog:
        # np.ones writes every page, so the memory is really used.
        self.ballast_ = np.ones(self.values["megabytes"] * 2**20 // 8)
        return super().fit(X, y)


class Segfault(_Faulty):
    name: ClassVar[str] = "segfault"
    description: ClassVar[str] = "reads address 0 in fit: a segmentation fault"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Segfault:
        ctypes.string_at(0)
        return super().fit(X, y)


class OomKilled(_Faulty):
    """Imitates the kernel's OOM killer, which the tests cannot summon safely.

    It fills ``share`` of the run's memory budget (``BFCBENCH_TEST_MEMORY_LIMIT``
    bytes, set by the test) and then sends itself SIGKILL, as the OOM killer
    would on a machine out of memory.
    """

    name: ClassVar[str] = "oom-killed"
    description: ClassVar[str] = "fills most of its memory budget, then SIGKILL"
    params: ClassVar[tuple[Param, ...]] = (
        Param("share", float, 0.8, "share of the budget to fill", low=0, high=1),
    )

    def fit(self, X: np.ndarray, y: np.ndarray) -> OomKilled:
        budget = int(os.environ["BFCBENCH_TEST_MEMORY_LIMIT"])
        self.ballast_ = np.ones(int(self.values["share"] * budget) // 8)
        # Give the parent time to sample the resident memory, as it would have
        # during a long allocation.
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)
        return self
