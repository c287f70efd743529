"""Loading, filtering and pivoting stored results (``bfcbench table``)."""

from __future__ import annotations

import csv
import io
import json
import statistics

import numpy as np
import pytest
from conftest import run_cli
from synthetic import power_law_rows, row, write_store

from bfcbench.errors import ConfigError
from bfcbench.reading.results import filter_rows, load
from bfcbench.reading.tables import drop_from_label, pivot_tables, render_tables


@pytest.fixture
def mixed_store(store_path):
    rows = [
        *power_law_rows("deep", 20.0, 0.8),
        *power_law_rows("kernel-poly", 2.0, 0.3),
        # every seed of layerwise at 8000 diverged; one of three at 2000
        *[row("layerwise", 500, s, test_nmse=0.3 + 0.01 * s) for s in range(3)],
        row("layerwise", 2000, 0, test_nmse=0.2),
        row("layerwise", 2000, 1, status="diverged", failed_step=17),
        row("layerwise", 2000, 2, test_nmse=0.25),
        *[row("layerwise", 8000, s, status="diverged") for s in range(3)],
    ]
    return write_store(store_path, rows)


def test_cells_hold_median_and_range_of_the_seeds(mixed_store):
    (table,) = pivot_tables(load(mixed_store))
    assert table.row_values == ["deep", "kernel-poly", "layerwise"]
    assert table.column_values == [500, 2000, 8000]
    expected = [20.0 * 2000**-0.8 * f for f in (0.98, 1.0, 1.02)]
    cell = table.cells[("deep", 2000)]
    assert cell.median == pytest.approx(np.median(expected))
    assert cell.spread("range") == pytest.approx((min(expected), max(expected)))
    assert cell.spread("iqr") == pytest.approx(tuple(np.percentile(expected, [25, 75])))


def test_a_cell_without_an_ok_run_shows_its_status_not_a_number(mixed_store):
    text = render_tables(pivot_tables(load(mixed_store)), "table")
    line = next(line for line in text.splitlines() if line.startswith("layerwise"))
    assert line.split()[-2:] == ["3", "diverged"]
    # one diverged seed of three: the median of the two others, and the status
    assert f"{statistics.median([0.2, 0.25]):.3g}" in line
    assert "(1 diverged)" in line


def test_csv_keeps_numbers_and_statuses_apart(mixed_store):
    text = render_tables(pivot_tables(load(mixed_store)), "csv")
    records = {r["learner"]: r for r in csv.DictReader(io.StringIO(text))}
    assert records["layerwise"]["8000"] == "3 diverged"
    assert records["layerwise"]["8000 low"] == ""
    assert records["layerwise"]["2000 status"] == "1 diverged, 2 ok"
    assert float(records["deep"]["500"]) == pytest.approx(20.0 * 500**-0.8)


def test_json_cells_carry_every_seed_value(mixed_store):
    records = json.loads(render_tables(pivot_tables(load(mixed_store)), "json"))
    deep = next(r for r in records if r["learner"] == "deep")
    assert len(deep["cells"]["8000"]["values"]) == 3
    layerwise = next(r for r in records if r["learner"] == "layerwise")
    assert layerwise["cells"]["8000"]["median"] is None
    assert layerwise["cells"]["8000"]["status"] == "3 diverged"


def test_superseded_rows_and_older_duplicates_are_left_out(store_path):
    write_store(
        store_path,
        [
            row("deep", seed=0, test_nmse=9.0, superseded=1),
            row("deep", seed=0, test_nmse=0.4),
            row("deep", seed=1, test_nmse=7.0),  # ran again below, same seed
            row("deep", seed=1, test_nmse=0.6),
        ],
    )
    (table,) = pivot_tables(load(store_path))
    assert table.cells[("deep", 500)].values == [0.4, 0.6]
    everything = load(store_path, include_superseded=True)
    assert sorted(r["test_nmse"] for r in everything.rows) == [0.4, 0.6, 7.0, 9.0]


def test_one_table_per_task_and_parameter_pivots(store_path):
    rows = []
    for gap in (0.3, 0.7):
        params = {"depth": 2, "gap": gap}
        label = "hierarchical" if gap == 0.3 else f"hierarchical[gap={gap:g}]"
        for learner, value in (("deep", 0.1), ("kernel-poly", 0.4)):
            rows.append(
                row(
                    learner,
                    task_params=params,
                    task_label=label,
                    test_nmse=value * gap,
                )
            )
    write_store(store_path, rows)
    results = load(store_path)
    assert len(pivot_tables(results)) == 2
    (by_gap,) = pivot_tables(results, columns="task.gap")
    assert by_gap.column_values == [0.3, 0.7]
    assert by_gap.context["task"] == "hierarchical"
    assert by_gap.cells[("kernel-poly", 0.7)].median == pytest.approx(0.28)


def test_filters_select_by_name_label_column_and_parameter(mixed_store):
    results = load(mixed_store)
    assert {r["learner"] for r in filter_rows(results, learners="deep").rows} == {
        "deep"
    }
    picked = filter_rows(results, where=["n_train=500,8000", "task.gap=0.30"])
    assert {r["n_train"] for r in picked.rows} == {500, 8000}
    assert not filter_rows(results, where=["task.gap=0.7"]).rows


@pytest.mark.parametrize(
    ("tasks", "where", "message"),
    [
        ("parity", (), "--task: got 'parity'"),
        (None, ("gapp=1",), "--where: got 'gapp'"),
        (None, ("task.gapp=1",), "task.PARAM with PARAM a task parameter"),
        (None, ("n_train",), "--where: got 'n_train'; allowed: KEY=VALUE"),
    ],
)
def test_bad_filters_name_the_option_and_value(mixed_store, tasks, where, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        filter_rows(load(mixed_store), tasks=tasks, where=where)


def test_labels_that_collide_across_versions_stay_apart(store_path):
    write_store(
        store_path,
        [
            row("deep", test_nmse=0.1, learner_version=1),
            row("deep", test_nmse=0.2, learner_version=2),
        ],
    )
    (table,) = pivot_tables(load(store_path))
    assert table.row_values == ["deep v1", "deep v2"]


def test_drop_from_label():
    assert drop_from_label("kernel-poly[degree=4,ridge=0.1]", ["degree"]) == (
        "kernel-poly[ridge=0.1]"
    )
    assert drop_from_label("kernel-poly[degree=4]", ["degree"]) == "kernel-poly"


def test_markdown_cells_are_escaped(store_path):
    write_store(store_path, [row("deep", learner_label="deep[act=a|b*]")])
    text = render_tables(pivot_tables(load(store_path)), "markdown")
    assert r"deep[act=a\|b\*]" in text
    body = [line for line in text.splitlines() if line.startswith("| deep")]
    assert body and body[0].count(" | ") == 1  # two cells: label and value


def test_table_command_prints_latex_and_rejects_a_bad_metric(mixed_store):
    result = run_cli(
        "table", "--store", str(mixed_store), "--format", "latex", "--learner", "deep"
    )
    assert result.returncode == 0, result.stderr
    assert "\\begin{tabular}" in result.stdout
    assert "kernel-poly" not in result.stdout

    bad = run_cli("table", "--store", str(mixed_store), "--metric", "accuracy")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("bfcbench: error: --metric: got 'accuracy'")
    assert len(bad.stderr.strip().splitlines()) == 1
