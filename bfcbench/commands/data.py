"""``bfcbench data``: export a run's training and test samples to a .npz file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from bfcbench.commands.common import add_task, make_task, single_int
from bfcbench.errors import ConfigError
from bfcbench.runner import DEFAULT_N_TEST, run_data
from bfcbench.tasks.base import Task

logger = logging.getLogger(__name__)


def register(
    commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    parser = commands.add_parser(
        "data",
        parents=parents,
        help="write the samples a run sees to an .npz file, for outside learners",
        description="Write X_train, y_train, X_test and y_test exactly as a run of "
        "this task with this seed sees them, so any outside learner can be scored "
        "on the same data.",
    )
    add_task(parser)
    parser.add_argument("--n", required=True, metavar="N", help="training sample size")
    parser.add_argument(
        "--seed", default="0", metavar="S", help="run seed (default: 0)"
    )
    parser.add_argument(
        "--n-test",
        default=str(DEFAULT_N_TEST),
        metavar="N",
        help=f"test sample size (default: {DEFAULT_N_TEST})",
    )
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="output file")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # As for run: a learner needs two points to split off validation data.
    n_train = single_int(args.n, "--n", 2)
    seed = single_int(args.seed, "--seed", 0)
    n_test = single_int(args.n_test, "--n-test", 2)
    out = Path(args.out)
    if out.suffix != ".npz" or out.is_dir():
        raise ConfigError(
            f"--out: got {args.out!r}; allowed: a file path ending in .npz."
        )
    task = make_task(args)
    export(task, n_train, n_test, seed, out)
    logger.info(
        "%s, seed %d: %d training and %d test samples written to %s",
        task.name,
        seed,
        n_train,
        n_test,
        out,
    )
    return 0


def export(task: Task, n_train: int, n_test: int, seed: int, out: Path) -> None:
    """Write the run's samples and what they are to ``out`` (``.npz``).

    The file holds ``X_train`` (n_train, d), ``y_train`` (n_train,), ``X_test``
    (n_test, d), ``y_test`` (n_test,) and, as 0-d string arrays, ``task``,
    ``task_version``, ``task_params`` (JSON) and ``seed``. It is written to a
    temporary file first and moved into place, so it is never half-written.
    """
    X_train, y_train, X_test, y_test = run_data(task, n_train, n_test, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".npz", dir=out.parent)
    os.close(handle)
    try:
        np.savez(
            temporary,
            X_train=X_train,
            y_train=y_train,
            X_test=X_test,
            y_test=y_test,
            task=np.array(task.name),
            task_version=np.array(str(task.version)),
            task_params=np.array(json.dumps(task.values, sort_keys=True)),
            seed=np.array(str(seed)),
        )
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
