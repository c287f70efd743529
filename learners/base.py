"""The interface every learner implements.

A learner declares ``name``, ``version``, ``description`` and ``params`` and
implements ``fit`` and ``predict``. Everything it chooses by itself (ridge,
learning rate, stopping step) goes into ``self.choices``, and why it stopped into
``self.stop_reason``; the runner stores both with the run.

Hyperparameters are chosen on a validation split carved from the training sample
(:meth:`Learner.validation_split`), never on the test set, which a learner never
sees.

Bump ``version`` whenever the predictions for given parameters and seeds would
change: stored results are keyed by it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from bfcbench.params import Param, label, resolve
from bfcbench.seeding import child, generator

VALIDATION_FRACTION = Param(
    "validation_fraction",
    float,
    0.2,
    "share of the training sample held out to choose hyperparameters",
    low=0,
    high=0.5,
    low_open=True,
)


class Learner(ABC):
    """A regression learner.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        The run's initialisation stream (``bfcbench.seeding.stream("init", s)``);
        it draws the validation split, initial weights and minibatch order.
    device : str, default="cpu"
        Torch device for learners that use torch.
    **given
        Values of the declared parameters; strings are parsed, the rest checked.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def __init__(
        self, seed: np.random.SeedSequence, device: str = "cpu", **given: Any
    ) -> None:
        self.values = resolve(self.params, given, f"learner {self.name!r}")
        self.seed = seed
        self.device = device
        self.choices: dict[str, Any] = {}
        self.stop_reason = ""
        self.task_shape: dict[str, Any] = {}

    @property
    def label(self) -> str:
        """Readable name with the parameters that differ from their defaults."""
        return label(self.name, self.values, self.params)

    @property
    def dtype(self) -> str:
        """Floating-point precision of the fit, for the run's row."""
        return str(self.values.get("dtype", "float64"))

    def adapt(self, task_shape: dict[str, Any]) -> None:
        """Receive the task's shape (``depth``, ``skip``, ...) before fitting.

        Learners that mirror the target (``deep``, ``layerwise``) fill their
        ``"auto"`` structure parameters from it; the others ignore it.
        """
        self.task_shape = dict(task_shape)

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> Learner:
        """Fit on inputs ``X`` of shape (n, d) and labels ``y`` of shape (n,)."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions of shape (n,) for inputs ``X`` of shape (n, d)."""

    def validation_split(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the fitting and validation parts of a training sample.

        The split is a seeded permutation of the rows; the validation part holds
        ``validation_fraction`` of them (at least one row, and at least one row is
        left to fit on).

        Returns
        -------
        fit_rows : ndarray of shape (n_fit,)
        validation_rows : ndarray of shape (n_validation,)
        """
        fraction = self.values.get("validation_fraction", VALIDATION_FRACTION.default)
        n_validation = min(max(1, round(fraction * n_rows)), n_rows - 1)
        order = generator(child(self.seed, 0)).permutation(n_rows)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])
