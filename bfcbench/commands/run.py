"""``bfcbench run``: every (learner, n, seed) of one task, into the store."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from bfcbench import registry
from bfcbench.commands.common import (
    add_format,
    add_store,
    add_task,
    int_list,
    resolve_device,
    single_int,
)
from bfcbench.commands.sweep import (
    add_dry_run,
    add_engine_options,
    engine_settings,
    execute_jobs,
    plan_rows,
)
from bfcbench.engine import jobs_for
from bfcbench.experiment import learner_names, learner_settings, plan
from bfcbench.output import format_number, render
from bfcbench.params import parse_assignments
from bfcbench.runner import DEFAULT_N_TEST, RunSpec
from bfcbench.store import COLUMN_NAMES, check_writable, default_path
from bfcbench.summary import SUMMARY_COLUMNS, choices_rows, summarize

logger = logging.getLogger(__name__)

# The default comparison: every learner on the default task, sample sizes a
# 2-core machine runs in a few minutes.
DEFAULT_N = "500,2000,8000"


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "run",
        parents=parents,
        help="run learners on a task at several sample sizes and seeds",
        description="Run every (learner, n, seed) combination on one task, store one "
        "row per finished run and print median test NMSE per (learner, n). Without "
        "arguments: the default comparison. Configurations already stored are not "
        "run again (see --retry-failed and --force).",
    )
    add_task(parser)
    parser.add_argument(
        "--learner",
        default="all",
        metavar="NAME[,NAME...]",
        help="learners to run, comma-separated, or all (default: all)",
    )
    parser.add_argument(
        "--learner-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter of every selected learner that declares it; repeat",
    )
    parser.add_argument(
        "--n",
        default=DEFAULT_N,
        metavar="N[,N...]",
        help=f"training sample sizes (default: {DEFAULT_N})",
    )
    parser.add_argument(
        "--seeds",
        default="1",
        metavar="S",
        help="number of run seeds, 0..S-1 (default: 1)",
    )
    parser.add_argument(
        "--n-test",
        default=str(DEFAULT_N_TEST),
        metavar="N",
        help=f"test sample size (default: {DEFAULT_N_TEST})",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)"
    )
    parser.add_argument(
        "--threads",
        default=None,
        metavar="T",
        help="threads per run (default: the cores divided by --jobs, at least 1)",
    )
    parser.add_argument(
        "--show-choices",
        action="store_true",
        help="also print the hyperparameters each run chose on its validation split "
        "(the json format always includes them)",
    )
    add_dry_run(parser)
    add_engine_options(parser)
    add_store(parser)
    add_format(parser, ("table", "markdown", "csv", "json"))
    parser.set_defaults(handler=handle)


def build_plan(args: argparse.Namespace) -> list[RunSpec]:
    """Check every option and expand them into run specs; raises ConfigError."""
    task_params = parse_assignments(args.task_param, "--task-param")
    names = learner_names(args.learner)
    settings = learner_settings(
        names, parse_assignments(args.learner_param, "--learner-param")
    )
    return plan(
        task=args.task,
        task_params=task_params,
        learners=settings,
        n_train=int_list(args.n, "--n", 2),
        seeds=range(single_int(args.seeds, "--seeds", 1, 10_000)),
        n_test=single_int(args.n_test, "--n-test", 2),
        device=resolve_device(args.device),
        threads=single_int(args.threads, "--threads", 1, 1024)
        if args.threads
        else None,
    )


def handle(args: argparse.Namespace) -> int:
    specs = build_plan(args)
    settings = engine_settings(args)
    jobs = jobs_for(specs, timeout=settings.timeout, memory_limit=settings.memory_limit)
    path = default_path(args.store)
    check_writable(path)
    if args.dry_run:
        print(render(plan_rows(jobs, path, settings), args.format))
        return 0

    _, rows = execute_jobs(jobs, settings, path, quiet=args.quiet)

    if args.format == "json":
        print(render(rows, "json", COLUMN_NAMES))
    elif args.format == "csv":
        print(render(summary_rows(rows), "csv", SUMMARY_COLUMNS))
    else:
        print(header(specs[0]))
        print()
        print(render(summary_rows(rows), args.format, SUMMARY_COLUMNS))
        if args.show_choices:
            print()
            print(render(choices_rows(rows), args.format))
    return 0


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return summarize(rows)


def header(spec: RunSpec) -> str:
    """One line naming the task and its measured level shares."""
    task = registry.build_task(spec.task, spec.task_params)
    line = f"task: {task.label} (version {task.version}), n_test={spec.n_test}"
    shares = task.info().get("level_shares")
    if shares:
        line += "; share of Var(y) per level: " + ", ".join(
            format_number(s) for s in shares
        )
    return line
