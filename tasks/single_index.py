"""``quadratic-index``: a nonlinearity of one quadratic feature of the input.

``y = g(z)`` with ``z = (x^T A x - tr A) / sqrt(2 tr A^2)`` for ``x ~ N(0, I_d)``
and a random symmetric ``A = U diag(s) U^T`` of rank ``r`` (``U`` with orthonormal
columns, ``s`` random signs). For Gaussian x, ``E[x^T A x] = tr A`` and
``Var(x^T A x) = 2 tr A^2``, so ``z`` has mean 0 and variance 1 exactly. The
target depends on x only through its projection on the ``r`` columns of ``U``:
a hidden quadratic feature that a network can learn and reuse, in the family of
single-index models with a quadratic index.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from bfcbench.errors import ConfigError
from bfcbench.params import Param
from bfcbench.seeding import generator, stream
from bfcbench.tasks.base import NOISE, SEED, Task

LINKS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    # He_3 / sqrt(6): orthogonal to every polynomial of lower degree in z.
    "hermite3": lambda z: (z**3 - 3 * z) / math.sqrt(6),
}


class QuadraticIndex(Task):
    """``y = g((x^T A x - tr A) / sqrt(2 tr A^2))`` for a random rank-r symmetric A."""

    name: ClassVar[str] = "quadratic-index"
    version: ClassVar[int] = 1
    description: ClassVar[str] = (
        "y = g(standardised x^T A x), A random symmetric of rank r, x ~ N(0, I_d)"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("d", int, 20, "input dimension", low=1, high=10_000),
        Param("rank", int, 4, "rank r of A (at most d)", low=1, high=10_000),
        Param("link", str, "tanh", "the nonlinearity g", choices=tuple(LINKS)),
        NOISE,
        SEED,
    )

    def __init__(self, **given: Any) -> None:
        super().__init__(**given)
        self.d: int = self.values["d"]
        self.rank: int = self.values["rank"]
        self.link: str = self.values["link"]
        rng = generator(stream("target", self.seed))
        basis, _ = np.linalg.qr(rng.standard_normal((self.d, self.rank)))
        self.signs = rng.choice([-1.0, 1.0], size=self.rank)
        self.A = (basis * self.signs) @ basis.T
        self.basis = basis
        self.trace = float(np.trace(self.A))
        self.scale = math.sqrt(2.0 * float(np.sum(self.A * self.A)))

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        if values["rank"] > values["d"]:
            raise ConfigError(
                f"task 'quadratic-index' parameter 'rank': got {values['rank']!r}; "
                f"allowed: an integer in [1, d] = [1, {values['d']}]."
            )

    @property
    def input_dim(self) -> int:
        return self.d

    def _draw_inputs(self, rng: np.random.Generator, n_rows: int) -> np.ndarray:
        return rng.standard_normal((n_rows, self.d))

    def index(self, X: np.ndarray) -> np.ndarray:
        """The standardised quadratic feature z, shape (n,)."""
        quadratic = np.einsum("ni,ij,nj->n", X, self.A.astype(X.dtype), X)
        return (quadratic - self.trace) / self.scale

    def target(self, X: np.ndarray) -> np.ndarray:
        return LINKS[self.link](self.index(X)).astype(X.dtype, copy=False)

    def features(self, X: np.ndarray) -> list[np.ndarray]:
        """The single hidden feature z, as one level of width 1."""
        return [self.index(X)[:, None]]

    def info(self) -> dict[str, Any]:
        return {"rank": self.rank, "eigenvalue_signs": self.signs.tolist()}
