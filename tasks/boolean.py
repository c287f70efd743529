"""Targets on the Boolean cube: ``sparse-parity`` and ``staircase``.

Inputs are uniform on ``{-1, +1}^d``. Monomials ``prod_{i in S} x_i`` are then
orthonormal, which makes both targets easy to reason about:

- sparse parity ``y = prod_{i in S} x_i`` over a hidden set ``S`` of size ``k`` is
  uncorrelated with every function of fewer than ``k`` coordinates, so gradient
  methods get no signal until they find ``S`` (a classic hard case for
  shallow learners and kernels, whose sample cost grows like ``d**k``);
- the staircase ``y = x_a + x_a x_b + x_a x_b x_c + ...`` (``k`` terms) adds one
  coordinate per term, so each term is reachable from the one before: a
  hierarchical target that deep networks learn step by step.

The hidden coordinates are drawn from the task seed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bfcbench.errors import ConfigError
from bfcbench.params import Param
from bfcbench.seeding import generator, stream
from bfcbench.tasks.base import NOISE, SEED, Task


class BooleanTask(Task):
    """Shared parts: ``d``, ``k``, uniform ±1 inputs, hidden coordinates."""

    params: ClassVar[tuple[Param, ...]]

    def __init__(self, **given: Any) -> None:
        super().__init__(**given)
        self.d: int = self.values["d"]
        self.k: int = self.values["k"]
        rng = generator(stream("target", self.seed))
        # Ordered: the staircase adds them in this order.
        self.support = [int(i) for i in rng.choice(self.d, size=self.k, replace=False)]

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        if values["k"] > values["d"]:
            raise ConfigError(
                f"task {cls.name!r} parameter 'k': got {values['k']!r}; "
                f"allowed: an integer in [1, d] = [1, {values['d']}]."
            )

    @property
    def input_dim(self) -> int:
        return self.d

    def _draw_inputs(self, rng: np.random.Generator, n_rows: int) -> np.ndarray:
        return 2.0 * rng.integers(0, 2, size=(n_rows, self.d)) - 1.0

    def info(self) -> dict[str, Any]:
        return {"support": self.support, "var_y": self.clean_variance() + self.noise**2}

    def clean_variance(self) -> float:
        raise NotImplementedError


def _dimension_and_order(
    default_d: int, default_k: int, what: str
) -> tuple[Param, ...]:
    return (
        Param("d", int, default_d, "input dimension", low=1, high=10_000),
        Param("k", int, default_k, what, low=1, high=64),
        NOISE,
        SEED,
    )


class SparseParity(BooleanTask):
    """Product of a hidden set of k coordinates of a uniform ±1 input."""

    name: ClassVar[str] = "sparse-parity"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "y = product of a hidden set of k coordinates of x uniform on {-1,+1}^d"
    )
    params: ClassVar[tuple[Param, ...]] = _dimension_and_order(
        20, 3, "size of the hidden set (the parity's degree)"
    )

    def target(self, X: np.ndarray) -> np.ndarray:
        return np.prod(X[:, self.support], axis=1)

    def clean_variance(self) -> float:
        return 1.0

    def degree_floor(self, degree: int) -> float:
        """Share of Var(y) outside polynomials of degree <= ``degree``.

        All of the clean signal is the single monomial of degree k.
        """
        total = 1.0 + self.noise**2
        return (self.noise**2 + (1.0 if degree < self.k else 0.0)) / total


class Staircase(BooleanTask):
    """Sum of the k nested prefix products of hidden coordinates."""

    name: ClassVar[str] = "staircase"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "y = x_a + x_a x_b + ... (k nested products of hidden coordinates), "
        "x uniform on {-1,+1}^d"
    )
    params: ClassVar[tuple[Param, ...]] = _dimension_and_order(
        20, 4, "number of terms (the last has degree k)"
    )

    def target(self, X: np.ndarray) -> np.ndarray:
        prefixes = np.cumprod(X[:, self.support], axis=1)
        return prefixes.sum(axis=1)

    def clean_variance(self) -> float:
        # k orthonormal monomials.
        return float(self.k)

    def degree_floor(self, degree: int) -> float:
        """Share of Var(y) outside polynomials of degree <= ``degree``."""
        outside = max(0, self.k - degree)
        return (outside + self.noise**2) / (self.k + self.noise**2)
