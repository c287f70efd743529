"""Feature recovery: the R² measure, its recording, and backward feature correction."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from conftest import run_cli

from bfcbench import registry
from bfcbench.features import recovery_r2
from bfcbench.runner import RunSpec, execute
from bfcbench.store import Store
from bfcbench.tasks.hierarchical import Hierarchical


def test_r2_ignores_rotation_and_scale():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((2000, 4))
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    learned = 3.0 * true @ rotation + 1.5
    assert recovery_r2(learned, true) == pytest.approx(1.0, abs=1e-9)


def test_r2_of_unrelated_features_is_near_zero():
    rng = np.random.default_rng(1)
    r2 = recovery_r2(rng.standard_normal((4000, 8)), rng.standard_normal((4000, 4)))
    assert -0.02 < r2 < 0.02


def test_r2_of_half_the_units_is_about_half():
    rng = np.random.default_rng(2)
    true = rng.standard_normal((4000, 4))
    learned = np.hstack([true[:, :2], rng.standard_normal((4000, 6))])
    assert recovery_r2(learned, true) == pytest.approx(0.5, abs=0.03)


def network_run(learner, task, n_train, seed, **params):
    values = registry.learner_class(learner)(seed=None, **params).values
    return execute(RunSpec("hierarchical", task.values, learner, values, n_train, seed))


def test_network_runs_record_curves_and_final_values(store_path):
    task = Hierarchical(d=8, depth=2, width=2)
    outcome = network_run("deep", task, 500, 0, steps=300, eval_every=50)
    row = outcome.row
    assert row["status"] == "ok"
    assert len(row["feature_r2"]) == 2
    steps = sorted({step for step, _, _ in outcome.curve})
    assert steps == list(range(50, 301, 50))
    assert {level for _, level, _ in outcome.curve} == {1, 2}
    with Store(store_path) as store:
        run_id = store.add(row, outcome.curve)
        assert len(store.curves([run_id])) == len(outcome.curve) == 12


def test_kernel_runs_record_no_features():
    task = Hierarchical(d=8, depth=2, width=2)
    values = registry.learner_class("kernel-poly")(seed=None).values
    outcome = execute(
        RunSpec("hierarchical", task.values, "kernel-poly", values, 200, 0)
    )
    assert outcome.row["feature_r2"] is None if "feature_r2" in outcome.row else True
    assert outcome.curve == []


@pytest.mark.slow
def test_deep_ends_with_better_level_one_features_than_layerwise():
    # A small configuration where level 2 reads the input directly and carries
    # much of the signal (gap 0.7), and the learner has exactly as many units
    # per level as the target (width 4). Trained level by level, level 1 must
    # fit what it can of level 2's quadratic part and keeps that error; trained
    # end to end, level 2 takes its share and level 1's features are corrected.
    task = Hierarchical(d=10, depth=2, width=4, skip="input", gap=0.7)
    final = {}
    for learner in ("deep", "layerwise"):
        final[learner] = [
            network_run(learner, task, 4000, seed, width=4, steps=4000).row[
                "feature_r2"
            ][0]
            for seed in range(3)
        ]
    assert (
        statistics.median(final["deep"]) > statistics.median(final["layerwise"]) + 0.05
    ), final


def test_features_command_prints_final_and_curves(store_path):
    task = ["--task-param", "d=8", "--task-param", "depth=2", "--task-param", "width=2"]
    common = ["--store", str(store_path), "--n", "300", "--n-test", "100"]
    result = run_cli(
        "run", *task, "--learner", "deep,mean", "--learner-param", "steps=200", *common
    )
    assert result.returncode == 0, result.stderr
    final = run_cli("features", "--store", str(store_path), "--format", "json")
    assert final.returncode == 0, final.stderr
    (entry,) = json.loads(final.stdout)
    assert entry["learner"] == "deep[steps=200]"
    assert set(entry) >= {"level_1", "level_2"}
    curves = run_cli(
        "features", "--store", str(store_path), "--curves", "--format", "json"
    )
    steps = [point["step"] for point in json.loads(curves.stdout)]
    assert steps == [100, 200]
    # Like every reader: an export reads the same, filters apply, no match is an
    # error naming the filter.
    export = store_path.parent / "runs.csv"
    assert (
        run_cli("export", "--store", str(store_path), "--out", str(export)).returncode
        == 0
    )
    from_csv = run_cli("features", "--store", str(export), "--format", "json")
    assert from_csv.returncode == 0, from_csv.stderr
    assert json.loads(from_csv.stdout) == json.loads(final.stdout)
    nothing = run_cli("features", "--store", str(export), "--where", "n_train=999")
    assert nothing.returncode == 2
    assert nothing.stderr.startswith("bfcbench: error: --where: got ")
    only_mean = run_cli("features", "--store", str(store_path), "--learner", "mean")
    assert only_mean.returncode == 2
    assert "recorded no feature recovery" in only_mean.stderr
