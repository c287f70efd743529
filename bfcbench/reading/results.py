"""Result sets: stored runs loaded for reading, filtered and grouped by configuration.

A *configuration* is a run without its seed: task, task version and parameters,
learner, learner version and parameters, ``n_train`` and ``n_test``. Readers
aggregate the seeds of one configuration into a *cell*; two result sets are
compared cell by cell.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bfcbench.errors import ConfigError, StoreError
from bfcbench.params import canonical_json, did_you_mean
from bfcbench.store import RUN_COLUMNS, Store, default_path

logger = logging.getLogger(__name__)

# Columns that identify a configuration; a cell is one configuration over seeds.
CONFIG_COLUMNS = (
    "task",
    "task_version",
    "task_params",
    "learner",
    "learner_version",
    "learner_params",
    "n_train",
    "n_test",
)

# Numeric columns a reader can aggregate; every one of them is lower-is-better.
METRICS = tuple(
    name
    for name, kind, _ in RUN_COLUMNS
    if kind.startswith("REAL") and name not in ("ridge",)
)
DEFAULT_METRIC = "test_nmse"

# Columns a table can be pivoted by, besides task.PARAM and learner.PARAM.
PIVOT_KEYS = ("task", "learner", "n_train", "n_test", "seed")

SQLITE_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"

Curve = list[tuple[int, int, "float | None"]]


@dataclass
class ResultSet:
    """Stored runs, ready for reading.

    Parameters
    ----------
    rows : list of dict
        One dict per run with the columns of ``runs``; JSON columns decoded.
    curves : dict
        ``run_id -> [(step, level, r2), ...]`` for the runs that recorded
        feature recovery during training.
    source : str
        Where the rows came from, for headings and messages.
    """

    rows: list[dict[str, Any]]
    curves: dict[int, Curve] = field(default_factory=dict)
    source: str = ""

    def select(self, rows: Iterable[Mapping[str, Any]]) -> ResultSet:
        """A result set with ``rows`` (a subset of these) and their curves."""
        kept = list(rows)
        ids = {row.get("run_id") for row in kept}
        return ResultSet(
            kept,
            {run_id: curve for run_id, curve in self.curves.items() if run_id in ids},
            self.source,
        )


def source_kind(path: Path) -> str:
    """``"sqlite"``, ``"parquet"`` or ``"csv"``, from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "csv"


def load(
    path: str | os.PathLike[str] | None,
    include_superseded: bool = False,
    option: str = "--store",
) -> ResultSet:
    """Load a result store or an exported file.

    Parameters
    ----------
    path : path-like or None
        A SQLite store, or a CSV or Parquet file written by ``bfcbench export``;
        None means the default store (``$BFCBENCH_STORE``, else
        ``results/bfcbench.sqlite``).
    include_superseded : bool, default=False
        Keep every row: those that a forced re-run replaced, and older runs of a
        configuration and seed that ran again (by default only the latest run
        of each configuration and seed is kept).
    option : str, default="--store"
        The option or argument that named the file, for error messages.

    Returns
    -------
    ResultSet
    """
    from bfcbench.reading import export

    resolved = default_path(path) if option == "--store" else Path(path or "")
    if not resolved.is_file():
        raise ConfigError(
            f"{option}: got {str(resolved)!r}; allowed: an existing result store "
            "or a CSV or Parquet file written by bfcbench export."
        )
    kind = source_kind(resolved)
    if kind == "sqlite":
        try:
            store = Store(resolved, readonly=True)
        except StoreError as error:
            raise ConfigError(
                f"{option}: got {str(resolved)!r}, which {error.reason}; allowed: "
                "a result store or a CSV or Parquet file written by bfcbench export."
            ) from None
        with store:
            rows = store.runs()
            curves = _group_curves(store.curves(row["run_id"] for row in rows))
    else:
        rows, curves = export.read(resolved, kind, option)
    if not include_superseded:
        rows = latest_per_seed([row for row in rows if not row.get("superseded")])
    ids = {row["run_id"] for row in rows}
    curves = {key: value for key, value in curves.items() if key in ids}
    logger.debug("read %d runs from %s", len(rows), resolved)
    return ResultSet(rows, curves, str(resolved))


def latest_per_seed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the latest run (highest ``run_id``) of each configuration and seed.

    A configuration run twice into one store without ``--force`` holds two rows
    for one seed; they are the same experiment, not two samples of it.
    """
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (*configuration(row), row["seed"])
        if key not in latest or (row["run_id"] or 0) > (latest[key]["run_id"] or 0):
            latest[key] = row
    if len(latest) < len(rows):
        logger.info(
            "%d older runs of a configuration and seed that ran again are left out",
            len(rows) - len(latest),
        )
    kept = {id(row) for row in latest.values()}
    return [row for row in rows if id(row) in kept]


def _group_curves(points: Iterable[Sequence[Any]]) -> dict[int, Curve]:
    curves: dict[int, Curve] = {}
    for run_id, step, level, r2 in points:
        curves.setdefault(int(run_id), []).append((int(step), int(level), r2))
    return curves


def configuration(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The key of a row's configuration: :data:`CONFIG_COLUMNS`, parameters as
    canonical JSON so that equal parameter sets give equal keys."""
    return tuple(
        canonical_json(row[name] or {}) if name.endswith("_params") else row[name]
        for name in CONFIG_COLUMNS
    )


def metric_value(row: Mapping[str, Any], metric: str) -> float | None:
    """The row's ``metric`` when the run is ``ok`` and the value a finite number."""
    if row.get("status") != "ok":
        return None
    value = row.get(metric)
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def check_metric(metric: str, option: str = "--metric") -> str:
    """Return ``metric`` if readers can aggregate it, else raise ConfigError."""
    if metric not in METRICS:
        raise ConfigError(
            f"{option}: got {metric!r}; allowed: one of {', '.join(METRICS)}."
            + did_you_mean(metric, METRICS)
        )
    return metric


def display_labels(rows: Sequence[Mapping[str, Any]], kind: str) -> dict[Any, str]:
    """Readable, unambiguous names of the tasks or learners in ``rows``.

    Parameters
    ----------
    rows : sequence of dict
    kind : {"task", "learner"}

    Returns
    -------
    dict
        ``(name, version, canonical params) -> label``. The stored label names
        the non-default parameters; where two configurations share a label (a
        version changed, or defaults did), the version or a parameter digest is
        appended so that they stay apart.
    """
    identities: dict[str, set[tuple[Any, ...]]] = {}
    for row in rows:
        identities.setdefault(row[f"{kind}_label"], set()).add(_identity(row, kind))
    names: dict[Any, str] = {}
    for text, members in identities.items():
        versions = {member[1] for member in members}
        for member in sorted(members, key=repr):
            if len(members) == 1:
                names[member] = text
            elif len(versions) == len(members):
                names[member] = f"{text} v{member[1]}"
            else:
                names[member] = f"{text} v{member[1]} {_digest(member[2])}"
    return names


def _identity(row: Mapping[str, Any], kind: str) -> tuple[Any, ...]:
    return (row[kind], row[f"{kind}_version"], canonical_json(row[f"{kind}_params"]))


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:6]


@dataclass
class Labeller:
    """Names of tasks and learners for display, unambiguous within a set of rows."""

    tasks: dict[Any, str]
    learners: dict[Any, str]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]]) -> Labeller:
        """The names of every task and learner in ``rows``."""
        return cls(display_labels(rows, "task"), display_labels(rows, "learner"))

    def task(self, row: Mapping[str, Any]) -> str:
        """Display name of the row's task."""
        return self.tasks[_identity(row, "task")]

    def learner(self, row: Mapping[str, Any]) -> str:
        """Display name of the row's learner."""
        return self.learners[_identity(row, "learner")]


# -- filters -----------------------------------------------------------------


def filter_rows(
    results: ResultSet,
    tasks: str | None = None,
    learners: str | None = None,
    where: Sequence[str] = (),
) -> ResultSet:
    """Keep the rows that match every filter.

    Parameters
    ----------
    results : ResultSet
    tasks, learners : str, optional
        Comma-separated names or labels (``kernel-poly`` or
        ``kernel-poly[degree=4]``).
    where : sequence of str
        ``KEY=VALUE[,VALUE...]`` conditions, all of which must hold. ``KEY`` is a
        column of ``runs`` (``n_train``, ``seed``, ``status``, ...) or a parameter,
        ``task.PARAM`` or ``learner.PARAM``; numbers match by value, so
        ``gap=0.30`` matches 0.3.

    Returns
    -------
    ResultSet
    """
    rows = results.rows
    for option, kind, text in (
        ("--task", "task", tasks),
        ("--learner", "learner", learners),
    ):
        if not text:
            continue
        wanted = [part.strip() for part in text.split(",") if part.strip()]
        present = sorted(
            {row[kind] for row in rows} | {row[f"{kind}_label"] for row in rows}
        )
        for name in wanted:
            if name not in present:
                raise ConfigError(
                    f"{option}: got {name!r}; allowed: a {kind} in the result set "
                    f"({', '.join(present) or 'none'})." + did_you_mean(name, present)
                )
        rows = [
            row for row in rows if row[kind] in wanted or row[f"{kind}_label"] in wanted
        ]
    for condition in where:
        rows = _apply_where(rows, condition)
    return results.select(rows)


def _apply_where(rows: list[dict[str, Any]], condition: str) -> list[dict[str, Any]]:
    key, sep, text = condition.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key or not text:
        raise ConfigError(
            f"--where: got {condition!r}; allowed: KEY=VALUE[,VALUE...] with a "
            "column or task.PARAM / learner.PARAM as KEY."
        )
    getter = value_getter(key, rows, "--where")
    wanted = [part.strip() for part in text.split(",")]
    return [row for row in rows if any(_matches(getter(row), want) for want in wanted)]


def value_getter(key: str, rows: Sequence[Mapping[str, Any]], option: str):
    """A function that reads ``key`` (a column or ``task.P`` / ``learner.P``) from
    a row; raises ConfigError when no row has it."""
    kind, dot, name = key.partition(".")
    if dot and kind in ("task", "learner"):
        present = sorted({p for row in rows for p in (row[f"{kind}_params"] or {})})
        if name not in present:
            raise ConfigError(
                f"{option}: got {key!r}; allowed: {kind}.PARAM with PARAM a {kind} "
                f"parameter in the result set ({', '.join(present) or 'none'})."
                + did_you_mean(name, present)
            )
        return lambda row: (row[f"{kind}_params"] or {}).get(name)
    columns = [name for name, _, _ in RUN_COLUMNS]
    if key not in columns:
        raise ConfigError(
            f"{option}: got {key!r}; allowed: a column of runs ({', '.join(columns)}) "
            "or task.PARAM / learner.PARAM." + did_you_mean(key, columns)
        )
    return lambda row: row.get(key)


def _matches(value: Any, text: str) -> bool:
    if value is None:
        return text.lower() in ("", "none", "null")
    if isinstance(value, bool):
        return text.lower() in (("true", "1", "yes") if value else ("false", "0", "no"))
    if isinstance(value, (int, float)):
        try:
            return math.isclose(float(text), float(value), rel_tol=1e-12)
        except ValueError:
            return False
    return str(value) == text


# -- cells -------------------------------------------------------------------


@dataclass
class Cell:
    """The runs of one configuration (or pivot position) over seeds.

    Parameters
    ----------
    rows : list of dict
        The runs; each seed at most once in a result set from :func:`load`.
    metric : str
        The column aggregated.
    """

    rows: list[dict[str, Any]]
    metric: str

    @property
    def values(self) -> list[float]:
        """The metric of every ``ok`` run, in seed order."""
        ordered = sorted(self.rows, key=lambda row: row.get("seed") or 0)
        return [
            v
            for v in (metric_value(row, self.metric) for row in ordered)
            if v is not None
        ]

    @property
    def median(self) -> float | None:
        """Median of :attr:`values`; None without any."""
        values = self.values
        return statistics.median(values) if values else None

    def spread(self, kind: str) -> tuple[float, float] | None:
        """``(low, high)`` over seeds: min and max (``range``), quartiles
        (``iqr``); None for ``none`` or fewer than two values."""
        values = sorted(self.values)
        if kind == "none" or len(values) < 2:
            return None
        if kind == "range":
            return values[0], values[-1]
        low, _, high = statistics.quantiles(values, n=4, method="inclusive")
        return low, high

    @property
    def status(self) -> str:
        """``ok`` when every run is ok, else counts such as ``2 ok, 1 diverged``."""
        from bfcbench.summary import status_text

        return status_text(row["status"] for row in self.rows)

    @property
    def seeds(self) -> int:
        """Number of runs in the cell."""
        return len(self.rows)

    @property
    def failed(self) -> bool:
        """True when the cell has runs but no usable value."""
        return bool(self.rows) and not self.values


SPREADS = ("range", "iqr", "none")
