"""Every registered task: shapes, finiteness, determinism, nested samples.

Then the hierarchical target against facts that hold by construction.
"""

from __future__ import annotations

import numpy as np
import pytest

from bfcbench import registry
from bfcbench.errors import ConfigError
from bfcbench.runner import run_data
from bfcbench.seeding import stream
from bfcbench.tasks.hierarchical import Hierarchical

TASK_NAMES = list(registry.tasks())


@pytest.fixture(scope="module", params=TASK_NAMES)
def task(request):
    return registry.task_class(request.param)()


def test_sample_shapes_and_finiteness(task):
    X, y = task.sample(300, stream("train", 0))
    assert X.shape == (300, task.input_dim)
    assert y.shape == (300,)
    assert np.isfinite(X).all() and np.isfinite(y).all()
    assert X.dtype == np.float64 and y.dtype == np.float64


def test_same_seeds_give_identical_data(task):
    rebuilt = type(task)(**task.values)
    first = task.sample(500, stream("train", 3))
    second = rebuilt.sample(500, stream("train", 3))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_small_sample_is_prefix_of_large_one(task):
    # Sizes straddle the block size of the sampler.
    X_small, y_small = task.sample(1500, stream("train", 1))
    X_large, y_large = task.sample(5000, stream("train", 1))
    np.testing.assert_array_equal(X_small, X_large[:1500])
    np.testing.assert_array_equal(y_small, y_large[:1500])


def test_train_and_test_streams_differ(task):
    X_train, _, X_test, _ = run_data(task, 200, 200, seed=0)
    assert not np.allclose(X_train, X_test)


def test_run_seeds_differ(task):
    X0, _ = task.sample(100, stream("train", 0))
    X1, _ = task.sample(100, stream("train", 1))
    assert not np.allclose(X0, X1)


def test_labels_are_not_constant(task):
    _, y = task.sample(2000, stream("train", 0))
    assert np.var(y) > 1e-6


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"width": 21, "d": 20}, "width"),
        ({"gap": 1.0}, "gap"),
        ({"gap": 0.0}, "gap"),
        ({"gap": -0.5}, "gap"),
        ({"depth": 0}, "depth"),
        ({"skip": "residual"}, "skip"),
        ({"noise": -0.1}, "noise"),
        ({"seed": -1}, "seed"),
        ({"d": 0}, "d"),
    ],
)
def test_impossible_parameters_are_refused(params, name):
    with pytest.raises(ConfigError, match=f"parameter '{name}'") as caught:
        Hierarchical(**params)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("skip", ["chain", "dense", "input"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depth_six_is_finite_at_default_scale(skip, dtype):
    task = Hierarchical(depth=6, skip=skip)
    X, y = task.sample(20_000, stream("test", 0), dtype=dtype)
    assert y.dtype == dtype
    assert np.isfinite(y).all()
    for level in task.features(X):
        assert np.isfinite(level).all()


@pytest.mark.parametrize("skip", ["chain", "dense", "input"])
def test_level_one_is_standard_and_level_two_near_standard(skip):
    task = Hierarchical(depth=3, skip=skip, d=12)
    X, _ = task.sample(100_000, stream("test", 5))
    levels = task.features(X)
    assert [level.shape for level in levels] == [(100_000, 4)] * 3
    np.testing.assert_allclose(levels[0].mean(axis=0), 0, atol=0.03)
    np.testing.assert_allclose(levels[0].var(axis=0), 1, atol=0.05)
    # Higher levels are heavy-tailed (see level_kurtosis): their moments are
    # fixed on the reference sample and a fresh sample only roughly agrees.
    np.testing.assert_allclose(levels[1].mean(axis=0), 0, atol=0.1)
    np.testing.assert_allclose(levels[1].var(axis=0), 1, rtol=0.3)


def test_chain_level_two_moments_match_a_monte_carlo_estimate():
    # Level 2 of a chain is standardised with closed-form moments; an
    # independent sample must agree within its statistical error. H_2 has a
    # kurtosis of a few hundred, so the standard error of its standard deviation
    # from 400k rows is about sqrt(300 / (4 * 400k)) = 1.4%.
    task = Hierarchical(depth=2, skip="chain", d=10, width=5)
    W1, W2 = task.weights[0][0], task.weights[1][1]
    X = np.random.default_rng(123).standard_normal((400_000, 10))
    G1 = ((X @ W1.T) ** 2 - 1) / np.sqrt(2)
    S2 = G1 @ W2.T
    H2 = (S2**2 - 1) / np.sqrt(2)
    np.testing.assert_allclose(S2.std(axis=0), task.pre_scale[1], rtol=0.02)
    np.testing.assert_allclose(H2.mean(axis=0), task.post_mean[1], atol=0.05)
    np.testing.assert_allclose(H2.std(axis=0), task.post_std[1], rtol=0.06)


def test_label_is_the_sum_of_weighted_levels():
    task = Hierarchical(depth=3, gap=0.5, width=3, d=9)
    X, y = task.sample(1000, stream("train", 0))
    levels = task.features(X)
    expected = sum(
        0.5**index * level.sum(axis=1) / np.sqrt(3)
        for index, level in enumerate(levels)
    )
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_chain_level_one_is_a_quadratic_form_of_x():
    # G_1 = ((W x)^2 - 1) / sqrt(2) with W of orthonormal rows: exactly.
    task = Hierarchical(depth=1, skip="chain", d=6, width=3)
    X, _ = task.sample(50, stream("train", 0))
    W = task.weights[0][0]
    np.testing.assert_allclose(W @ W.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(task.features(X)[0], ((X @ W.T) ** 2 - 1) / np.sqrt(2))


def test_noise_has_the_requested_variance():
    clean = Hierarchical(noise=0.0)
    noisy = Hierarchical(noise=0.5)
    X, y_clean = clean.sample(20_000, stream("train", 0))
    X_noisy, y_noisy = noisy.sample(20_000, stream("train", 0))
    np.testing.assert_array_equal(X, X_noisy)
    assert np.var(y_noisy - y_clean) == pytest.approx(0.25, rel=0.05)


def test_level_shares_match_an_independent_sample():
    task = Hierarchical(depth=3, gap=0.3)
    shares = task.level_shares()
    assert len(shares) == 3
    assert shares[0] > shares[1] > shares[2] > 0
    X, y = task.sample(200_000, stream("test", 9))
    terms = [
        0.3**index * level.sum(axis=1) / np.sqrt(task.width)
        for index, level in enumerate(task.features(X))
    ]
    # The first two levels are light-tailed enough for a fresh sample to agree.
    for share, term in zip(shares[:2], terms[:2], strict=True):
        assert share == pytest.approx(np.var(term) / np.var(y), rel=0.1)


def test_target_seed_changes_the_target_not_the_inputs():
    first, second = Hierarchical(seed=0), Hierarchical(seed=1)
    X1, y1 = first.sample(100, stream("train", 0))
    X2, y2 = second.sample(100, stream("train", 0))
    np.testing.assert_array_equal(X1, X2)
    assert not np.allclose(y1, y2)
