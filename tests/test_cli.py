"""The command line, run in real subprocesses against temporary stores."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import run_cli

from bfcbench.store import COLUMN_NAMES

SMALL = ["--task-param", "d=8", "--task-param", "width=2", "--task-param", "depth=2"]


def stored_rows(path):
    if not path.exists():
        return None
    return sqlite3.connect(path).execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_run_writes_rows_and_prints_a_table(store_path):
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "mean,linear,kernel-poly",
        "--n",
        "100,300",
        "--seeds",
        "2",
        "--n-test",
        "200",
        "--store",
        str(store_path),
    )
    assert result.returncode == 0, result.stderr
    assert stored_rows(store_path) == 12
    lines = result.stdout.splitlines()
    assert lines[0].startswith("task: hierarchical[d=8,depth=2,width=2]")
    body = [
        line.split()
        for line in lines
        if line.startswith(("mean", "linear", "kernel-poly"))
    ]
    assert len(body) == 6  # one line per (learner, n)
    assert {line[-1] for line in body} == {"ok"}


def test_json_rows_carry_the_design_columns(store_path):
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "mean",
        "--n",
        "50",
        "--seeds",
        "3",
        "--n-test",
        "100",
        "--store",
        str(store_path),
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    assert set(rows[0]) == set(COLUMN_NAMES)
    assert [row["seed"] for row in rows] == [0, 1, 2]
    assert rows[0]["task_params"]["d"] == 8
    assert rows[0]["status"] == "ok" and 0.5 < rows[0]["test_nmse"] < 1.5


def test_learner_param_reaches_only_learners_that_declare_it(store_path):
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "mean,kernel-poly",
        "--learner-param",
        "degree=3",
        "--n",
        "60",
        "--n-test",
        "50",
        "--store",
        str(store_path),
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = {row["learner"]: row for row in json.loads(result.stdout)}
    assert rows["kernel-poly"]["learner_params"]["degree"] == 3
    assert rows["kernel-poly"]["learner_label"] == "kernel-poly[degree=3]"
    assert rows["mean"]["learner_params"] == {}


def test_environment_variable_chooses_the_store(tmp_path):
    path = tmp_path / "from-env.sqlite"
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "mean",
        "--n",
        "20",
        "--n-test",
        "20",
        env={"BFCBENCH_STORE": str(path)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert stored_rows(path) == 1
    assert not (tmp_path / "results").exists()


def test_default_store_is_under_the_working_directory(tmp_path):
    result = run_cli(
        "run", *SMALL, "--learner", "mean", "--n", "20", "--n-test", "20", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert stored_rows(tmp_path / "results" / "bfcbench.sqlite") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--task", "hierarchcal"], "Did you mean 'hierarchical'"),
        (["--learner", "deap"], "Did you mean 'deep'"),
        (["--learner", "mean,nope"], "'nope'"),
        (
            ["--task-param", "gap=1.5"],
            "parameter 'gap': got '1.5'; allowed: a number in (0, 1)",
        ),
        (
            ["--task-param", "width=9", "--task-param", "d=8"],
            "parameter 'width': got 9",
        ),
        (["--task-param", "depth=0"], "parameter 'depth'"),
        (["--task-param", "skip=tree"], "one of 'chain', 'dense', 'input'"),
        (["--task-param", "noise=-1"], "parameter 'noise'"),
        (["--task-param", "gap"], "KEY=VALUE"),
        (["--task-param", "colour=red"], "has no parameter 'colour'"),
        (["--learner", "mean", "--learner-param", "degree=2"], "none of mean declares"),
        (
            ["--learner", "kernel-poly", "--learner-param", "degree=two"],
            "parameter 'degree': got 'two'",
        ),
        (["--n", "100,x"], "--n: got '100,x'"),
        (["--n", "1"], "--n: got '1'"),
        (["--seeds", "0"], "--seeds: got '0'"),
        (["--format", "yaml"], "invalid choice: 'yaml'"),
        (["--device", "tpu"], "--device: got 'tpu'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--learner", "mean,mean"], "(mean twice)"),
        (["--learner", "deep,,mean"], "each once, or 'all'"),
        (["--learner", "all,mean"], "'all' alone"),
        (["--n", "200,200"], "(200 twice)"),
        (["--seeds", "x"], "--seeds: got 'x'; allowed: one integer"),
        (
            ["--task-param", "depth=3", "--task-param", "depth=4"],
            "got depth=3 and 'depth=4'; allowed: each key once",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_stored(store_path, args, expected):
    result = run_cli("run", "--learner", "mean", *args, "--store", str(store_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert result.stdout == ""
    assert not store_path.exists()


def test_bad_input_leaves_an_existing_store_untouched(store_path):
    assert (
        run_cli(
            "run",
            *SMALL,
            "--learner",
            "mean",
            "--n",
            "20",
            "--n-test",
            "20",
            "--store",
            str(store_path),
        ).returncode
        == 0
    )
    before = store_path.read_bytes()
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "mean",
        "--n",
        "20",
        "--task-param",
        "gap=7",
        "--store",
        str(store_path),
    )
    assert result.returncode == 2
    assert stored_rows(store_path) == 1
    assert store_path.read_bytes() == before


def test_store_in_a_directory_path_is_refused(tmp_path):
    result = run_cli("run", "--learner", "mean", "--n", "20", "--store", str(tmp_path))
    assert result.returncode == 2
    assert "not a directory" in result.stderr


@pytest.mark.parametrize("kind", ["tasks", "learners"])
def test_list_shows_names_descriptions_and_parameters(kind):
    result = run_cli("list", kind, "--format", "json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    from bfcbench import registry

    expected = registry.tasks() if kind == "tasks" else registry.learners()
    assert [entry["name"] for entry in entries] == list(expected)
    for entry in entries:
        assert entry["description"]
        for param in entry["parameters"]:
            assert {"parameter", "type", "default", "allowed", "meaning"} <= set(param)
    text = run_cli("list", kind)
    assert text.returncode == 0
    for name in expected:
        assert f"{name} (version" in text.stdout


def test_describe_reports_level_shares_and_floors():
    result = run_cli(
        "describe", "--task-param", "skip=chain", "--floors", "2", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert len(facts["level_shares"]) == 3
    assert 0 < facts["degree_2_floor"] < 1


def test_diverged_run_is_stored_without_error_values(store_path):
    result = run_cli(
        "run",
        *SMALL,
        "--learner",
        "deep",
        "--learner-param",
        "optimizer=sgd",
        "--learner-param",
        "learning_rate=10000",
        "--learner-param",
        "steps=100",
        "--n",
        "200",
        "--n-test",
        "50",
        "--store",
        str(store_path),
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "diverged"
    assert row["test_nmse"] is None and row["test_mse"] is None
    assert row["failed_step"] >= 1
    connection = sqlite3.connect(store_path)
    assert (
        connection.execute("SELECT typeof(test_nmse) FROM runs").fetchone()[0] == "null"
    )


def test_run_dry_run_lists_the_plan_and_runs_nothing(store_path):
    common = [*SMALL, "--n-test", "20", "--store", str(store_path)]
    first = run_cli("run", "--learner", "mean", "--n", "20", *common)
    assert first.returncode == 0, first.stderr
    result = run_cli(
        "run", "--learner", "mean,linear", "--n", "20,40", *common,
        "--dry-run", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    plan = {(row["learner"], row["n_train"]): row["action"] for row in rows}
    assert plan == {
        ("mean", 20): "skip",
        ("linear", 20): "run",
        ("mean", 40): "run",
        ("linear", 40): "run",
    }
    connection = sqlite3.connect(store_path)
    assert connection.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
    connection.close()
