"""Registries of tasks and learners.

The built-in collections live in ``bfcbench.tasks`` and ``bfcbench.learners``.
Other packages can add their own through the entry-point groups
``bfcbench.tasks`` and ``bfcbench.learners`` (each entry point names a Task or
Learner subclass); one whose import fails is listed as not installed, with the
reason, instead of breaking the listing.

Without packaging, the environment variable ``BFCBENCH_PLUGINS`` names
importable modules, separated by commas; every Task and Learner subclass that
such a module defines (with a ``name``) is registered. The variable is read
where the registry is used, so worker processes that inherit the environment,
including the processes that run isolated runs, see the same plugins.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import os
from importlib.metadata import entry_points
from typing import Any

from bfcbench.errors import ConfigError
from bfcbench.learners import LEARNERS, Learner
from bfcbench.params import canonical_json, did_you_mean
from bfcbench.tasks import TASKS, Task

logger = logging.getLogger(__name__)

PLUGINS_VARIABLE = "BFCBENCH_PLUGINS"


def _plugins(group: str) -> tuple[dict[str, Any], dict[str, str]]:
    return _plugins_for(group, os.environ.get(PLUGINS_VARIABLE, ""))


@functools.cache
def _plugins_for(group: str, modules: str) -> tuple[dict[str, Any], dict[str, str]]:
    found: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for point in entry_points(group=group):
        try:
            found[point.name] = point.load()
        except Exception as error:  # a plugin's import may fail in any way
            broken[point.name] = f"not installed: {type(error).__name__}: {error}"
    base = Task if group == "bfcbench.tasks" else Learner
    for module_name in filter(None, (part.strip() for part in modules.split(","))):
        module = _plugin_module(module_name)
        if isinstance(module, str):
            broken[module_name] = module
            continue
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and not inspect.isabstract(value)
                and isinstance(getattr(value, "name", None), str)
            ):
                found[value.name] = value
    return found, broken


@functools.cache
def _plugin_module(name: str) -> Any:
    """The module ``name`` of ``BFCBENCH_PLUGINS``, or why it cannot be imported."""
    try:
        return importlib.import_module(name)
    except Exception as error:  # a plugin's import may fail in any way
        reason = (
            f"not installed: {PLUGINS_VARIABLE} names {name!r}, whose import "
            f"failed: {type(error).__name__}: {error}"
        )
        logger.warning("%s", reason)
        return reason


def tasks() -> dict[str, type[Task]]:
    """Every usable task class by name, built-ins first."""
    return {**TASKS, **_plugins("bfcbench.tasks")[0]}


def learners() -> dict[str, type[Learner]]:
    """Every usable learner class by name, built-ins first."""
    return {**LEARNERS, **_plugins("bfcbench.learners")[0]}


def unavailable() -> dict[str, dict[str, str]]:
    """Plugins that failed to load, by kind and name, with the reason."""
    return {
        "tasks": _plugins("bfcbench.tasks")[1],
        "learners": _plugins("bfcbench.learners")[1],
    }


def build_task(name: str, params: dict[str, Any]) -> Task:
    """The task ``name`` with resolved ``params``, built once per process.

    Tasks are immutable once built, and building one can mean measuring its
    moments on a reference sample, so runs of the same task share one object.
    """
    return _build_task(name, canonical_json(params))


@functools.lru_cache(maxsize=16)
def _build_task(name: str, params_json: str) -> Task:
    return task_class(name)(**json.loads(params_json))


def task_class(name: str) -> type[Task]:
    """The task class called ``name``; a one-line ConfigError otherwise."""
    return _lookup("--task", name, tasks(), unavailable()["tasks"])


def learner_class(name: str) -> type[Learner]:
    """The learner class called ``name``; a one-line ConfigError otherwise."""
    return _lookup("--learner", name, learners(), unavailable()["learners"])


def _lookup(
    option: str, name: str, known: dict[str, Any], broken: dict[str, str]
) -> Any:
    if name in known:
        return known[name]
    if name in broken:
        raise ConfigError(f"{option}: {name!r} is {broken[name]}.")
    raise ConfigError(
        f"{option}: got {name!r}; allowed: {', '.join(known)}."
        + did_you_mean(name, known)
    )
