"""sparse-parity, staircase and quadratic-index against facts known in closed form.

The Boolean tasks are checked exactly by enumerating the whole cube {-1, +1}^d.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bfcbench.errors import ConfigError
from bfcbench.seeding import stream
from bfcbench.tasks.boolean import SparseParity, Staircase
from bfcbench.tasks.single_index import QuadraticIndex


def cube(d):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=d)))


def monomials(d, max_degree):
    for degree in range(max_degree + 1):
        yield from itertools.combinations(range(d), degree)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_parity_is_uncorrelated_with_every_lower_degree_monomial(k):
    task = SparseParity(d=8, k=k, seed=3)
    X = cube(8)
    y = task.target(X)
    for subset in monomials(8, k - 1):
        assert np.mean(y * np.prod(X[:, list(subset)], axis=1)) == 0.0
    # ... and perfectly correlated with its own monomial, uncorrelated with the
    # other monomials of degree k.
    for subset in itertools.combinations(range(8), k):
        correlation = np.mean(y * np.prod(X[:, list(subset)], axis=1))
        assert correlation == (1.0 if sorted(subset) == sorted(task.support) else 0.0)


def test_parity_floor_is_total_below_its_degree():
    task = SparseParity(d=10, k=3)
    assert task.degree_floor(2) == 1.0
    assert task.degree_floor(3) == 0.0


def test_staircase_terms_are_its_only_fourier_coefficients():
    task = Staircase(d=7, k=4, seed=1)
    X = cube(7)
    y = task.target(X)
    prefixes = {tuple(sorted(task.support[: j + 1])) for j in range(4)}
    for subset in monomials(7, 4):
        coefficient = np.mean(y * np.prod(X[:, list(subset)], axis=1))
        assert coefficient == (1.0 if tuple(sorted(subset)) in prefixes else 0.0)
    assert np.mean(y**2) == 4.0  # Parseval: k unit coefficients


def test_staircase_each_term_adds_one_coordinate():
    task = Staircase(d=12, k=5)
    assert len(set(task.support)) == 5
    X, y = task.sample(2000, stream("train", 0))
    expected = sum(np.prod(X[:, task.support[: j + 1]], axis=1) for j in range(5))
    np.testing.assert_array_equal(y, expected)


def test_quadratic_index_is_standardised_exactly():
    task = QuadraticIndex(d=12, rank=3, link="tanh")
    assert np.linalg.matrix_rank(task.A) == 3
    np.testing.assert_allclose(task.A, task.A.T)
    # E[x'Ax] = tr A and Var(x'Ax) = 2 tr A^2 for Gaussian x.
    X, _ = task.sample(200_000, stream("test", 0))
    z = task.index(X)
    assert abs(z.mean()) < 0.01
    assert z.var() == pytest.approx(1.0, rel=0.02)


def test_quadratic_index_ignores_directions_outside_its_subspace():
    task = QuadraticIndex(d=10, rank=2, link="relu")
    X, y = task.sample(500, stream("train", 0))
    rng = np.random.default_rng(0)
    complement = np.eye(10) - task.basis @ task.basis.T
    moved = X + rng.standard_normal(X.shape) @ complement
    np.testing.assert_allclose(task.target(moved), y, atol=1e-10)


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        (SparseParity, {"d": 5, "k": 6}, "k"),
        (Staircase, {"k": 0}, "k"),
        (QuadraticIndex, {"d": 3, "rank": 4}, "rank"),
        (QuadraticIndex, {"link": "sigmoid"}, "link"),
    ],
)
def test_impossible_parameters_are_refused(cls, params, name):
    with pytest.raises(ConfigError, match=f"parameter '{name}'"):
        cls(**params)
