"""The result store: one SQLite file, one committed row per finished run.

The file holds three tables: ``meta`` (the schema version), ``runs`` (the columns
of DESIGN.md section 3, listed in :data:`RUN_COLUMNS`) and ``curves`` (feature
recovery during training, keyed by run). Each run is written in one transaction
with its curve, so a killed process leaves either the whole run or nothing. The
database runs in WAL mode with a generous busy timeout so that several processes
can write to it at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bfcbench.errors import ConfigError, StoreError

SCHEMA_VERSION = 1
BUSY_SECONDS = 60.0
DEFAULT_PATH = Path("results") / "bfcbench.sqlite"
ENVIRONMENT_VARIABLE = "BFCBENCH_STORE"
STATUSES = ("ok", "diverged", "timeout", "oom", "failed", "skipped")

# (name, SQL type, meaning). The order is the order of stored and exported columns.
RUN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "INTEGER PRIMARY KEY AUTOINCREMENT", "row number in this store"),
    (
        "config_key",
        "TEXT NOT NULL",
        "hash of the configuration; resumed sweeps skip it",
    ),
    ("task", "TEXT NOT NULL", "task name"),
    ("task_version", "INTEGER NOT NULL", "task version (bumped when data change)"),
    ("task_params", "TEXT NOT NULL", "task parameters, JSON, defaults filled in"),
    ("task_label", "TEXT NOT NULL", "task name with its non-default parameters"),
    ("learner", "TEXT NOT NULL", "learner name"),
    ("learner_version", "INTEGER NOT NULL", "learner version"),
    ("learner_params", "TEXT NOT NULL", "learner parameters, JSON, defaults filled in"),
    ("learner_label", "TEXT NOT NULL", "learner name with its non-default parameters"),
    ("n_train", "INTEGER NOT NULL", "training examples (validation split included)"),
    ("n_test", "INTEGER NOT NULL", "test examples"),
    ("seed", "INTEGER NOT NULL", "run seed: training and test samples, initialisation"),
    ("status", "TEXT NOT NULL", "ok, diverged, timeout, oom, failed or skipped"),
    ("message", "TEXT", "why a run did not finish, or a warning"),
    ("test_mse", "REAL", "mean squared error on the test sample"),
    ("test_nmse", "REAL", "test MSE divided by the variance of the test labels"),
    ("train_mse", "REAL", "mean squared error on the training sample"),
    ("fit_seconds", "REAL", "wall time of fit, hyperparameter choice included"),
    ("predict_seconds", "REAL", "wall time of predicting the test sample"),
    ("peak_memory_mb", "REAL", "peak resident memory of the process during the run"),
    ("choices", "TEXT", "hyperparameters the learner chose, JSON"),
    ("stop_reason", "TEXT", "why training stopped"),
    ("failed_step", "INTEGER", "optimisation step at which training diverged"),
    ("ridge", "REAL", "ridge used by a kernel learner"),
    ("solver", "TEXT", "linear solver used by a kernel learner"),
    (
        "feature_r2",
        "TEXT",
        "final R^2 of each true level from the learned levels, JSON",
    ),
    ("dtype", "TEXT", "floating-point precision of the fit"),
    ("device", "TEXT", "torch device"),
    ("threads", "INTEGER", "torch threads"),
    ("bfcbench_version", "TEXT", "bfcbench version"),
    ("git_revision", "TEXT", "commit of the bfcbench source, -dirty if modified"),
    ("torch_version", "TEXT", "torch version"),
    ("numpy_version", "TEXT", "numpy version"),
    ("sklearn_version", "TEXT", "scikit-learn version"),
    ("python_version", "TEXT", "Python version"),
    ("hostname", "TEXT", "machine that ran it"),
    ("started_at", "TEXT", "UTC start time, ISO 8601"),
    ("finished_at", "TEXT", "UTC end time, ISO 8601"),
    ("superseded", "INTEGER NOT NULL DEFAULT 0", "1 once a forced re-run replaced it"),
)
COLUMN_NAMES = tuple(name for name, _, _ in RUN_COLUMNS)
JSON_COLUMNS = ("task_params", "learner_params", "choices", "feature_r2")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    {", ".join(f"{name} {kind}" for name, kind, _ in RUN_COLUMNS)},
    CHECK (status IN ({", ".join(repr(s) for s in STATUSES)}))
);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (config_key);
CREATE TABLE IF NOT EXISTS curves (
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    step INTEGER NOT NULL,
    level INTEGER NOT NULL,
    r2 REAL,
    PRIMARY KEY (run_id, step, level)
);
"""

# Upgrades from an older schema version v to v + 1, as SQL scripts.
_UPGRADES: dict[int, str] = {}


def default_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the store is: ``explicit``, else ``$BFCBENCH_STORE``, else
    ``results/bfcbench.sqlite`` under the working directory."""
    if explicit is not None:
        if not str(explicit).strip():
            raise ConfigError(
                f"--store: got {str(explicit)!r}; allowed: a file path (omit the "
                f"option for ${ENVIRONMENT_VARIABLE} or {DEFAULT_PATH})."
            )
        return Path(explicit)
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_environment:
        return Path(from_environment)
    return DEFAULT_PATH


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest existing ancestor: where a
    command that creates the missing folders would start writing."""
    existing = path if str(path) else Path(".")
    while not existing.exists():
        existing = existing.parent
    return existing


def check_writable(path: Path) -> None:
    """Refuse a store path that cannot be a file, before anything runs."""
    if path.is_dir():
        raise ConfigError(
            f"--store: got {str(path)!r}; allowed: a file path, not a directory."
        )
    existing = nearest_existing(path.parent)
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ConfigError(
            f"--store: got {str(path)!r}; allowed: a path in a writable directory."
        )
    if path.is_file() and path.stat().st_size > 0:
        try:
            with Store(path, readonly=True):
                pass
        except StoreError as error:
            raise ConfigError(
                f"--store: got {str(path)!r}, which {error.reason}; allowed: a "
                f"bfcbench store or the path of a new file."
            ) from None


class Store:
    """An open result store.

    Parameters
    ----------
    path : path-like
        The SQLite file; created (with its directory) if missing.
    readonly : bool, default=False
        Open an existing file for reading only.
    """

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise ConfigError(
                f"--store: got {str(self.path)!r}; allowed: an existing store file."
            )
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode={'ro' if readonly else 'rwc'}"
        try:
            self.connection = sqlite3.connect(
                uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None
            )
            self.connection.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000:.0f}")
            self._refuse_foreign()
            if not readonly:
                self._switch_to_wal()
                self.connection.execute("PRAGMA synchronous = NORMAL")
                self._create_or_upgrade()
            self._check_version()
        except sqlite3.DatabaseError as error:
            self._close_quietly()
            reason = (
                "is not an SQLite database"
                if "not a database" in str(error)
                else f"cannot be opened ({error})"
            )
            raise StoreError(
                f"cannot open the store {str(self.path)!r}: {error}", reason
            ) from error
        except StoreError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()

    def _refuse_foreign(self) -> None:
        """Refuse to add bfcbench's tables to some other database."""
        tables = {
            name
            for (name,) in self.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'"
            )
        }
        if tables and "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(
                f"{str(self.path)!r} is not a bfcbench store (it holds other "
                f"tables: {shown}).",
                f"is another database (tables: {shown})",
            )

    def _switch_to_wal(self) -> None:
        # Changing the journal mode needs the database to itself, and SQLite
        # answers "locked" at once rather than waiting in the busy handler when
        # several processes open a new file together; so wait here instead.
        deadline = time.monotonic() + BUSY_SECONDS
        pause = 0.001
        while True:
            try:
                self.connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                locked = "locked" in str(error) or "busy" in str(error)
                if not locked or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _create_or_upgrade(self) -> None:
        with self.transaction():
            # Statement by statement: executescript would commit the transaction.
            for statement in _statements(_SCHEMA):
                self.connection.execute(statement)
            row = self.connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is None:
                self.connection.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                return
            version = self._version(row[0])
            while version < SCHEMA_VERSION:
                for statement in _statements(_UPGRADES[version]):
                    self.connection.execute(statement)
                version += 1
                self.connection.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(version),),
                )

    def _version(self, stored: Any) -> int:
        """The stored schema version, refused unless this bfcbench knows it or
        it is newer (versions start at 1; each older one has an upgrade)."""
        try:
            version = int(stored)
        except (TypeError, ValueError):
            version = 0
        if version < 1 or (version < SCHEMA_VERSION and version not in _UPGRADES):
            raise StoreError(
                f"{str(self.path)!r} has a damaged schema version ({stored!r}); "
                f"bfcbench writes versions 1 to {SCHEMA_VERSION}.",
                f"has a damaged schema version ({stored!r})",
            )
        return version

    def _check_version(self) -> None:
        try:
            row = self.connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise StoreError(
                f"{str(self.path)!r} is not a bfcbench store (no schema version).",
                "is not a bfcbench store (no schema version)",
            )
        if self._version(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{str(self.path)!r} has schema version {row[0]}; this bfcbench reads "
                f"up to {SCHEMA_VERSION}. Upgrade bfcbench.",
                f"has schema version {row[0]}, newer than this bfcbench reads "
                f"({SCHEMA_VERSION}; upgrade bfcbench)",
            )

    def transaction(self) -> _Transaction:
        """``with store.transaction():`` runs its body in one immediate transaction."""
        return _Transaction(self.connection)

    def add(
        self,
        row: Mapping[str, Any],
        curve: Iterable[tuple[int, int, float | None]] = (),
        supersede: bool = False,
    ) -> int:
        """Write one run and its feature-recovery curve, committed together.

        Parameters
        ----------
        row : mapping
            Column values; JSON columns may be given as Python objects, missing
            columns are stored as NULL.
        curve : iterable of (step, level, r2)
        supersede : bool, default=False
            Mark the earlier current rows of the same ``config_key`` as
            superseded, in the same transaction, so that the configuration keeps
            exactly one current row: the new one.

        Returns
        -------
        int
            The new ``run_id``.
        """
        values = {
            name: _encode(name, row.get(name))
            for name in COLUMN_NAMES
            if name != "run_id"
        }
        if values["superseded"] is None:
            values["superseded"] = 0
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction():
            if supersede:
                self.connection.execute(
                    "UPDATE runs SET superseded = 1 "
                    "WHERE config_key = ? AND superseded = 0",
                    (values["config_key"],),
                )
            cursor = self.connection.execute(
                f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(values.values())
            )
            run_id = int(cursor.lastrowid)
            self.connection.executemany(
                "INSERT INTO curves VALUES (?, ?, ?, ?)",
                [(run_id, step, level, r2) for step, level, r2 in curve],
            )
        return run_id

    def runs(
        self, where: str = "", parameters: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows of ``runs`` as dicts, JSON columns decoded, in insertion order.

        ``where`` is an SQL condition with ``?`` placeholders for ``parameters``.
        """
        query = (
            "SELECT * FROM runs"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY run_id"
        )
        cursor = self.connection.execute(query, tuple(parameters))
        names = [column[0] for column in cursor.description]
        return [_decode(dict(zip(names, values, strict=True))) for values in cursor]

    def current_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """Status of the current row of each stored configuration among ``keys``.

        The current row of a configuration is its latest row not superseded;
        configurations without one are left out.
        """
        statuses: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ", ".join("?" for _ in chunk)
            statuses.update(
                self.connection.execute(
                    "SELECT config_key, status FROM runs WHERE run_id IN ("
                    "SELECT MAX(run_id) FROM runs WHERE superseded = 0 "
                    f"AND config_key IN ({marks}) GROUP BY config_key)",
                    chunk,
                )
            )
        return statuses

    def current_rows(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """The current row of each configuration in ``keys``, in the order given.

        Configurations without a current row are left out.
        """
        by_key: dict[str, dict[str, Any]] = {}
        ordered = list(dict.fromkeys(keys))
        for chunk in _chunks(ordered):
            marks = ", ".join("?" for _ in chunk)
            for row in self.runs(
                "run_id IN (SELECT MAX(run_id) FROM runs WHERE superseded = 0 "
                f"AND config_key IN ({marks}) GROUP BY config_key)",
                chunk,
            ):
                by_key[row["config_key"]] = row
        return [by_key[key] for key in ordered if key in by_key]

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"`` or the problems it found."""
        rows = self.connection.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(row[0]) for row in rows)

    def curves(
        self, run_ids: Iterable[int]
    ) -> list[tuple[int, int, int, float | None]]:
        """Curve points ``(run_id, step, level, r2)`` of the given runs."""
        ids = list(run_ids)
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        return list(
            self.connection.execute(
                f"SELECT run_id, step, level, r2 FROM curves WHERE run_id IN ({marks}) "
                "ORDER BY run_id, level, step",
                ids,
            )
        )

    def schema_version(self) -> int:
        row = self.connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """Split a list of SQL parameters below SQLite's limit on ``?`` marks."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


def _encode(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in JSON_COLUMNS and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=_json_default)
    return value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for name in JSON_COLUMNS:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")
