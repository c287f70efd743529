"""Comparison of two result sets, cell by cell, with a verdict that knows seed noise.

Two result sets (stores or exports) are joined on configuration: task, task
version and parameters, learner, learner version and parameters, ``n_train`` and
``n_test``. In each cell the seeds of A and of B are two samples of the metric.

The verdict of a cell that has values on both sides:

- ``worse``: B's values are larger than A's by a one-sided Mann-Whitney U test
  over seeds at level ``alpha`` *and* the ratio of the medians B/A exceeds
  ``factor``; ``better`` the other way round; otherwise ``same``. The test is
  exact (all rearrangements of the seeds, ties included) while there are at most
  :data:`EXACT_LIMIT` of them, asymptotic beyond.
- The smallest p-value a rank test can give with ``k`` and ``m`` seeds is
  ``1 / C(k + m, k)``: 0.05 for 3 against 3 seeds, 0.1 for 2 against 3. Where
  that is above ``alpha`` the seeds cannot show any change and the verdict says
  ``too few seeds``; with a single seed on a side there is no estimate of the
  noise at all and the verdict says ``1 seed: no noise estimate``. Neither
  invents a verdict, and neither counts as a regression.

The test ignores that runs at the same seed share their data (it treats the
two sides as independent samples), which makes it conservative.

Other markers: ``new`` (only in B), ``missing`` (only in A), ``newly failed``
(a seed that was ``ok`` in A did not finish in B), ``fixed`` (no ``ok`` run in
A, some in B) and ``still failing``. Every metric read here is lower-is-better;
``worse`` and ``newly failed`` are the regressions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bfcbench.errors import ConfigError
from bfcbench.output import render
from bfcbench.reading.markup import markdown_rows
from bfcbench.reading.results import (
    Cell,
    Labeller,
    ResultSet,
    check_metric,
    configuration,
)
from bfcbench.reading.tables import cell_text

DEFAULT_ALPHA = 0.05
DEFAULT_FACTOR = 1.1
EXACT_LIMIT = 20_000

WORSE, BETTER, SAME = "worse", "better", "same"
NEW, MISSING = "new", "missing"
NEWLY_FAILED, FIXED, STILL_FAILING = "newly failed", "fixed", "still failing"
TOO_FEW, ONE_SEED = "too few seeds", "1 seed: no noise estimate"
REGRESSIONS = (WORSE, NEWLY_FAILED)
VERDICTS = (WORSE, NEWLY_FAILED, BETTER, FIXED, SAME, TOO_FEW, ONE_SEED)
VERDICTS += (STILL_FAILING, NEW, MISSING)


@dataclass
class CellComparison:
    """One configuration in A and B.

    Parameters
    ----------
    task, learner : str
        Display names.
    n_train, n_test : int
    a, b : Cell or None
        The runs on each side; None where the configuration is absent.
    ratio : float or None
        Median of B over median of A.
    p_value : float or None
        One-sided p-value of the test in the direction of the change.
    verdict : str
        One of :data:`VERDICTS`.
    newly_failed : int
        Seeds ``ok`` in A whose run in B did not finish.
    """

    task: str
    learner: str
    n_train: int
    n_test: int
    a: Cell | None
    b: Cell | None
    ratio: float | None
    p_value: float | None
    verdict: str
    newly_failed: int = 0

    @property
    def regression(self) -> bool:
        """True for ``worse`` and ``newly failed``."""
        return self.verdict in REGRESSIONS


def one_sided_p(larger: Sequence[float], smaller: Sequence[float]) -> float:
    """p-value of the hypothesis that ``larger`` tends to exceed ``smaller``.

    Mann-Whitney U, exact by enumerating rearrangements (ties handled) when there
    are at most :data:`EXACT_LIMIT`, else the normal approximation.
    """
    import numpy as np
    from scipy import stats

    if math.comb(len(larger) + len(smaller), len(larger)) <= EXACT_LIMIT:
        method: Any = stats.PermutationMethod(n_resamples=np.inf)
    else:
        method = "asymptotic"
    result = stats.mannwhitneyu(larger, smaller, alternative="greater", method=method)
    return float(result.pvalue)


def smallest_p(k: int, m: int) -> float:
    """The smallest one-sided p-value a rank test can reach with k and m values."""
    return 1.0 / math.comb(k + m, k)


def compare(
    a: ResultSet,
    b: ResultSet,
    metric: str = "test_nmse",
    alpha: float = DEFAULT_ALPHA,
    factor: float = DEFAULT_FACTOR,
) -> list[CellComparison]:
    """Join two result sets on configuration and judge every cell.

    Parameters
    ----------
    a, b : ResultSet
        The baseline and the new results.
    metric : str, default="test_nmse"
        A lower-is-better column.
    alpha : float, default=0.05
        Level of the one-sided test, in (0, 1).
    factor : float, default=1.1
        Smallest ratio of medians (either way) that counts as a change, >= 1.

    Returns
    -------
    list of CellComparison
        A's configurations in A's order, then those only in B.
    """
    check_metric(metric)
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha: got {alpha!r}; allowed: a number in (0, 1).")
    if not factor >= 1 or math.isinf(factor):
        raise ConfigError(f"--factor: got {factor!r}; allowed: a number >= 1.")
    labeller = Labeller.of([*a.rows, *b.rows])
    cells_a = _cells(a, metric)
    cells_b = _cells(b, metric)
    found = []
    for key in [*cells_a, *(k for k in cells_b if k not in cells_a)]:
        cell_a, cell_b = cells_a.get(key), cells_b.get(key)
        sample = (cell_a or cell_b).rows[0]
        found.append(
            _judge(
                labeller.task(sample),
                labeller.learner(sample),
                sample["n_train"],
                sample["n_test"],
                cell_a,
                cell_b,
                alpha,
                factor,
            )
        )
    return found


def _cells(results: ResultSet, metric: str) -> dict[tuple[Any, ...], Cell]:
    cells: dict[tuple[Any, ...], Cell] = {}
    for row in results.rows:
        cells.setdefault(configuration(row), Cell([], metric)).rows.append(row)
    return cells


def _judge(
    task: str,
    learner: str,
    n_train: int,
    n_test: int,
    a: Cell | None,
    b: Cell | None,
    alpha: float,
    factor: float,
) -> CellComparison:
    def result(verdict: str, ratio=None, p_value=None, newly_failed=0):
        return CellComparison(
            task, learner, n_train, n_test, a, b, ratio, p_value, verdict, newly_failed
        )

    if b is None:
        return result(MISSING)
    if a is None:
        return result(NEW)
    values_a, values_b = a.values, b.values
    if not values_a:
        return result(FIXED if values_b else STILL_FAILING)
    ok_in_a = {row["seed"] for row in a.rows if row["status"] == "ok"}
    newly_failed = sum(
        1 for row in b.rows if row["seed"] in ok_in_a and row["status"] != "ok"
    )
    median_a, median_b = a.median, b.median
    ratio = (
        median_b / median_a
        if values_b and median_a and median_a > 0 and median_b is not None
        else None
    )
    if not values_b:
        newly_failed = max(newly_failed, sum(r["status"] != "ok" for r in b.rows))
    if newly_failed or not values_b:
        return result(NEWLY_FAILED, ratio, None, newly_failed)
    if len(values_a) < 2 or len(values_b) < 2:
        return result(ONE_SEED, ratio)
    if smallest_p(len(values_a), len(values_b)) > alpha:
        return result(TOO_FEW, ratio)
    p_worse = one_sided_p(values_b, values_a)
    p_better = one_sided_p(values_a, values_b)
    if ratio is not None and ratio > factor and p_worse <= alpha:
        return result(WORSE, ratio, p_worse)
    if ratio is not None and ratio < 1 / factor and p_better <= alpha:
        return result(BETTER, ratio, p_better)
    return result(SAME, ratio, min(p_worse, p_better))


# -- rendering ------------------------------------------------------------------


def method_text(metric: str, alpha: float, factor: float) -> str:
    """One paragraph that states how the verdicts were reached."""
    return (
        f"metric: {metric} (lower is better); B/A is the ratio of medians over "
        f"seeds. Verdict per cell: worse or better when a one-sided Mann-Whitney U "
        f"test over seeds gives p <= {alpha:g} and B/A is beyond {factor:g} (or "
        f"below 1/{factor:g}); otherwise same. A rank test needs at least 3 seeds "
        f"a side to reach p <= 0.05; cells with fewer say so instead of a verdict."
    )


def summary_text(found: Sequence[CellComparison]) -> str:
    """Counts per verdict, regressions first: ``2 worse, 1 newly failed, ...``."""
    counts = {verdict: 0 for verdict in VERDICTS}
    for item in found:
        counts[item.verdict] += 1
    parts = [f"{count} {verdict}" for verdict, count in counts.items() if count]
    regressions = sum(item.regression for item in found)
    return (
        f"{len(found)} cells: {', '.join(parts) or 'none'}; "
        f"{regressions} regression{'s' if regressions != 1 else ''}."
    )


def records(
    found: Sequence[CellComparison], fmt: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and columns for :func:`bfcbench.output.render`."""
    several_tasks = len({item.task for item in found}) > 1
    several_tests = len({item.n_test for item in found}) > 1
    rows = []
    for item in found:
        row: dict[str, Any] = {}
        if several_tasks or fmt in ("csv", "json"):
            row["task"] = item.task
        row["learner"] = item.learner
        row["n_train"] = item.n_train
        if several_tests or fmt in ("csv", "json"):
            row["n_test"] = item.n_test
        if fmt in ("csv", "json"):
            for side, cell in (("a", item.a), ("b", item.b)):
                row[f"{side}_median"] = cell.median if cell else None
                row[f"{side}_ok"] = len(cell.values) if cell else 0
                row[f"{side}_runs"] = cell.seeds if cell else 0
                row[f"{side}_status"] = cell.status if cell else None
            row["ratio"] = item.ratio
            row["p_value"] = item.p_value
            row["newly_failed_seeds"] = item.newly_failed
            row["verdict"] = item.verdict
        else:
            row["A"] = cell_text(item.a, "range")
            row["B"] = cell_text(item.b, "range")
            row["B/A"] = f"{item.ratio:.3g}" if item.ratio is not None else ""
            row["p"] = f"{item.p_value:.2g}" if item.p_value is not None else ""
            verdict = item.verdict
            if item.verdict == NEWLY_FAILED and item.b is not None:
                verdict += f" ({item.newly_failed} of {item.b.seeds} seeds)"
            row["verdict"] = ("! " if item.regression else "") + verdict
        rows.append(row)
    columns = list(rows[0]) if rows else []
    if fmt == "markdown":
        return markdown_rows(rows, columns)
    return rows, columns


def render_comparison(found: Sequence[CellComparison], fmt: str) -> str:
    """The comparison table alone, in any format of :func:`bfcbench.output.render`."""
    rows, columns = records(found, fmt)
    return render(rows, fmt, columns)
