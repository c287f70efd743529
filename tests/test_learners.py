"""Every registered learner: fits, predicts, is reproducible, records choices.

Then facts about particular learners that hold independently of bfcbench.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL_HIERARCHICAL, fast_params

from bfcbench import registry
from bfcbench.errors import Diverged
from bfcbench.runner import RunSpec, execute, run_data
from bfcbench.seeding import stream
from bfcbench.tasks.hierarchical import Hierarchical

LEARNER_NAMES = list(registry.learners())


@pytest.fixture(scope="module")
def data():
    task = Hierarchical(**SMALL_HIERARCHICAL)
    return task, run_data(task, 400, 300, seed=0)


def fitted(name, data, seed=0, **params):
    task, (X, y, X_test, _) = data
    learner = registry.learner_class(name)(
        seed=stream("init", seed), **{**fast_params(name), **params}
    )
    learner.adapt(task.shape())
    learner.fit(X, y)
    return learner, learner.predict(X_test)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_fits_and_predicts(name, data):
    _, (_, _, X_test, _) = data
    learner, predictions = fitted(name, data)
    assert predictions.shape == (len(X_test),)
    assert np.isfinite(predictions).all()


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_same_seed_gives_identical_predictions(name, data):
    _, first = fitted(name, data, seed=4)
    _, second = fitted(name, data, seed=4)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_records_choices_and_stop_reason(name, data):
    learner, _ = fitted(name, data)
    assert learner.choices, f"{name} recorded no choices"
    assert learner.stop_reason


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_declares_documented_parameters(name):
    cls = registry.learner_class(name)
    assert cls.description and cls.version >= 1
    for param in cls.params:
        assert param.help, f"{name}.{param.name} has no help text"
        # The default passes the declared checks.
        assert param.check(param.default, name) == param.default


def test_networks_depend_on_the_seed(data):
    _, first = fitted("deep", data, seed=0)
    _, second = fitted("deep", data, seed=1)
    assert not np.allclose(first, second)


def test_mean_scores_nmse_near_one():
    outcome = execute(
        RunSpec("hierarchical", Hierarchical().values, "mean", {}, n_train=2000, seed=0)
    )
    assert outcome.row["status"] == "ok"
    assert outcome.row["test_nmse"] == pytest.approx(1.0, rel=0.1)


def test_poly_kernel_learns_a_depth_one_target_exactly():
    # A depth-1 target is a quadratic form of x: it lies in the degree-2
    # polynomial kernel's function space.
    task = Hierarchical(d=10, depth=1, noise=0.0)
    learner = registry.learner_class("kernel-poly")
    spec = RunSpec(
        "hierarchical",
        task.values,
        "kernel-poly",
        {p.name: p.default for p in learner.params} | {"degree": 2},
        n_train=2000,
        seed=0,
    )
    outcome = execute(spec)
    assert outcome.row["status"] == "ok", outcome.row.get("message")
    assert outcome.row["test_nmse"] < 1e-3
    assert outcome.row["solver"] == "cholesky"
    assert outcome.row["ridge"] > 0


def test_linear_baseline_recovers_a_linear_function():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 5))
    coef = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    y = X @ coef + 0.7
    learner = registry.learner_class("linear")(seed=stream("init", 0)).fit(X, y)
    np.testing.assert_allclose(learner.coef_, coef, atol=1e-6)
    assert learner.intercept_ == pytest.approx(0.7, abs=1e-6)


def test_exploding_learning_rate_is_recorded_as_diverged():
    spec = RunSpec(
        "hierarchical",
        Hierarchical(**SMALL_HIERARCHICAL).values,
        "deep",
        registry.learner_class("deep")(
            seed=stream("init", 0), optimizer="sgd", learning_rate=1e4, steps=200
        ).values,
        n_train=300,
        seed=0,
    )
    row = execute(spec).row
    assert row["status"] == "diverged"
    assert row["test_nmse"] is None and row["test_mse"] is None
    assert isinstance(row["failed_step"], int) and 1 <= row["failed_step"] <= 200
    assert "step" in row["message"]


def test_fixed_learning_rate_divergence_raises_with_step(data):
    with pytest.raises(Diverged) as caught:
        fitted("two-layer", data, optimizer="sgd", learning_rate=1e5, steps=100)
    assert 1 <= caught.value.step <= 100


def test_layerwise_freezes_lower_levels(data):
    task, (X, y, _, _) = data
    learner = registry.learner_class("layerwise")(
        seed=stream("init", 0), steps=300, eval_every=50, learning_rate=1e-2
    )
    learner.adapt(task.shape())
    learner.fit(X, y)
    assert learner.choices["depth"] == 2
    assert len(learner.choices["learning_rate"]) == 2
    assert len(learner.stop_reason.split(";")) == 2


def test_bottom_up_schedule_adds_one_read_out_per_stage(data):
    task, (X, y, _, _) = data
    learner = registry.learner_class("deep")(
        seed=stream("init", 0), schedule="bottom-up", steps=200, eval_every=50
    )
    learner.adapt(task.shape())
    learner.fit(X, y)
    assert learner.choices["depth"] == 2
    assert len(learner.choices["learning_rate"]) == 2
    # After the last stage every read-out is on.
    assert learner.model_.readout_mask.tolist() == [1.0, 1.0]
    assert float(learner.model_.readouts[1].detach().abs().sum()) > 0


@pytest.mark.parametrize(
    ("shape", "status"),
    [("column", "ok"), ("short", "failed"), ("square", "failed")],
)
def test_predictions_of_the_wrong_shape_fail_the_run(monkeypatch, shape, status):
    # A (n, n) or (n - 1,) answer would broadcast into a meaningless NMSE.
    mean = registry.learner_class("mean")
    flat = mean.predict

    def reshaped(self, X):
        values = flat(self, X)
        return {
            "column": values[:, None],
            "short": values[:-1],
            "square": np.tile(values, (len(values), 1)),
        }[shape]

    monkeypatch.setattr(mean, "predict", reshaped)
    spec = RunSpec("hierarchical", SMALL_HIERARCHICAL, "mean", {}, 50, 0, n_test=40)
    row = execute(spec).row
    assert row["status"] == status, row["message"]
    if status == "ok":
        assert row["test_nmse"] == pytest.approx(1.0, abs=0.2)
    else:
        assert row["message"].startswith("predict returned shape (")
        assert row["message"].endswith("for 40 test points; allowed: (40,)")
        assert row["test_nmse"] is None


@pytest.mark.parametrize("name", ["deep", "layerwise"])
def test_two_training_points_train_rather_than_diverge(name):
    # One fitting row after the validation split: nothing to standardise with.
    spec = RunSpec(
        "hierarchical", SMALL_HIERARCHICAL, name, fast_params(name), 2, 0, n_test=40
    )
    row = execute(spec).row
    assert row["status"] == "ok", row["message"]
    assert np.isfinite(row["test_nmse"])
