"""``bfcbench data`` writes exactly the samples a run sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from sklearn.kernel_ridge import KernelRidge

from bfcbench.runner import run_data
from bfcbench.tasks.hierarchical import Hierarchical

TASK = ["--task-param", "d=8", "--task-param", "width=2", "--task-param", "skip=chain"]


def test_exported_samples_are_the_runs_samples(tmp_path):
    out = tmp_path / "sub" / "data.npz"
    result = run_cli(
        "data", *TASK, "--n", "300", "--seed", "4", "--n-test", "120", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out)
    expected = run_data(Hierarchical(d=8, width=2, skip="chain"), 300, 120, seed=4)
    for name, array in zip(
        ("X_train", "y_train", "X_test", "y_test"), expected, strict=True
    ):
        np.testing.assert_array_equal(saved[name], array)
    assert str(saved["task"]) == "hierarchical"
    assert json.loads(str(saved["task_params"]))["skip"] == "chain"


def test_an_outside_learner_scores_the_same_as_the_run(tmp_path, store_path):
    out = tmp_path / "data.npz"
    assert (
        run_cli(
            "data", *TASK, "--n", "400", "--n-test", "200", "--out", str(out)
        ).returncode
        == 0
    )
    run = run_cli(
        "run",
        *TASK,
        "--learner",
        "kernel-poly",
        "--learner-param",
        "ridge=0.01",
        "--learner-param",
        "center=false",
        "--n",
        "400",
        "--n-test",
        "200",
        "--store",
        str(store_path),
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(run.stdout)
    data = np.load(out)
    outside = KernelRidge(alpha=0.01, kernel="poly", degree=2, gamma=1 / 8, coef0=1.0)
    predictions = outside.fit(data["X_train"], data["y_train"]).predict(data["X_test"])
    nmse = np.mean((predictions - data["y_test"]) ** 2) / np.var(data["y_test"])
    assert nmse == pytest.approx(row["test_nmse"], rel=1e-6)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--n", "0"], "--n: got '0'"),
        (["--n", "10", "--seed", "-1"], "--seed: got '-1'"),
        (["--n", "10", "--task-param", "gap=3"], "parameter 'gap'"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, args, expected):
    out = tmp_path / "data.npz"
    result = run_cli("data", *args, "--out", str(out))
    assert result.returncode == 2
    assert expected in result.stderr
    assert not out.exists()


def test_out_must_be_an_npz_file(tmp_path):
    result = run_cli("data", "--n", "10", "--out", str(tmp_path / "data.csv"))
    assert result.returncode == 2
    assert "ending in .npz" in result.stderr


def test_show_choices_prints_what_each_run_chose(store_path):
    result = run_cli(
        "run",
        *TASK,
        "--learner",
        "kernel-poly,linear",
        "--n",
        "200",
        "--n-test",
        "50",
        "--store",
        str(store_path),
        "--show-choices",
    )
    assert result.returncode == 0, result.stderr
    lines = [
        line for line in result.stdout.splitlines() if line.startswith("kernel-poly")
    ]
    assert len(lines) == 2  # the summary line and the choices line
    assert "relative_ridge=" in lines[1] and "solver=cholesky" in lines[1]
