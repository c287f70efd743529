"""A report of a result set: one self-contained HTML page and its Markdown twin.

``write_report(results, out)`` writes into ``out``:

- ``index.html``: every figure embedded as a base64 PNG, the styles inline, no
  script and no reference to anything outside the file;
- ``report.md``: the same text and tables in GitHub Markdown, its figures
  referenced as ``figures/*.png`` (written alongside);
- ``figures/``: the PNG files.

Per task: a table of test NMSE (median and range over seeds), learning curves
(test NMSE against n, log-log, one line per learner, band over seeds), fit time
against n, samples to reach each eps with bootstrap intervals, per-level feature
recovery during training where runs recorded it, and the runs that did not
finish with their messages. Every name, parameter and message is escaped.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bfcbench import __version__
from bfcbench.errors import ConfigError
from bfcbench.output import render
from bfcbench.reading.markup import html_escape, markdown_escape, markdown_rows
from bfcbench.reading.results import Labeller, ResultSet
from bfcbench.reading.samples import check_eps, requirements
from bfcbench.reading.samples import records as sample_records
from bfcbench.reading.tables import describe_spread, pivot_tables, text_rows
from bfcbench.store import nearest_existing

logger = logging.getLogger(__name__)

DEFAULT_EPS = (0.3, 0.1)
FIGURE_DIRECTORY = "figures"
MESSAGE_LENGTH = 240


@dataclass
class Block:
    """One piece of a report: a heading, a paragraph, a table or a figure."""

    kind: str  # "heading", "text", "table" or "figure"
    text: str = ""
    level: int = 2
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    png: bytes = b""
    name: str = ""


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def build(
    results: ResultSet, eps: Sequence[float] = DEFAULT_EPS, title: str = ""
) -> list[Block]:
    """The blocks of a report, in order."""
    # matplotlib loads in half a second: only when a report is written, not
    # whenever the command line starts.
    from bfcbench.reading import figures

    labeller = Labeller.of(results.rows)
    blocks = [
        Block("heading", title or "bfcbench report", level=1),
        Block("text", _provenance(results)),
    ]
    tasks: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in results.rows:
        tasks.setdefault((labeller.task(row), row["n_test"]), []).append(row)
    several_tests = len({n_test for _, n_test in tasks}) > 1
    figure_number = 0

    def add_figure(figure, name: str, caption: str) -> None:
        nonlocal figure_number
        if figure is None:
            return
        figure_number += 1
        blocks.append(
            Block(
                "figure",
                caption,
                png=_png(figure),
                name=f"fig-{figure_number:02d}-{name}.png",
            )
        )

    for (task, n_test), rows in tasks.items():
        subset = results.select(rows)
        heading = f"Task {task}" + (f", n_test = {n_test}" if several_tests else "")
        blocks.append(Block("heading", heading, level=2))
        blocks.append(Block("text", _task_facts(rows)))

        for table in pivot_tables(subset, "test_nmse", "learner", "n_train"):
            columns, body = text_rows(table, "range")
            blocks.append(Block("heading", "Test NMSE", level=3))
            blocks.append(Block("text", f"Test NMSE, {describe_spread('range')}."))
            blocks.append(Block("table", columns=columns, rows=body))

        blocks.append(Block("heading", "Learning curves and fit time", level=3))
        add_figure(
            figures.metric_against_n(
                rows,
                labeller,
                "test_nmse",
                f"{task}: learning curves",
                "test NMSE (median over seeds)",
                eps=eps,
                reference_line=1.0,
            ),
            "learning-curves",
            f"Learning curves on {task}: test NMSE against the number of training "
            "samples, log-log; median over seeds, band from the best to the worst "
            "seed; dashed lines at the errors of the samples figure.",
        )
        add_figure(
            figures.metric_against_n(
                rows,
                labeller,
                "fit_seconds",
                f"{task}: fit time",
                "fit seconds (median over seeds)",
            ),
            "fit-time",
            f"Fit time on {task} against the number of training samples, log-log "
            "(hyperparameter choice included); median over seeds, band from the "
            "fastest to the slowest seed.",
        )

        found = requirements(subset, eps) if eps else []
        if found:
            sample_rows, sample_columns = sample_records(found, "table", 0.95)
            blocks.append(Block("heading", "Samples to reach an error", level=3))
            blocks.append(
                Block(
                    "text",
                    "Training samples and fit seconds needed to reach each test "
                    "NMSE: where the median over seeds first gets there, "
                    "interpolated log-log between grid sizes; 95% bootstrap "
                    "interval over seeds; '> n' when never reached within the "
                    "grid, '<= n' when already reached at its smallest size. A run "
                    "that did not finish counts as not reaching.",
                )
            )
            blocks.append(
                Block(
                    "table",
                    columns=[c for c in sample_columns if c != "task"],
                    rows=sample_rows,
                )
            )
            add_figure(
                figures.samples_to_reach(found, f"{task}: samples to reach an error"),
                "samples",
                f"Training samples needed to reach each test NMSE on {task}: dot at "
                "the estimate, bar over the 95% bootstrap interval over seeds, "
                "arrow where the estimate is censored by the grid's end.",
            )

        if any(results.curves.get(row["run_id"]) for row in rows):
            blocks.append(Block("heading", "Feature recovery", level=3))
        add_figure(
            figures.feature_recovery(
                rows, results.curves, labeller, f"{task}: feature recovery"
            ),
            "feature-recovery",
            f"Feature recovery during training on {task}: R² of a linear fit of "
            "each true level from the learned levels on held-out data, against the "
            "training step, at the largest n with recorded curves; median over "
            "seeds, band over seeds.",
        )

        unfinished = [row for row in rows if row["status"] != "ok"]
        if unfinished:
            blocks.append(Block("heading", "Runs that did not finish", level=3))
            blocks.append(
                Block(
                    "table",
                    columns=["learner", "n_train", "seed", "status", "message"],
                    rows=[
                        {
                            "learner": labeller.learner(row),
                            "n_train": row["n_train"],
                            "seed": row["seed"],
                            "status": row["status"],
                            "message": _shorten(row.get("message") or ""),
                        }
                        for row in unfinished
                    ],
                )
            )
    return blocks


def _provenance(results: ResultSet) -> str:
    rows = results.rows
    statuses = Counter(row["status"] for row in rows)
    revisions = sorted({str(row.get("git_revision")) for row in rows})
    started = sorted(str(row["started_at"]) for row in rows if row.get("started_at"))
    parts = [
        f"Source: {results.source}, {len(rows)} runs "
        f"({', '.join(f'{count} {status}' for status, count in statuses.items())}).",
        f"bfcbench revisions of the runs: {', '.join(revisions)}.",
    ]
    if started:
        parts.append(f"Runs started between {started[0]} and {started[-1]}.")
    parts.append(
        f"Report written by bfcbench {__version__} at "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}."
    )
    return " ".join(parts)


def _task_facts(rows: Sequence[Mapping[str, Any]]) -> str:
    params = rows[0]["task_params"] or {}
    shown = ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
    seeds = sorted({row["seed"] for row in rows})
    sizes = sorted({row["n_train"] for row in rows})
    return (
        f"Task {rows[0]['task']} version {rows[0]['task_version']}, parameters: "
        f"{shown or 'none'}. Training sizes: {', '.join(map(str, sizes))}; "
        f"test sample: {rows[0]['n_test']}; seeds: "
        f"{', '.join(map(str, seeds))}."
    )


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LENGTH else text[: MESSAGE_LENGTH - 3] + "..."


# -- writing ---------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.5rem;
       border-bottom: 1px solid #ccc; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.number { font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88rem; color: #444; margin-top: 0.3rem; }
"""


def render_html(blocks: Sequence[Block]) -> str:
    """The self-contained HTML page of a report."""
    title = next((b.text for b in blocks if b.kind == "heading"), "bfcbench report")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html_escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for block in blocks:
        if block.kind == "heading":
            parts.append(f"<h{block.level}>{html_escape(block.text)}</h{block.level}>")
        elif block.kind == "text":
            parts.append(f"<p>{html_escape(block.text)}</p>")
        elif block.kind == "table":
            parts.append(_html_table(block.columns, block.rows))
        elif block.kind == "figure":
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(
                "<figure>"
                f'<img src="data:image/png;base64,{data}" '
                f'alt="{html_escape(block.text)}">'
                f"<figcaption>{html_escape(block.text)}</figcaption></figure>"
            )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _html_table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{html_escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        cells = "".join(
            f"<td>{html_escape('' if row.get(c) is None else row.get(c))}</td>"
            for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def render_markdown(blocks: Sequence[Block]) -> str:
    """The Markdown twin: the same blocks, figures as ``figures/NAME.png``."""
    parts = []
    for block in blocks:
        if block.kind == "heading":
            parts.append(f"{'#' * block.level} {markdown_escape(block.text)}")
        elif block.kind == "text":
            parts.append(markdown_escape(block.text))
        elif block.kind == "table":
            escaped, columns = markdown_rows(block.rows, block.columns)
            parts.append(render(escaped, "markdown", columns))
        elif block.kind == "figure":
            alt = markdown_escape(block.text).replace("[", r"\[").replace("]", r"\]")
            parts.append(f"![{alt}]({FIGURE_DIRECTORY}/{block.name})")
            parts.append(f"*{markdown_escape(block.text)}*")
    return "\n\n".join(parts) + "\n"


def check_out_directory(directory: Path) -> None:
    """Refuse an output folder that is a file, or lies under one, or cannot be
    written, before any work is done."""
    existing = nearest_existing(directory)
    if not existing.is_dir():
        raise ConfigError(
            f"--out: got {str(directory)!r}, but {str(existing)!r} is a file; "
            "allowed: a new or existing folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--out: got {str(directory)!r}, but {str(existing)!r} cannot be "
            "written; allowed: a folder you can write."
        )


def write_report(
    results: ResultSet,
    out: str | os.PathLike[str],
    eps: Sequence[float] = DEFAULT_EPS,
    title: str = "",
) -> dict[str, Path]:
    """Write ``index.html``, ``report.md`` and ``figures/`` into ``out``.

    Parameters
    ----------
    results : ResultSet
    out : path-like
        Directory, created if missing. Figures of an earlier report there are
        replaced.
    eps : sequence of float, default=(0.3, 0.1)
        Test NMSE levels of the samples-to-reach tables and figures.
    title : str, optional
        The page's heading (default "bfcbench report").

    Returns
    -------
    dict
        Paths written: ``html``, ``markdown`` and ``figures`` (the directory).
    """
    check_eps(eps)
    directory = Path(out)
    figure_directory = directory / FIGURE_DIRECTORY
    check_out_directory(directory)
    blocks = build(results, eps, title)
    try:
        figure_directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"--out: got {str(directory)!r}, where a folder cannot be made "
            f"({error.strerror}); allowed: a new or existing folder you can write."
        ) from None
    for old in figure_directory.glob("fig-*.png"):
        old.unlink()
    for block in blocks:
        if block.kind == "figure":
            (figure_directory / block.name).write_bytes(block.png)
    html_path = directory / "index.html"
    markdown_path = directory / "report.md"
    html_path.write_text(render_html(blocks), encoding="utf-8")
    markdown_path.write_text(render_markdown(blocks), encoding="utf-8")
    count = sum(block.kind == "figure" for block in blocks)
    logger.info("report with %d figures written to %s", count, directory)
    return {"html": html_path, "markdown": markdown_path, "figures": figure_directory}
