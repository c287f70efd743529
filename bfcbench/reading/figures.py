"""Figures of a result set, drawn with matplotlib's object API (no pyplot state).

Every function takes the rows of one task and returns a
:class:`matplotlib.figure.Figure`, or None when there is nothing to draw. Figures
render on the Agg canvas, so no display is needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from bfcbench.reading.markup import plot_text
from bfcbench.reading.results import Cell, Curve, Labeller
from bfcbench.reading.samples import Requirement

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
}
WIDTH, HEIGHT, DPI = 7.2, 4.4, 110


def _figure(width: float = WIDTH, height: float = HEIGHT) -> Figure:
    import matplotlib

    matplotlib.rcParams.update(STYLE)
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _learner_series(
    rows: Sequence[Mapping[str, Any]], labeller: Labeller, metric: str
) -> dict[str, dict[int, Cell]]:
    """``learner -> n_train -> Cell`` in the order learners first appear."""
    series: dict[str, dict[int, Cell]] = {}
    for row in rows:
        cells = series.setdefault(labeller.learner(row), {})
        cells.setdefault(row["n_train"], Cell([], metric)).rows.append(row)
    return series


def _grid_ticks(axis, grid: Sequence[int]) -> None:
    """Tick the sample sizes of the grid itself on a log axis."""
    axis.set_major_locator(FixedLocator(list(grid)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(lambda value, _: f"{value:,.0f}")


def metric_against_n(
    rows: Sequence[Mapping[str, Any]],
    labeller: Labeller,
    metric: str,
    title: str,
    ylabel: str,
    eps: Sequence[float] = (),
    reference_line: float | None = None,
) -> Figure | None:
    """One line per learner: median of ``metric`` over seeds against n, log-log,
    with a band from the smallest to the largest seed. Sizes where no run of a
    learner finished are marked with a cross at the top of the axes."""
    series = _learner_series(rows, labeller, metric)
    if not any(cell.values for cells in series.values() for cell in cells.values()):
        return None
    figure = _figure()
    axes = figure.add_subplot()
    grid = sorted({row["n_train"] for row in rows})
    failed_any = False
    for index, (learner, cells) in enumerate(series.items()):
        sizes = sorted(cells)
        drawn = [n for n in sizes if cells[n].values]
        color = f"C{index % 10}"
        marker = MARKERS[index % len(MARKERS)]
        medians = [cells[n].median for n in drawn]
        # Learners listed first are drawn on top; every second one is dashed
        # with hollow markers, so that two learners with the same curve (mean
        # and linear, say) both stay visible.
        dashed = index % 2 == 1
        axes.plot(
            drawn,
            medians,
            marker=marker,
            color=color,
            label=plot_text(learner),
            linewidth=1.6,
            linestyle="--" if dashed else "-",
            markersize=6 if dashed else 5,
            markerfacecolor="none" if dashed else color,
            zorder=3 + len(series) - index,
        )
        bands = [cells[n].spread("range") for n in drawn]
        if any(band is not None for band in bands):
            low = [b[0] if b else m for b, m in zip(bands, medians, strict=True)]
            high = [b[1] if b else m for b, m in zip(bands, medians, strict=True)]
            axes.fill_between(drawn, low, high, color=color, alpha=0.15, linewidth=0)
        failed = [n for n in sizes if cells[n].failed]
        if failed:
            failed_any = True
            axes.plot(
                failed,
                [0.97] * len(failed),
                linestyle="none",
                marker="x",
                color=color,
                markersize=8,
                markeredgewidth=2,
                transform=axes.get_xaxis_transform(),
                clip_on=False,
            )
    # The reference lines are named on a right-hand axis, outside the data, so
    # that no label covers a curve.
    marks: dict[float, str] = {}
    if reference_line is not None:
        axes.axhline(reference_line, color="0.5", linestyle=":", linewidth=1)
        marks[reference_line] = "predicting the mean"
    for value in eps:
        axes.axhline(value, color="0.3", linestyle="--", linewidth=0.8)
        marks[value] = f"eps = {value:g}"
    axes.set_xscale("log")
    axes.set_yscale("log")
    _grid_ticks(axes.xaxis, grid)
    axes.set_xlabel("training samples n")
    axes.set_ylabel(ylabel)
    axes.set_title(plot_text(title))
    axes.grid(True, which="major", alpha=0.3)
    axes.grid(True, which="minor", axis="y", alpha=0.12)
    handles, labels = axes.get_legend_handles_labels()
    if failed_any:
        from matplotlib.lines import Line2D

        handles.append(
            Line2D([], [], color="0.2", marker="x", linestyle="none", markersize=7)
        )
        labels.append("no run finished")
    if marks:
        named = axes.secondary_yaxis("right")
        named.set_yticks(list(marks), labels=list(marks.values()))
        named.yaxis.set_minor_locator(NullLocator())
        named.tick_params(labelsize=8, colors="0.3")
    figure.legend(handles, labels, loc="outside right center", frameon=False)
    return figure


def samples_to_reach(found: Sequence[Requirement], title: str) -> Figure | None:
    """Samples each learner needs to reach each eps: a point with its bootstrap
    interval; censored learners as an arrow past the grid's end."""
    if not found:
        return None
    levels = sorted({r.eps for r in found}, reverse=True)
    learners = list(dict.fromkeys(r.learner for r in found))
    grid = sorted({n for r in found for n in r.grid})
    height = max(2.6, 0.42 * len(learners) + 1.4)
    figure = _figure(WIDTH if len(levels) < 3 else 3.2 * len(levels), height)
    panels = figure.subplots(1, len(levels), sharey=True, squeeze=False)[0]
    low_end, high_end = grid[0] / 2.2, grid[-1] * 2.2
    for axes, level in zip(panels, levels, strict=True):
        for position, learner in enumerate(learners):
            y = len(learners) - 1 - position
            match = [r for r in found if r.eps == level and r.learner == learner]
            if not match:
                continue
            r = match[0]
            color = f"C{position % 10}"
            if r.samples_interval is not None:
                low, high = r.samples_interval
                left = low.value
                right = high_end if high.censored == ">" else high.value
                axes.plot([left, right], [y, y], color=color, linewidth=2.5, alpha=0.5)
            if r.samples.censored in (">", "<="):
                end = high_end if r.samples.censored == ">" else low_end
                _censored_arrow(
                    axes, r.samples.censored, r.samples.value, end, y, color
                )
            else:
                axes.plot([r.samples.value], [y], marker="o", color=color, markersize=7)
        for n in grid:
            axes.axvline(n, color="0.8", linewidth=0.8, zorder=0)
        axes.set_xscale("log")
        axes.set_xlim(low_end, high_end)
        _grid_ticks(axes.xaxis, grid)
        axes.set_title(f"test NMSE <= {level:g}")
        axes.set_xlabel("training samples needed")
    panels[0].set_yticks(range(len(learners)))
    panels[0].set_yticklabels([plot_text(name) for name in reversed(learners)])
    panels[0].set_ylim(-0.7, len(learners) - 0.3)
    figure.suptitle(plot_text(title))
    return figure


def _censored_arrow(
    axes: Any, marker: str, value: float, end: float, y: float, color: str
) -> None:
    """An arrow from ``value`` to the axis end ``end``, labelled ``> value`` or
    ``<= value``: a censored number of samples."""
    axes.annotate(
        "",
        xy=(end, y),
        xytext=(value, y),
        arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.6},
    )
    axes.annotate(
        f"{marker} {value:,.0f}",
        (value, y),
        textcoords="offset points",
        xytext=(0, 5),
        fontsize=8,
        color=color,
        ha="left" if marker == ">" else "right",
    )


def feature_recovery(
    rows: Sequence[Mapping[str, Any]],
    curves: Mapping[int, Curve],
    labeller: Labeller,
    title: str,
) -> Figure | None:
    """Per learner, the R² of each true level from the learned levels against the
    training step, at the largest n with curves; median over seeds, band from
    the smallest to the largest seed."""
    by_learner: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if curves.get(row["run_id"]):
            by_learner.setdefault(labeller.learner(row), []).append(row)
    if not by_learner:
        return None
    count = len(by_learner)
    columns = min(3, count)
    lines = math.ceil(count / columns)
    figure = _figure(max(WIDTH, 3.3 * columns), 2.9 * lines + 0.6)
    panels = figure.subplots(lines, columns, squeeze=False, sharey=True)
    levels_seen: set[int] = set()
    for index, (learner, members) in enumerate(by_learner.items()):
        axes = panels[index // columns][index % columns]
        n_train = max(row["n_train"] for row in members)
        runs = [row for row in members if row["n_train"] == n_train]
        # step -> level -> r2 of each seed
        points: dict[int, dict[int, list[float]]] = {}
        for row in runs:
            for step, level, r2 in curves[row["run_id"]]:
                if r2 is not None and math.isfinite(r2):
                    points.setdefault(level, {}).setdefault(step, []).append(r2)
        for level in sorted(points):
            levels_seen.add(level)
            steps = sorted(points[level])
            values = [points[level][step] for step in steps]
            color = f"C{(level - 1) % 10}"
            axes.plot(
                steps,
                [statistics.median(v) for v in values],
                color=color,
                linewidth=1.6,
                label=f"level {level}",
            )
            if len(runs) > 1:
                axes.fill_between(
                    steps,
                    [min(v) for v in values],
                    [max(v) for v in values],
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
        axes.set_title(
            plot_text(f"{learner}, n = {n_train:,}, {len(runs)} seeds"), fontsize=10
        )
        axes.set_xlabel("training step")
        axes.set_ylim(-0.02, 1.02)
        axes.grid(True, alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel("R² of true level")
    for index in range(count, lines * columns):
        panels[index // columns][index % columns].set_visible(False)
    handles, labels = panels[0][0].get_legend_handles_labels()
    for axes in panels.flat:
        more_handles, more_labels = axes.get_legend_handles_labels()
        for handle, text in zip(more_handles, more_labels, strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    order = sorted(range(len(labels)), key=lambda i: int(labels[i].split()[-1]))
    figure.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside right center",
        frameon=False,
    )
    figure.suptitle(plot_text(title))
    return figure
