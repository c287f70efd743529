"""Plans of runs.

:func:`plan` checks every name and parameter of a comparison and expands it into
:class:`~bfcbench.runner.RunSpec` objects before anything runs, so a bad input
is refused before the store is touched; :mod:`bfcbench.engine` executes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bfcbench import registry
from bfcbench.errors import ConfigError
from bfcbench.params import did_you_mean, resolve
from bfcbench.runner import DEFAULT_N_TEST, RunSpec


def learner_names(text: str) -> list[str]:
    """Expand ``--learner``: comma-separated names, or ``all``."""
    names = [name.strip() for name in text.split(",")]
    allowed = "comma-separated learner names, each once, or 'all'"
    if not any(names) or (len(names) > 1 and not all(names)):
        raise ConfigError(f"--learner: got {text!r}; allowed: {allowed}.")
    if names == ["all"]:
        return list(registry.learners())
    if "all" in names:
        raise ConfigError(f"--learner: got {text!r}; allowed: 'all' alone, or names.")
    for name in names:
        registry.learner_class(name)
        if names.count(name) > 1:
            raise ConfigError(
                f"--learner: got {text!r} ({name} twice); allowed: {allowed}."
            )
    return names


def learner_settings(
    names: Sequence[str], given: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Give each learner the ``--learner-param`` values it declares, checked.

    A key that no selected learner declares is an error.
    """
    declared = {
        name: {p.name for p in registry.learner_class(name).params} for name in names
    }
    for key in given:
        if not any(key in keys for keys in declared.values()):
            every = sorted(set().union(*declared.values()))
            raise ConfigError(
                f"--learner-param: got {key!r}, which none of {', '.join(names)} "
                f"declares; allowed: {', '.join(every) or 'none'}."
                + did_you_mean(key, every)
            )
    return {
        name: resolve(
            registry.learner_class(name).params,
            {k: v for k, v in given.items() if k in declared[name]},
            f"learner {name!r}",
        )
        for name in names
    }


def plan(
    task: str,
    task_params: Mapping[str, Any],
    learners: Mapping[str, Mapping[str, Any]],
    n_train: Sequence[int],
    seeds: Sequence[int],
    n_test: int = DEFAULT_N_TEST,
    device: str = "cpu",
    threads: int | None = None,
) -> list[RunSpec]:
    """Every (n, learner, seed) combination as a checked RunSpec.

    ``task_params`` and each learner's parameters are resolved (defaults
    filled, values checked, constraints between task parameters checked) here.
    """
    task_cls = registry.task_class(task)
    resolved_task = resolve(task_cls.params, task_params, f"task {task!r}")
    task_cls.check(resolved_task)
    specs = []
    for n in n_train:
        for name, params in learners.items():
            learner_cls = registry.learner_class(name)
            resolved = resolve(learner_cls.params, params, f"learner {name!r}")
            for seed in seeds:
                specs.append(
                    RunSpec(
                        task=task,
                        task_params=dict(resolved_task),
                        learner=name,
                        learner_params=resolved,
                        n_train=n,
                        seed=seed,
                        n_test=n_test,
                        device=device,
                        threads=threads,
                    )
                )
    return specs
