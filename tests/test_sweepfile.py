"""Sweep files: expansion of the grid, and one-line errors naming key and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bfcbench import sweepfile
from bfcbench.errors import ConfigError

GOOD = """\
n_train = [100, 200]
seeds = 2
n_test = 100
timeout = "5m"

[[tasks]]
name = "hierarchical"
params = { d = 8, depth = 2, width = [2, 3] }

[[learners]]
name = "mean"

[[learners]]
name = "kernel-poly"
params = { degree = [2, 3] }
n_train = [100]
timeout = 30
"""


def test_grid_is_tasks_times_learners_times_n_times_seeds():
    sweep = sweepfile.parse(GOOD, "good.toml")
    # 2 task widths x (mean at 2 sizes + kernel-poly with 2 degrees at 1 size) x 2.
    assert len(sweep.specs) == 2 * (2 + 2) * 2
    assert len({spec.key() for spec in sweep.specs}) == len(sweep.specs)
    assert {spec.task_params["width"] for spec in sweep.specs} == {2, 3}
    kernel = [spec for spec in sweep.specs if spec.learner == "kernel-poly"]
    assert {spec.n_train for spec in kernel} == {100}
    assert {spec.learner_params["degree"] for spec in kernel} == {2, 3}
    assert all(spec.n_test == 100 for spec in sweep.specs)
    assert {spec.seed for spec in sweep.specs} == {0, 1}


def test_learner_timeout_overrides_the_file_default():
    sweep = sweepfile.parse(GOOD, "good.toml")
    assert sweep.timeout == 300.0
    by_key = {spec.key(): spec for spec in sweep.specs}
    assert set(sweep.timeouts) == {
        key for key, spec in by_key.items() if spec.learner == "kernel-poly"
    }
    assert set(sweep.timeouts.values()) == {30.0}


def test_parameters_are_resolved_so_defaults_do_not_change_keys():
    explicit = GOOD.replace('name = "mean"', 'name = "linear"\nparams.ridge = "auto"')
    implicit = GOOD.replace('name = "mean"', 'name = "linear"')
    keys = [
        {spec.key() for spec in sweepfile.parse(text).specs}
        for text in (explicit, implicit)
    ]
    assert keys[0] == keys[1]


def test_same_learner_in_two_entries_with_different_settings():
    text = GOOD + '\n[[learners]]\nname = "kernel-poly"\nparams = { degree = 4 }\n'
    sweep = sweepfile.parse(text)
    degrees = {s.learner_params["degree"] for s in sweep.specs if s.learner != "mean"}
    assert degrees == {2, 3, 4}


def test_seed_list_and_table_headers_for_params():
    text = """\
n_train = 50
seeds = [3, 7]

[[tasks]]
name = "hierarchical"
[tasks.params]
d = 6
width = 2

[[learners]]
name = "linear"
"""
    sweep = sweepfile.parse(text)
    assert [spec.seed for spec in sweep.specs] == [3, 7]
    assert sweep.specs[0].task_params["d"] == 6


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GOOD)
    assert len(sweepfile.load(path).specs) == 16


def test_readme_example_is_examples_sweep_toml_and_valid():
    root = Path(__file__).resolve().parent.parent
    section = (root / "README.md").read_text().split("## Sweeps", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None, "the README's Sweeps section has no TOML example"
    assert example.group(1) == (root / "examples" / "sweep.toml").read_text()
    sweep = sweepfile.parse(example.group(1), "README example")
    assert len(sweep.specs) == 40
    assert {spec.learner for spec in sweep.specs} == {
        "mean",
        "linear",
        "kernel-poly",
        "deep",
    }


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _edit("degree = [2, 3]", 'degree = [2, "x"]'),
            "line 15: learners[1].params.degree: got 'x'; allowed: an integer in "
            "[1, 32].",
        ),
        (
            _edit('name = "mean"', 'name = "maen"'),
            "line 11: learners[0].name: got 'maen'; allowed: deep,",
        ),
        (_edit("seeds = 2", "seeds = 0"), "line 2: seeds: got 0; allowed: a count"),
        (
            _edit("width = [2, 3]", "width = [2, 9]"),
            "line 8: tasks[0].params.width: in the combination "
            "hierarchical[d=8,depth=2,width=9], got 9; allowed:",
        ),
        (
            _edit("timeout = 30", 'timeout = "soon"'),
            "line 17: learners[1].timeout: got 'soon'; allowed: a duration",
        ),
        (
            _edit("n_test = 100", "n_tset = 100"),
            "line 3: n_tset: unknown key 'n_tset'; allowed: n_train,",
        ),
        (
            _edit("params = { degree", "parms = { degree"),
            "line 15: learners[1].parms: unknown key 'parms'",
        ),
        (
            _edit("n_train = [100]\n", "n_train = [100, 100]\n"),
            "line 16: learners[1].n_train: got [100, 100]; allowed: a list without "
            "repeated values.",
        ),
        (
            _edit("d = 8,", "d = 8,,"),
            "line 8: not valid TOML:",
        ),
        (
            _edit("params = { degree = [2, 3] }", "params = { widht = 3 }"),
            "line 15: learners[1].params.widht: 'kernel-poly' has no parameter 'widht'",
        ),
        (
            _edit('name = "mean"', 'name = "kernel-poly"\nparams.degree = 2\n'),
            "learners[1]: got the configuration hierarchical[d=8,depth=2,width=2] "
            "kernel-poly n=100 seed=0 a second time (first from learners[0], line 10)",
        ),
        (
            GOOD.split("[[learners]]")[0] + '[learners]\nname = "mean"\n',
            "line 10: learners: got a table; allowed: an array of tables, each "
            "written [[learners]].",
        ),
        (_edit("n_train = [100, 200]\n", ""), "n_train: missing"),
        (
            _edit('timeout = "5m"', 'memory_limit = "lots"'),
            "line 4: memory_limit: got 'lots'; allowed: a size",
        ),
        (
            _edit("n_train = [100, 200]", "n_train = [100, 1]"),
            "line 1: n_train: got [100, 1]; allowed: an integer >= 2",
        ),
    ],
    ids=[
        "bad-value",
        "unknown-learner",
        "zero-seeds",
        "task-constraint",
        "bad-timeout",
        "unknown-top-key",
        "unknown-entry-key",
        "repeated-n",
        "toml-syntax",
        "unknown-parameter",
        "same-configuration-twice",
        "table-not-array",
        "missing-n-train",
        "bad-memory-limit",
        "n-too-small",
    ],
)
def test_bad_file_is_one_line_naming_line_and_key(text, expected):
    with pytest.raises(ConfigError) as caught:
        sweepfile.parse(text, "grid.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("grid.toml")
    assert message.endswith(".") or message.endswith("?")
    assert expected in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="an existing TOML file"):
        sweepfile.load(tmp_path / "nowhere.toml")
