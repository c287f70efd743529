"""``bfcbench sweep FILE.toml``: a grid of runs from a sweep file, into the store.

Also the execution options that ``bfcbench run`` shares (``--jobs``,
``--scheduler``, ``--timeout``, ``--memory-limit``, ``--retry-failed``,
``--force``) and :func:`execute_jobs`, the step both commands end with.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bfcbench import engine, sweepfile
from bfcbench.commands.common import add_format, add_store, single_int
from bfcbench.engine import EngineSettings, Job, SweepReport
from bfcbench.errors import ConfigError
from bfcbench.output import render
from bfcbench.progress import Progress
from bfcbench.resources import (
    AUTO,
    available_cores,
    format_size,
    parse_duration,
    parse_size,
)
from bfcbench.store import COLUMN_NAMES, Store, check_writable, default_path
from bfcbench.summary import SUMMARY_COLUMNS, summarize

logger = logging.getLogger(__name__)

SWEEP_COLUMNS = ("task", *SUMMARY_COLUMNS)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "sweep",
        parents=parents,
        help="run the grid of a sweep file (TOML), resuming what is stored",
        description="Run every configuration of a sweep file: tasks x learners x "
        "parameters x n_train x seeds. Configurations already stored are skipped, "
        "so an interrupted sweep resumes where it stopped. See the README's "
        "Sweeps section for the file format.",
    )
    parser.add_argument("file", metavar="FILE.toml", help="the sweep file")
    parser.add_argument(
        "--threads",
        default=None,
        metavar="T",
        help="threads per run (default: the file's threads, else the cores "
        "divided by --jobs, at least 1)",
    )
    add_dry_run(parser)
    add_engine_options(parser)
    add_store(parser)
    add_format(parser, ("table", "markdown", "csv", "json"))
    parser.set_defaults(handler=handle)


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    """``--dry-run``, shared by ``run`` and ``sweep``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would run and what is already stored; run nothing",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The execution options of ``run`` and ``sweep``."""
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--jobs",
        default="1",
        metavar="N",
        help="the most worker processes on this machine (up to 4 per core), each "
        "run with cores/N threads; no more start than there are runs to run; "
        "'auto' for one per core; 0 runs in this process without isolation "
        "(debugging) (default: 1)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler, e.g. tcp://127.0.0.1:8786",
    )
    group.add_argument(
        "--timeout",
        default=None,
        metavar="DURATION",
        help="wall-clock limit of each run, e.g. 90, 90s, 10m, 2h; the run is "
        "stopped at the limit and stored as timeout (default: none)",
    )
    group.add_argument(
        "--memory-limit",
        default=None,
        metavar="SIZE",
        help="memory budget of each run, e.g. 4G or 512M, 'none', or 'auto': "
        "half the machine's memory shared among the worker processes used "
        "(default: auto)",
    )
    group.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the configurations stored as failed, timeout, oom, "
        "diverged or skipped",
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="run every configuration again; earlier rows are kept, marked superseded",
    )


def engine_settings(
    args: argparse.Namespace, sweep: sweepfile.Sweep | None = None
) -> EngineSettings:
    """Check the execution options; the command line wins over the sweep file."""
    jobs_text = str(args.jobs).strip().lower()
    if jobs_text == AUTO:
        jobs = available_cores()
    elif re.fullmatch(r"[0-9]+", jobs_text):
        # The range is checked with the other settings (EngineSettings.check).
        jobs = int(jobs_text)
    else:
        raise ConfigError(
            f"--jobs: got {args.jobs!r}; allowed: {engine.jobs_allowed()}."
        )
    scheduler = args.scheduler
    if scheduler is not None and not re.fullmatch(
        r"[a-z]+://[^\s/]+|[^\s/:]+:\d+", scheduler.strip()
    ):
        raise ConfigError(
            f"--scheduler: got {scheduler!r}; allowed: a scheduler address such as "
            "tcp://127.0.0.1:8786."
        )
    timeout = (
        parse_duration(args.timeout, "--timeout")
        if args.timeout is not None
        else (sweep.timeout if sweep is not None else None)
    )
    if args.memory_limit is not None:
        memory_limit = parse_size(args.memory_limit, "--memory-limit")
    elif sweep is not None:
        memory_limit = sweep.memory_limit
    else:
        memory_limit = AUTO
    threads = (
        single_int(args.threads, "--threads", 1, 1024)
        if getattr(args, "threads", None)
        else (sweep.threads if sweep is not None else None)
    )
    settings = EngineSettings(
        jobs=jobs,
        scheduler=scheduler.strip() if scheduler else None,
        timeout=timeout,
        memory_limit=memory_limit,
        threads=threads,
        retry_failed=args.retry_failed,
        force=args.force,
    )
    settings.check()
    return settings


def execute_jobs(
    jobs: Sequence[Job], settings: EngineSettings, path: Path, quiet: bool = False
) -> tuple[SweepReport, list[dict[str, Any]]]:
    """Run ``jobs`` into the store at ``path``; return the report and the current
    rows of every planned configuration, in plan order.

    Everything that can refuse the command (options, the scheduler's address)
    is checked before the store is opened, so a refused command writes nothing.
    """
    with engine.make_executor(settings) as executor:
        if settings.memory_limit not in (None, AUTO):
            logger.debug("memory limit per run: %s", format_size(settings.memory_limit))
        progress = Progress(enabled=None if not quiet else False)
        with Store(path) as store, progress.attach():
            report = engine.run_sweep(
                jobs,
                store,
                executor,
                retry_failed=settings.retry_failed,
                force=settings.force,
                listener=progress,
            )
            rows = store.current_rows(report.keys)
    logger.info("%s; stored in %s", report.summary(), path)
    return report, rows


def handle(args: argparse.Namespace) -> int:
    sweep = sweepfile.load(args.file)
    settings = engine_settings(args, sweep)
    jobs = engine.jobs_for(
        sweep.specs,
        timeout=settings.timeout,
        memory_limit=settings.memory_limit,
        timeouts=sweep.timeouts,
        threads=settings.threads,
    )
    path = default_path(args.store)
    check_writable(path)
    if args.dry_run:
        print(render(plan_rows(jobs, path, settings), args.format))
        return 0
    _, rows = execute_jobs(jobs, settings, path, quiet=args.quiet)
    if args.format == "json":
        print(render(rows, "json", COLUMN_NAMES))
    else:
        print(render(summarize(rows), args.format, SWEEP_COLUMNS))
    return 0


def plan_rows(
    jobs: Sequence[Job], path: Path, settings: EngineSettings
) -> list[dict[str, Any]]:
    """One row per planned run: what it is, what is stored, what would happen."""
    stored: dict[str, str] = {}
    if path.exists():
        with Store(path, readonly=True) as store:
            stored = store.current_statuses(job.spec.key() for job in jobs)
    todo, _ = engine.pending_from_statuses(
        jobs, stored, settings.retry_failed, settings.force
    )
    will_run = {id(job) for job in todo}
    rows = []
    for job in jobs:
        task, learner = job.spec.labels()
        rows.append(
            {
                "task": task,
                "learner": learner,
                "n_train": job.spec.n_train,
                "seed": job.spec.seed,
                "timeout": job.timeout,
                "stored": stored.get(job.spec.key(), ""),
                "action": "run" if id(job) in will_run else "skip",
            }
        )
    return rows
