"""Comparison of two result sets (``bfcbench compare``)."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import run_cli
from synthetic import row, write_store

from bfcbench.reading import compare as comparing
from bfcbench.reading.results import load


def seeds(learner, values, n_train=500, **columns):
    return [
        row(learner, n_train, seed, test_nmse=value, **columns)
        for seed, value in enumerate(values)
    ]


def verdicts(tmp_path, rows_a, rows_b, **options):
    a = write_store(tmp_path / "a.sqlite", rows_a)
    b = write_store(tmp_path / "b.sqlite", rows_b)
    found = comparing.compare(load(a), load(b), **options)
    return {(item.learner, item.n_train): item for item in found}


def enumerated_p(larger, smaller):
    """One-sided Mann-Whitney p by listing every split of the pooled values."""
    pooled = [*larger, *smaller]

    def u(first, second):
        return sum((x > y) + 0.5 * (x == y) for x in first for y in second)

    observed = u(larger, smaller)
    splits = list(itertools.combinations(range(len(pooled)), len(larger)))
    count = 0
    for chosen in splits:
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        count += u(first, second) >= observed - 1e-12
    return count / len(splits)


@pytest.mark.parametrize(
    ("larger", "smaller"),
    [
        ([4.0, 5.0, 6.0], [1.0, 2.0, 3.0]),
        ([3.0, 5.0, 6.0], [1.0, 2.0, 3.0]),
        ([1.0, 2.0, 9.0, 9.5], [3.0, 4.0, 5.0]),
        ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]),
    ],
)
def test_p_value_matches_enumeration(larger, smaller):
    assert comparing.one_sided_p(larger, smaller) == pytest.approx(
        enumerated_p(larger, smaller)
    )


def test_verdicts_per_cell(tmp_path):
    a = [
        *seeds("same", [0.10, 0.11, 0.12]),
        *seeds("worse", [0.10, 0.11, 0.12]),
        *seeds("better", [0.10, 0.11, 0.12]),
        *seeds("noisy", [0.10, 0.30, 0.12]),
        *seeds("small", [0.100, 0.101, 0.102]),
        *seeds("gone", [0.1, 0.1, 0.1]),
        *seeds("breaks", [0.1, 0.1, 0.1]),
        row("fixed", status="failed"),
        row("lonely", test_nmse=0.1),
        *seeds("two", [0.10, 0.11]),
    ]
    b = [
        *seeds("same", [0.10, 0.11, 0.12]),
        *seeds("worse", [0.20, 0.21, 0.25]),
        *seeds("better", [0.05, 0.06, 0.04]),
        *seeds("noisy", [0.20, 0.12, 0.25]),  # overlaps A: within noise
        *seeds("small", [0.103, 0.104, 0.105]),  # separated but below x1.1
        row("breaks", seed=0, test_nmse=0.1),
        row("breaks", seed=1, status="diverged"),
        row("breaks", seed=2, test_nmse=0.1),
        row("fixed", test_nmse=0.2),
        row("lonely", test_nmse=0.5),
        *seeds("two", [0.50, 0.51]),
        *seeds("arrived", [0.1, 0.1, 0.1]),
    ]
    found = verdicts(tmp_path, a, b)
    expected = {
        "same": "same",
        "worse": "worse",
        "better": "better",
        "noisy": "same",
        "small": "same",
        "gone": "missing",
        "breaks": "newly failed",
        "fixed": "fixed",
        "lonely": "1 seed: no noise estimate",
        "two": "too few seeds",
        "arrived": "new",
    }
    assert {learner: item.verdict for (learner, _), item in found.items()} == expected
    assert found[("worse", 500)].ratio == pytest.approx(0.21 / 0.11)
    assert found[("worse", 500)].p_value == pytest.approx(0.05)
    assert found[("breaks", 500)].newly_failed == 1
    regressions = {key[0] for key, item in found.items() if item.regression}
    assert regressions == {"worse", "breaks"}


def test_alpha_and_factor_move_the_verdict(tmp_path):
    a = seeds("deep", [0.10, 0.11, 0.12])
    b = seeds("deep", [0.13, 0.14, 0.15])
    assert verdicts(tmp_path, a, b)[("deep", 500)].verdict == "worse"
    strict = verdicts(tmp_path, a, b, factor=1.5)
    assert strict[("deep", 500)].verdict == "same"
    # with alpha below 1/20, three seeds a side cannot show anything
    tight = verdicts(tmp_path, a, b, alpha=0.01)
    assert tight[("deep", 500)].verdict == "too few seeds"


def test_command_fails_on_regression_only_when_asked(tmp_path):
    a = write_store(tmp_path / "a.sqlite", seeds("deep", [0.10, 0.11, 0.12]))
    b = write_store(tmp_path / "b.sqlite", seeds("deep", [0.30, 0.31, 0.32]))
    plain = run_cli("compare", str(a), str(b))
    assert plain.returncode == 0, plain.stderr
    assert "p <= 0.05" in plain.stdout and "beyond 1.1" in plain.stdout
    assert "! worse" in plain.stdout
    assert "1 regression" in plain.stdout

    strict = run_cli("compare", str(a), str(b), "--fail-on-regression")
    assert strict.returncode == 1
    same = run_cli(
        "compare", str(a), str(a), "--fail-on-regression", "--format", "json"
    )
    assert same.returncode == 0, same.stderr
    document = json.loads(same.stdout)
    assert document["alpha"] == 0.05
    assert [cell["verdict"] for cell in document["cells"]] == ["same"]


def test_b_defaults_to_the_store_option(tmp_path):
    a = write_store(tmp_path / "a.sqlite", seeds("deep", [0.10, 0.11, 0.12]))
    b = write_store(tmp_path / "b.sqlite", seeds("deep", [0.01, 0.011, 0.012]))
    result = run_cli(
        "compare", str(a), "--format", "csv", env={"BFCBENCH_STORE": str(b)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].endswith(",better")
