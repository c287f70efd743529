"""Samples (and fit time) a learner needs to reach a test error.

For one task and one learner, the *error curve* is the median over seeds of the
test NMSE at each training-set size of the grid. The number of samples needed to
reach an error ``eps`` is where that curve first gets to ``eps`` or below,
interpolated linearly in ``(log n, log error)`` between the two grid points that
bracket the crossing. A learner whose curve never gets there is *censored*: it
needs more than the largest ``n`` of the grid (``> n_max``) and is reported so,
not dropped; one that is already there at the smallest ``n`` needs at most that
(``<= n_min``), since the grid says nothing below it.

A run that did not finish (``diverged``, ``failed``, ...) counts as not reaching
any error: it enters the median as an infinite error, so a learner that fails at
most seeds of an ``n`` has not reached ``eps`` there.

The fit time to reach ``eps`` is the median fit time interpolated, in
``(log n, log seconds)``, at the same point of the same bracket. A censored time
(``> t``) is the time spent at the largest ``n`` without reaching ``eps``; fit
time need not grow with ``n`` (a network's step budget is fixed), so when an
interval runs from a reached time to a censored one below it, its upper end reads
``not reached (> t)`` rather than a bound smaller than its lower end.

The interval is a percentile bootstrap over seeds. A seed's runs at the different
sizes share their data (a smaller training sample is a prefix of a larger one),
so a seed is resampled as a whole: each replicate draws seeds with replacement,
takes their runs at every ``n``, and recomputes the crossing. With a single seed
there is no interval; with three, a bootstrap has only ten distinct replicates
and its interval is coarse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bfcbench.errors import ConfigError
from bfcbench.output import render
from bfcbench.reading.markup import markdown_rows
from bfcbench.reading.results import Labeller, ResultSet, check_metric, metric_value

DEFAULT_BOOTSTRAP = 2000
DEFAULT_CONFIDENCE = 0.95
# Fixed so that the same results give the same interval on every call.
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Bound:
    """A number of samples or seconds, possibly censored.

    Parameters
    ----------
    value : float
        The estimate; for a censored bound, the grid end it is censored at.
    censored : {"", ">", "<="}
        ``">"``: not reached by ``value`` (the largest n); ``"<="``: reached
        at the smallest n already, so at most ``value``.
    """

    value: float
    censored: str = ""

    def text(self, kind: str) -> str:
        """``"> 8,000"``, ``"2,914"`` (``kind="samples"``) or ``"54.4"`` (seconds)."""
        shown = f"{self.value:,.0f}" if kind == "samples" else f"{self.value:.3g}"
        return f"{self.censored} {shown}".strip()


@dataclass
class Requirement:
    """Samples and fit time one learner needs to reach ``eps`` on one task."""

    task: str
    learner: str
    n_test: int
    eps: float
    seeds: int
    grid: list[int]
    samples: Bound
    samples_interval: tuple[Bound, Bound] | None
    seconds: Bound | None
    seconds_interval: tuple[Bound, Bound] | None
    curve: list[float]


def crossing(
    grid: Sequence[float], errors: Sequence[float], eps: float
) -> tuple[float, str, tuple[int, int, float] | None]:
    """Where an error curve first reaches ``eps``.

    Parameters
    ----------
    grid : sequence of float of shape (n_points,)
        Increasing sample sizes.
    errors : sequence of float of shape (n_points,)
        The error at each size; ``inf`` where no run finished; ``nan`` where
        there is nothing to read (those points are skipped).
    eps : float
        The error to reach, > 0.

    Returns
    -------
    value : float
        Interpolated size; the smallest size when censored ``"<="``; the largest
        when censored ``">"``.
    censored : {"", ">", "<="}
    bracket : (int, int, float) or None
        Grid indices of the points before and at the crossing and the crossing's
        position between them on the log scale (1 at the second point); the two
        indices are equal for a left-censored crossing; None if never reached.
    """
    points = [
        (index, n, e)
        for index, (n, e) in enumerate(zip(grid, errors, strict=True))
        if not math.isnan(e)
    ]
    for position, (index, n, error) in enumerate(points):
        if error > eps:
            continue
        if position == 0:
            return float(n), "<=", (index, index, 1.0)
        before, previous_n, previous_error = points[position - 1]
        if math.isinf(previous_error):
            # Nothing finished at the point below: all the grid says is "by n".
            return float(n), "", (before, index, 1.0)
        fraction = (math.log(previous_error) - math.log(eps)) / (
            math.log(previous_error) - math.log(max(error, 1e-300))
        )
        value = math.exp(
            math.log(previous_n) + fraction * (math.log(n) - math.log(previous_n))
        )
        return value, "", (before, index, fraction)
    last = float(points[-1][1]) if points else math.nan
    return last, ">", None


def _interpolate_time(times: Sequence[float], bracket: tuple[int, int, float]) -> float:
    """Fit time at the crossing, log-log within its bracket."""
    before, index, fraction = bracket
    here, there = times[index], times[before]
    if fraction >= 1.0 or not (here > 0 and there > 0):
        return float(here)
    return math.exp(math.log(there) + fraction * (math.log(here) - math.log(there)))


def check_eps(eps: Sequence[float]) -> None:
    """Refuse an error level that a curve cannot reach or that a log axis
    cannot show."""
    for value in eps:
        if not value > 0 or math.isinf(value):
            raise ConfigError(
                f"--eps: got {value!r}; allowed: positive finite numbers."
            )


def requirements(
    results: ResultSet,
    eps: Sequence[float],
    metric: str = "test_nmse",
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[Requirement]:
    """Samples and fit time to reach each ``eps``, per task and learner.

    Parameters
    ----------
    results : ResultSet
    eps : sequence of float
        Errors to reach, each > 0.
    metric : str, default="test_nmse"
        A lower-is-better column.
    bootstrap : int, default=2000
        Bootstrap replicates for the interval; 0 for none.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).

    Returns
    -------
    list of Requirement
        In the order learners first appear, grouped by task, then by ``eps``.
    """
    check_metric(metric)
    check_eps(eps)
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence: got {confidence!r}; allowed: in (0, 1).")
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap: got {bootstrap!r}; allowed: an integer >= 0.")

    labeller = Labeller.of(results.rows)
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for row in results.rows:
        key = (labeller.task(row), labeller.learner(row), row["n_test"])
        groups.setdefault(key, []).append(row)

    found = []
    for target in eps:
        for (task, learner, n_test), rows in groups.items():
            found.append(
                _requirement(
                    task, learner, n_test, rows, target, metric, bootstrap, confidence
                )
            )
    # By task, then eps in the order given; learners keep their order (stable sort).
    tasks = list(dict.fromkeys((task, n_test) for task, _, n_test in groups))
    found.sort(key=lambda r: (tasks.index((r.task, r.n_test)), list(eps).index(r.eps)))
    return found


def _requirement(
    task: str,
    learner: str,
    n_test: int,
    rows: Sequence[Mapping[str, Any]],
    eps: float,
    metric: str,
    bootstrap: int,
    confidence: float,
) -> Requirement:
    grid = sorted({row["n_train"] for row in rows})
    seeds = sorted({row["seed"] for row in rows})
    # errors[s, i]: seed s at grid[i]; inf for a run that did not finish, nan if
    # the seed has no run there. times likewise, nan where no finished run has a
    # fit time (the seconds a failed run lasted say nothing of the cost of a fit).
    errors = np.full((len(seeds), len(grid)), np.nan)
    times = np.full((len(seeds), len(grid)), np.nan)
    for row in rows:
        s, i = seeds.index(row["seed"]), grid.index(row["n_train"])
        value = metric_value(row, metric)
        errors[s, i] = np.inf if value is None else value
        if value is not None and row.get("fit_seconds") is not None:
            times[s, i] = row["fit_seconds"]

    curve = _median_curve(errors)
    time_curve = _median_curve(times)
    n_value, censored, bracket = crossing(grid, curve, eps)
    samples = Bound(n_value, censored)
    seconds = _seconds(time_curve, censored, bracket)

    samples_interval = seconds_interval = None
    if bootstrap and len(seeds) > 1:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        draws = rng.integers(0, len(seeds), size=(bootstrap, len(seeds)))
        replicate_n, replicate_t = [], []
        for chosen in draws:
            n_b, cens_b, bracket_b = crossing(grid, _median_curve(errors[chosen]), eps)
            t_b = _seconds(_median_curve(times[chosen]), cens_b, bracket_b)
            replicate_n.append(Bound(n_b, cens_b))
            replicate_t.append(t_b)
        samples_interval = _percentile_bounds(replicate_n, confidence)
        if all(t is not None for t in replicate_t):
            seconds_interval = _percentile_bounds(replicate_t, confidence)
    return Requirement(
        task=task,
        learner=learner,
        n_test=n_test,
        eps=eps,
        seeds=len(seeds),
        grid=grid,
        samples=samples,
        samples_interval=samples_interval,
        seconds=seconds,
        seconds_interval=seconds_interval,
        curve=[float(v) for v in curve],
    )


def _median_curve(values: np.ndarray) -> np.ndarray:
    """Median over seeds (rows) at each grid point, nan where no seed has a value."""
    curve = np.full(values.shape[1], np.nan)
    for i in range(values.shape[1]):
        column = values[:, i]
        column = column[~np.isnan(column)]
        if len(column):
            curve[i] = float(np.median(column))
    return curve


def _seconds(
    time_curve: np.ndarray, censored: str, bracket: tuple[int, int, float] | None
) -> Bound | None:
    """Fit time at the crossing; for a censored one, the time at the grid end."""
    if bracket is None:
        known = [t for t in time_curve if not math.isnan(t)]
        return Bound(known[-1], ">") if known else None
    if math.isnan(time_curve[bracket[1]]):
        return None
    return Bound(_interpolate_time(time_curve, bracket), censored)


def _percentile_bounds(
    replicates: Sequence[Bound], confidence: float
) -> tuple[Bound, Bound]:
    """Empirical quantiles of bootstrap replicates; censored ones order last
    (``>``) or at their value (``<=``), and the bound keeps their censoring."""
    order = sorted(replicates, key=lambda b: (b.censored == ">", b.value))
    tail = (1.0 - confidence) / 2.0
    low = order[max(0, math.ceil(tail * len(order)) - 1)]
    high = order[min(len(order) - 1, math.ceil((1.0 - tail) * len(order)) - 1)]
    return low, high


# -- rendering ------------------------------------------------------------------


def records(
    found: Sequence[Requirement], fmt: str, confidence: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and column names for :func:`bfcbench.output.render`.

    The text formats get one readable column per quantity (``> 8,000`` for a
    censored one); ``csv`` and ``json`` get numbers with separate censoring
    columns.
    """
    level = f"{confidence:.0%}"
    several_tests = len({r.n_test for r in found}) > 1
    rows = []
    for r in found:
        if fmt in ("csv", "json"):
            row: dict[str, Any] = {"task": r.task, "learner": r.learner}
            if several_tests:
                row["n_test"] = r.n_test
            row.update(eps=r.eps, seeds=r.seeds)
            for name, bound, interval in (
                ("samples", r.samples, r.samples_interval),
                ("fit_seconds", r.seconds, r.seconds_interval),
            ):
                row[name] = _number(bound)
                row[f"{name}_censored"] = bound.censored if bound else None
                for side, end in zip(
                    ("low", "high"), interval or (None, None), strict=True
                ):
                    row[f"{name}_{side}"] = _number(end)
                    row[f"{name}_{side}_censored"] = end.censored if end else None
            row["n_max"] = max(r.grid)
            rows.append(row)
            continue
        row = {"task": r.task, "learner": r.learner}
        if several_tests:
            row["n_test"] = r.n_test
        row["eps"] = f"{r.eps:g}"
        row["seeds"] = r.seeds
        row["samples to reach eps"] = r.samples.text("samples")
        row[f"samples {level} interval"] = _interval_text(
            r.samples_interval, "samples", r.seeds
        )
        row["fit seconds to reach eps"] = r.seconds.text("seconds") if r.seconds else ""
        row[f"fit seconds {level} interval"] = _interval_text(
            r.seconds_interval, "seconds", r.seeds
        )
        rows.append(row)
    columns = list(rows[0]) if rows else []
    if fmt == "markdown":
        return markdown_rows(rows, columns)
    return rows, columns


def _number(bound: Bound | None) -> float | None:
    if bound is None or math.isnan(bound.value):
        return None
    return bound.value


def _interval_text(interval: tuple[Bound, Bound] | None, kind: str, seeds: int) -> str:
    if interval is None:
        return "1 seed: none" if seeds == 1 else ""
    low, high = interval
    if low == high:
        return low.text(kind)
    upper = high.text(kind)
    if high.censored == ">" and low.censored != ">" and high.value < low.value:
        upper = f"not reached ({upper})"
    return f"{low.text(kind)} to {upper}"


def render_requirements(
    found: Sequence[Requirement], fmt: str, confidence: float = DEFAULT_CONFIDENCE
) -> str:
    """Render requirements in any format of :func:`bfcbench.output.render`."""
    rows, columns = records(found, fmt, confidence)
    return render(rows, fmt, columns)
