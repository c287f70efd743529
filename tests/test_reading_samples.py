"""Samples and fit time to reach an error (``bfcbench samples``)."""

from __future__ import annotations

import csv
import io
import math

import pytest
from conftest import run_cli
from synthetic import power_law_rows, row, write_store

from bfcbench.errors import ConfigError
from bfcbench.reading.results import ResultSet, load
from bfcbench.reading.samples import (
    Bound,
    _interval_text,
    crossing,
    render_requirements,
    requirements,
)


def one(found, learner, eps):
    (match,) = [r for r in found if r.learner == learner and r.eps == eps]
    return match


def test_a_power_law_is_inverted_exactly():
    # Log-log interpolation is exact on a power law: e = 20 n^-0.8.
    grid = [500, 2000, 8000]
    errors = [20.0 * n**-0.8 for n in grid]
    value, censored, bracket = crossing(grid, errors, 0.02)
    assert censored == ""
    assert value == pytest.approx((0.02 / 20.0) ** (-1 / 0.8))
    assert bracket[:2] == (1, 2)


def test_crossing_ends_and_gaps():
    grid = [500, 2000, 8000]
    assert crossing(grid, [0.5, 0.4, 0.3], 0.1)[:2] == (8000, ">")
    assert crossing(grid, [0.05, 0.04, 0.03], 0.1)[:2] == (500, "<=")
    # a point with nothing to read is skipped: bracket 500..8000
    value, _, bracket = crossing(grid, [0.4, math.nan, 0.025], 0.1)
    assert bracket[:2] == (0, 2)
    assert value == pytest.approx(2000.0)
    # nothing finished at 2000: the grid only says "by 8000"
    assert crossing(grid, [0.4, math.inf, 0.05], 0.1)[:2] == (8000, "")


def test_samples_and_seconds_follow_the_seed_median(store_path):
    write_store(
        store_path,
        [*power_law_rows("deep", 20.0, 0.8), *power_law_rows("mean", 1.0, 0.0)],
    )
    found = requirements(load(store_path), [0.05], bootstrap=500)
    deep = one(found, "deep", 0.05)
    n_star = (0.05 / 20.0) ** (-1 / 0.8)
    assert deep.samples.value == pytest.approx(n_star)
    # fit time is 1e-3 n at the median seed: also a power law, so exact
    assert deep.seconds.value == pytest.approx(1e-3 * n_star)
    low, high = deep.samples_interval
    assert low.value <= n_star <= high.value
    assert (low.censored, high.censored) == ("", "")

    mean = one(found, "mean", 0.05)
    assert (mean.samples.value, mean.samples.censored) == (8000, ">")
    assert mean.seconds.censored == ">"
    assert mean.seconds.value == pytest.approx(8.0)


def test_failed_runs_count_as_not_reaching(store_path):
    rows = power_law_rows("deep", 20.0, 0.8)
    # two of three seeds diverge at 8000: the median there is not finite
    rows = [
        row("deep", 8000, r["seed"], status="diverged")
        if r["n_train"] == 8000 and r["seed"] > 0
        else r
        for r in rows
    ]
    write_store(store_path, rows)
    # 0.02 would be reached at n = 5623, between 2000 and 8000
    deep = one(requirements(load(store_path), [0.02], bootstrap=0), "deep", 0.02)
    assert (deep.samples.value, deep.samples.censored) == (8000, ">")


def test_fit_time_comes_from_finished_runs_only(store_path):
    # Every run at 8000 fails after a millisecond: the time a fit costs there
    # is unknown, and the censored time is the last finished one (2000).
    rows = [
        row("deep", 8000, r["seed"], status="failed", fit_seconds=0.001)
        if r["n_train"] == 8000
        else dict(r, fit_seconds={500: 1.0, 2000: 4.0}[r["n_train"]])
        for r in power_law_rows("deep", 20.0, 0.8)
    ]
    write_store(store_path, rows)
    deep = one(requirements(load(store_path), [0.001], bootstrap=0), "deep", 0.001)
    assert (deep.samples.value, deep.samples.censored) == (8000, ">")
    assert (deep.seconds.value, deep.seconds.censored) == (4.0, ">")


def test_intervals_are_reproducible_and_absent_for_one_seed(store_path):
    write_store(
        store_path,
        [
            *power_law_rows("deep", 20.0, 0.8, jitter=0.3),
            *power_law_rows("linear", 2.0, 0.5, seeds=(0,)),
        ],
    )
    results = load(store_path)
    first = requirements(results, [0.05])
    second = requirements(results, [0.05])
    assert [r.samples_interval for r in first] == [r.samples_interval for r in second]
    linear = one(first, "linear", 0.05)
    assert linear.samples_interval is None
    assert "1 seed: none" in render_requirements(first, "table")


def test_bad_eps_is_refused():
    with pytest.raises(ConfigError, match="--eps: got -0.1"):
        requirements(ResultSet([]), [-0.1])


def test_samples_command_reports_censored_learners(store_path):
    write_store(
        store_path,
        [*power_law_rows("deep", 20.0, 0.8), *power_law_rows("mean", 1.0, 0.0)],
    )
    result = run_cli(
        "samples", "--store", str(store_path), "--eps", "0.05", "--format", "csv"
    )
    assert result.returncode == 0, result.stderr
    records = {r["learner"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert records["mean"]["samples_censored"] == ">"
    assert float(records["mean"]["samples"]) == 8000
    assert float(records["deep"]["samples"]) == pytest.approx(
        (0.05 / 20.0) ** (-1 / 0.8)
    )
    text = run_cli("samples", "--store", str(store_path), "--eps", "0.05")
    assert "> 8,000" in text.stdout


def test_a_censored_time_below_the_reached_one_reads_not_reached():
    reached, censored = Bound(4.01), Bound(3.78, ">")
    assert _interval_text((reached, censored), "seconds", 3) == (
        "4.01 to not reached (> 3.78)"
    )
    assert _interval_text((Bound(2.0), Bound(3.78, ">")), "seconds", 3) == (
        "2 to > 3.78"
    )
    at_most = Bound(3.56e-5, "<=")
    assert _interval_text((at_most, Bound(4.11e-6, ">")), "seconds", 3) == (
        "<= 3.56e-05 to not reached (> 4.11e-06)"
    )
    assert _interval_text((Bound(500, "<="), Bound(8000, ">")), "samples", 3) == (
        "<= 500 to > 8,000"
    )
