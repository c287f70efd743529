"""The interface every task implements.

A task is a seeded, versioned family of synthetic regression problems. Subclasses
declare ``name``, ``version``, ``description`` and ``params`` and implement
``_draw_inputs`` and ``target``; ``features`` and ``info`` are optional.

Bump ``version`` whenever the data a task generates for given parameters and
seeds would change: stored results are keyed by it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from bfcbench.params import Param, label, resolve
from bfcbench.seeding import child, draw_blocked

SEED = Param("seed", int, 0, "task seed: draws the target's weights", low=0)
NOISE = Param("noise", float, 0.0, "standard deviation of Gaussian label noise", low=0)


class Task(ABC):
    """A synthetic regression task ``y = f(x) + noise``.

    Parameters
    ----------
    **given
        Values of the declared parameters; strings are parsed, the rest checked.
        Missing ones take their defaults.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def __init__(self, **given: Any) -> None:
        self.values = resolve(self.params, given, f"task {self.name!r}")
        self.check(self.values)
        self.seed: int = self.values["seed"]
        self.noise: float = self.values["noise"]

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        """Check constraints between parameters; raise ``ConfigError`` if broken.

        Optional: the base class accepts every combination of valid values.
        """
        return None

    @property
    def label(self) -> str:
        """Readable name with the parameters that differ from their defaults."""
        return label(self.name, self.values, self.params)

    @property
    @abstractmethod
    def input_dim(self) -> int:
        """Dimension ``d`` of the inputs."""

    @abstractmethod
    def _draw_inputs(self, rng: np.random.Generator, n_rows: int) -> np.ndarray:
        """Draw ``n_rows`` inputs, shape ``(n_rows, d)``, float64."""

    @abstractmethod
    def target(self, X: np.ndarray) -> np.ndarray:
        """Noise-free target of inputs ``X`` of shape (n, d); returns shape (n,)."""

    def sample(
        self, n: int, stream: np.random.SeedSequence, dtype: Any = np.float64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw a labelled sample.

        Parameters
        ----------
        n : int
            Number of examples.
        stream : numpy.random.SeedSequence
            The sample's stream (``bfcbench.seeding.stream("train", seed)``). Its
            child 0 draws the inputs and child 1 the noise, block by block, so the
            sample of size ``n1`` is a prefix of the sample of size ``n2 > n1``.
        dtype : numpy dtype, default=float64
            Precision in which the inputs and labels are computed and returned.

        Returns
        -------
        X : ndarray of shape (n, d)
        y : ndarray of shape (n,)
        """
        X = draw_blocked(child(stream, 0), n, self._draw_inputs).astype(dtype)
        y = self.target(X)
        if self.noise > 0:
            noise = draw_blocked(
                child(stream, 1), n, lambda rng, rows: rng.standard_normal(rows)
            )
            y = y + (self.noise * noise).astype(dtype)
        return X, y.astype(dtype, copy=False)

    def shape(self) -> dict[str, Any]:
        """Structure that learners mirroring the target may adopt (depth, skip)."""
        return {}

    def features(self, X: np.ndarray) -> list[np.ndarray]:
        """Ground-truth intermediate features, one array per level.

        Parameters
        ----------
        X : ndarray of shape (n, d)

        Returns
        -------
        list of ndarray of shape (n, k_l)
            Empty for tasks without a hierarchy.
        """
        return []

    def info(self) -> dict[str, Any]:
        """Measured properties of the target (variance shares, floors, ...)."""
        return {}
