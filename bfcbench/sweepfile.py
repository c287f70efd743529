"""Sweep files: a grid of runs described in TOML.

A sweep file lists tasks and learners, each with parameters; a list in place
of a single value is an axis of the grid. Every task configuration is crossed
with every learner configuration, every training-set size and every seed::

    n_train = [500, 2000, 8000]   # training sample sizes
    seeds = 3                     # run seeds 0, 1, 2 (or a list: [0, 5, 7])
    n_test = 2000                 # test sample size (default 4000)
    timeout = "20m"               # wall-clock limit of each run (optional)
    memory_limit = "8G"           # memory budget of each run (optional)
    threads = 1                   # threads of each run (optional)

    [[tasks]]
    name = "hierarchical"
    params = { d = 16, depth = [2, 3], gap = 0.3 }

    [[learners]]
    name = "deep"
    params = { steps = 4000, width = [16, 32] }
    timeout = "1h"                # per-learner override

    [[learners]]
    name = "kernel-poly"
    params = { degree = [2, 4] }
    n_train = [500, 2000]         # per-learner override: no exact fit at 8000

A learner entry may override ``n_train``, ``seeds`` and ``timeout``. The same
learner may appear in several entries (say ``deep`` with ``sgd`` at one
learning rate and ``adam`` at another), provided no configuration is listed
twice.

Everything is checked before anything runs: a malformed or contradictory file
raises :class:`~bfcbench.errors.ConfigError` with one line that names the file,
the line, the key, the value received and what is allowed.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bfcbench import registry
from bfcbench.errors import ConfigError
from bfcbench.params import Param, did_you_mean, label
from bfcbench.resources import AUTO, parse_duration, parse_size
from bfcbench.runner import DEFAULT_N_TEST, RunSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TOP_KEYS = (
    "n_train",
    "seeds",
    "n_test",
    "device",
    "threads",
    "timeout",
    "memory_limit",
    "tasks",
    "learners",
)
TASK_KEYS = ("name", "params")
LEARNER_KEYS = ("name", "params", "n_train", "seeds", "timeout")

KeyPath = tuple[str | int, ...]


@dataclass
class Sweep:
    """A checked sweep file, expanded into runs.

    Attributes
    ----------
    source : str
        The file it came from.
    specs : list of RunSpec
        Every run, in the order of the file: task entries, their grids, learner
        entries, their grids, n_train, seeds.
    timeouts : dict
        Wall-clock limits of the runs whose learner entry sets one, by
        configuration key.
    timeout : float or None
        The file's default wall-clock limit.
    memory_limit : int, "auto" or None
        The file's memory budget per run ("auto" when not given).
    threads : int or None
        Threads per run, when the file sets them.
    """

    source: str
    specs: list[RunSpec] = field(default_factory=list)
    timeouts: dict[str, float | None] = field(default_factory=dict)
    timeout: float | None = None
    memory_limit: int | str | None = AUTO
    threads: int | None = None


def load(path: str | Path) -> Sweep:
    """Read, check and expand the sweep file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"sweep file: got {str(path)!r}; allowed: an existing TOML file."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"sweep file: got {str(path)!r}; allowed: a readable UTF-8 TOML file "
            f"({error})."
        ) from None
    return parse(text, path.name)


def parse(text: str, source: str = "sweep file") -> Sweep:
    """Check and expand the sweep described by the TOML ``text``.

    Parameters
    ----------
    text : str
        The file's content.
    source : str, default="sweep file"
        The file's name, for error messages.

    Returns
    -------
    Sweep
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(error, source) from None
    return _Checker(document, _KeyLines(text), source).sweep()


def _syntax_error(error: Exception, source: str) -> ConfigError:
    message = str(error)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    reason = reason[:1].lower() + reason[1:]
    if match:
        where = f"{source} line {match.group(1)}"
        column = f" at column {match.group(2)}"
    else:
        where, column = f"{source} end", ""
    return ConfigError(
        f"{where}: not valid TOML: {reason}{column}; allowed: TOML as described "
        "in the README's Sweeps section."
    )


class _Checker:
    """Walks the parsed document, checking each key where it is."""

    def __init__(self, document: dict[str, Any], lines: _KeyLines, source: str):
        self.document = document
        self.lines = lines
        self.source = source

    def error(self, path: KeyPath, message: str) -> ConfigError:
        line = self.lines.line(path)
        where = f"{self.source} line {line}" if line else self.source
        return ConfigError(f"{where}: {_dotted(path)}: {message}")

    def sweep(self) -> Sweep:
        document = self.document
        self.known_keys(document, TOP_KEYS, ())
        for required in ("tasks", "learners", "n_train"):
            if required not in document:
                raise ConfigError(
                    f"{self.source}: {required}: missing; allowed: a sweep file "
                    "needs tasks, learners and n_train."
                )
        result = Sweep(self.source)
        n_train = self.sizes(document["n_train"], ("n_train",))
        seeds = self.seeds(document.get("seeds", 1), ("seeds",))
        n_test = self.integer(document.get("n_test", DEFAULT_N_TEST), ("n_test",), 2)
        device = self.device(document.get("device", "cpu"), ("device",))
        if "threads" in document:
            result.threads = self.integer(document["threads"], ("threads",), 1, 1024)
        result.timeout = self.duration(document.get("timeout"), ("timeout",))
        if "memory_limit" in document:
            result.memory_limit = self.size(document["memory_limit"], ("memory_limit",))

        tasks = self.tasks(self.entries(document["tasks"], "tasks"))
        learners = self.learners(
            self.entries(document["learners"], "learners"), n_train, seeds
        )

        origin: dict[str, tuple[KeyPath, KeyPath]] = {}
        for task_name, task_values, task_path in tasks:
            for entry in learners:
                for values in entry.grid:
                    for n in entry.n_train:
                        for seed in entry.seeds:
                            spec = RunSpec(
                                task=task_name,
                                task_params=dict(task_values),
                                learner=entry.name,
                                learner_params=dict(values),
                                n_train=n,
                                seed=seed,
                                n_test=n_test,
                                device=device,
                                threads=result.threads,
                            )
                            key = spec.key()
                            here = (task_path, entry.path)
                            if key in origin:
                                raise self.duplicate(spec, origin[key], here)
                            origin[key] = here
                            result.specs.append(spec)
                            if entry.timeout_given:
                                result.timeouts[key] = entry.timeout
        return result

    def duplicate(
        self,
        spec: RunSpec,
        first: tuple[KeyPath, KeyPath],
        second: tuple[KeyPath, KeyPath],
    ) -> ConfigError:
        """Blame the later of the two entries that list the same configuration."""
        task, learner = spec.labels()
        side = 0 if first[0] != second[0] else 1
        first, second = first[side], second[side]
        first_line = self.lines.line(first)
        return self.error(
            second,
            f"got the configuration {task} {learner} n={spec.n_train} "
            f"seed={spec.seed} a second time (first from {_dotted(first)}"
            + (f", line {first_line}" if first_line else "")
            + "); allowed: each configuration once.",
        )

    # Sections.

    def entries(self, value: Any, section: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(
                (section,),
                f"got {_kind(value)}; allowed: an array of tables, each written "
                f"[[{section}]].",
            )
        if not value:
            raise self.error((section,), "got no entries; allowed: at least one.")
        return value

    def tasks(
        self, entries: list[dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any], KeyPath]]:
        tasks = []
        for index, entry in enumerate(entries):
            path: KeyPath = ("tasks", index)
            self.known_keys(entry, TASK_KEYS, path)
            name = self.name(entry, path, registry.tasks())
            cls = registry.task_class(name)
            for values in self.grid(entry.get("params", {}), cls.params, path, name):
                try:
                    cls.check(values)
                except ConfigError as error:
                    raise self.refused(path, name, values, str(error)) from None
                tasks.append((name, values, path))
        return tasks

    def refused(
        self, path: KeyPath, name: str, values: dict[str, Any], message: str
    ) -> ConfigError:
        """A task's refusal of a combination, placed at the parameter it names."""
        cls = registry.task_class(name)
        combination = label(name, values, cls.params)
        match = re.search(r"parameter '([^']+)': (.*)", message)
        if match and match.group(1) in values:
            return self.error(
                (*path, "params", match.group(1)),
                f"in the combination {combination}, {match.group(2)}",
            )
        return self.error(
            (*path, "params"),
            f"task {name!r} refuses the combination {combination}: "
            f"{_lower_first(message)}",
        )

    def learners(
        self, entries: list[dict[str, Any]], n_train: list[int], seeds: list[int]
    ) -> list[_LearnerEntry]:
        result = []
        for index, entry in enumerate(entries):
            path: KeyPath = ("learners", index)
            self.known_keys(entry, LEARNER_KEYS, path)
            name = self.name(entry, path, registry.learners())
            cls = registry.learner_class(name)
            learner = _LearnerEntry(
                name=name,
                path=path,
                grid=self.grid(entry.get("params", {}), cls.params, path, name),
                n_train=self.sizes(entry["n_train"], (*path, "n_train"))
                if "n_train" in entry
                else n_train,
                seeds=self.seeds(entry["seeds"], (*path, "seeds"))
                if "seeds" in entry
                else seeds,
            )
            if "timeout" in entry:
                learner.timeout_given = True
                learner.timeout = self.duration(entry["timeout"], (*path, "timeout"))
            result.append(learner)
        return result

    def grid(
        self,
        params: Any,
        declared: Sequence[Param],
        path: KeyPath,
        owner: str,
    ) -> list[dict[str, Any]]:
        """Every combination of the entry's parameter values, checked."""
        where = (*path, "params")
        if not isinstance(params, dict):
            raise self.error(
                where, f"got {_kind(params)}; allowed: a table of parameters."
            )
        by_name = {param.name: param for param in declared}
        axes: list[list[Any]] = []
        for key, raw in params.items():
            if key not in by_name:
                names = ", ".join(by_name) or "none"
                raise self.error(
                    (*where, key),
                    f"{owner!r} has no parameter {key!r}; allowed: {names}."
                    + did_you_mean(key, by_name),
                )
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise self.error(
                    (*where, key),
                    "got []; allowed: a value or a non-empty list of values.",
                )
            checked = [self.value(by_name[key], v, (*where, key)) for v in values]
            self.distinct(checked, raw, (*where, key))
            axes.append(checked)
        combinations = []
        for chosen in itertools.product(*axes):
            values = {param.name: param.default for param in declared}
            values.update(zip(params, chosen, strict=True))
            combinations.append(values)
        return combinations

    # Values.

    def value(self, param: Param, value: Any, path: KeyPath) -> Any:
        if isinstance(value, (list, dict)):
            raise self.error(
                path, f"got {value!r}; allowed: {param.allowed()}, or a list of them."
            )
        try:
            if isinstance(value, str):
                return param.parse(value, "")
            return param.check(value, "")
        except ConfigError:
            raise self.error(
                path, f"got {value!r}; allowed: {param.allowed()}."
            ) from None

    def name(
        self, entry: dict[str, Any], path: KeyPath, known: Mapping[str, Any]
    ) -> str:
        if "name" not in entry:
            raise self.error(path, f"name: missing; allowed: {', '.join(known)}.")
        name = entry["name"]
        if not isinstance(name, str) or name not in known:
            broken = registry.unavailable()[
                "tasks" if path[0] == "tasks" else "learners"
            ]
            if isinstance(name, str) and name in broken:
                raise self.error((*path, "name"), f"{name!r} is {broken[name]}.")
            raise self.error(
                (*path, "name"),
                f"got {name!r}; allowed: {', '.join(known)}."
                + (did_you_mean(name, known) if isinstance(name, str) else ""),
            )
        return name

    def integer(
        self, value: Any, path: KeyPath, low: int, high: int | None = None
    ) -> int:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            allowed = f"an integer >= {low}" + (f" and <= {high}" if high else "")
            raise self.error(path, f"got {value!r}; allowed: {allowed}.")
        return value

    def sizes(self, value: Any, path: KeyPath) -> list[int]:
        values = value if isinstance(value, list) else [value]
        if not values or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in values
        ):
            raise self.error(
                path, f"got {value!r}; allowed: an integer >= 2 or a list of them."
            )
        self.distinct(values, value, path)
        return values

    def seeds(self, value: Any, path: KeyPath) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= 10_000:
                raise self.error(
                    path,
                    f"got {value!r}; allowed: a count from 1 to 10000 (seeds 0 to "
                    "count - 1) or a list of seeds >= 0.",
                )
            return list(range(value))
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and min(value) >= 0
        ):
            self.distinct(value, value, path)
            return value
        raise self.error(
            path,
            f"got {value!r}; allowed: a count from 1 to 10000 (seeds 0 to count - 1) "
            "or a list of seeds >= 0.",
        )

    def device(self, value: Any, path: KeyPath) -> str:
        from bfcbench.commands.common import resolve_device

        if not isinstance(value, str):
            raise self.error(
                path, f"got {value!r}; allowed: cpu, cuda, cuda:N or auto."
            )
        try:
            return resolve_device(value)
        except ConfigError as error:
            allowed = str(error).split("allowed: ", 1)[-1]
            raise self.error(path, f"got {value!r}; allowed: {allowed}") from None

    def duration(self, value: Any, path: KeyPath) -> float | None:
        try:
            return parse_duration(value, _dotted(path))
        except ConfigError as error:
            raise self.error(path, _after_key(str(error))) from None

    def size(self, value: Any, path: KeyPath) -> int | str | None:
        try:
            return parse_size(value, _dotted(path))
        except ConfigError as error:
            raise self.error(path, _after_key(str(error))) from None

    def distinct(self, values: list[Any], shown: Any, path: KeyPath) -> None:
        if len(set(map(repr, values))) != len(values):
            raise self.error(
                path, f"got {shown!r}; allowed: a list without repeated values."
            )

    def known_keys(
        self, table: dict[str, Any], allowed: Sequence[str], path: KeyPath
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    (*path, key),
                    f"unknown key {key!r}; allowed: {', '.join(allowed)}."
                    + did_you_mean(key, allowed),
                )


@dataclass
class _LearnerEntry:
    name: str
    path: KeyPath
    grid: list[dict[str, Any]]
    n_train: list[int]
    seeds: list[int]
    timeout: float | None = None
    timeout_given: bool = False


class _KeyLines:
    """Line numbers of the keys of a TOML text, for error messages.

    A light scan, not a parser (tomllib has already checked the syntax): it
    follows table headers, arrays of tables, ``key = value`` lines and the keys of
    inline tables written on one line. A key it cannot place takes the line of
    its nearest placed parent.
    """

    _BARE = r"[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'"
    _KEY = re.compile(rf"^\s*((?:{_BARE})(?:\s*\.\s*(?:{_BARE}))*)\s*=")
    _INLINE_KEY = re.compile(rf"[{{,]\s*((?:{_BARE})(?:\s*\.\s*(?:{_BARE}))*)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[KeyPath, int] = {}
        arrays: dict[KeyPath, int] = {}
        table: KeyPath = ()
        depth = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _without_strings_and_comment(raw)
            if depth > 0:
                depth += line.count("[") - line.count("]")
                continue
            stripped = line.strip()
            if stripped.startswith("[[") and stripped.endswith("]]"):
                parts = _split_key(raw.strip()[2:].split("]]")[0])
                prefix = self._resolve(parts[:-1], arrays)
                array = (*prefix, parts[-1])
                arrays[array] = arrays.get(array, 0) + 1
                table = (*array, arrays[array] - 1)
                self.lines.setdefault(array, number)
                self.lines[table] = number
                continue
            if stripped.startswith("["):
                table = self._resolve(_split_key(raw.strip()[1:].split("]")[0]), arrays)
                self.lines[table] = number
                continue
            match = self._KEY.match(raw)
            if not match:
                continue
            key = (*table, *_split_key(match.group(1)))
            self.lines.setdefault(key, number)
            value = line[line.index("=") + 1 :]
            depth = max(0, value.count("[") - value.count("]"))
            if value.lstrip().startswith("{"):
                for inner in self._INLINE_KEY.finditer(raw[raw.index("=") + 1 :]):
                    self.lines.setdefault((*key, *_split_key(inner.group(1))), number)

    @staticmethod
    def _resolve(parts: list[str], arrays: dict[KeyPath, int]) -> KeyPath:
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in arrays:
                path = (*path, arrays[path] - 1)
        return path

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest parent that has one."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", text)
    return [next(p for p in groups if p) if any(groups) else "" for groups in parts]


def _without_strings_and_comment(line: str) -> str:
    """The line with string contents blanked and any comment cut off."""
    line = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'", '""', line)
    return line.split("#", 1)[0]


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    return repr(value)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _after_key(message: str) -> str:
    """``"got ...; allowed: ..."`` from a message that starts with the key."""
    return message.split(": ", 1)[1] if ": " in message else message
