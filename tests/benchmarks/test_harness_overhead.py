"""Overhead of the harness per run, against calling the learner directly.

*Direct* is what a script would do for the numbers of a row: draw the run's
data, build the learner, fit, predict the test and training samples, score.
*Through the harness* is one run of a sweep: the resume check, dispatch to a warm
worker process, the same direct work there, the row's bookkeeping, the transfer
back and the committed store write. The worker process is started before timing:
a sweep starts it once, not once per run.

The ``mean`` case measures the harness alone (its direct work is a fraction of a
millisecond); in the longer cases the overhead is smaller than the noise of a
shared machine, and the two medians mostly show that noise.

With ``--benchmark-disable`` (the default in pyproject.toml) every case runs
once, as a test that the harness gives the numbers of the direct call. For
figures::

    .venv/bin/python -m pytest tests/benchmarks --benchmark-enable \\
        --benchmark-columns=min,median,max,rounds --benchmark-sort=name

The overhead is the difference of the medians of a case's two benchmarks.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from sweep_support import spec

from bfcbench import registry
from bfcbench.engine import Job, ProcessPoolExecutor, run_sweep
from bfcbench.runner import RunSpec, run_data
from bfcbench.seeding import stream
from bfcbench.store import Store

# A run too small to measure anything but the harness, an exact kernel fit, and
# a short network training at the scale of the default comparison.
CASES = {
    "mean": ("mean", {"n_train": 200, "n_test": 200}),
    "kernel-poly": ("kernel-poly", {"n_train": 2000, "n_test": 1000}),
    "deep": ("deep", {"n_train": 2000, "n_test": 1000, "steps": 1000}),
}


def case_spec(case: str) -> RunSpec:
    learner, arguments = CASES[case]
    return spec(learner, **arguments)


@contextmanager
def one_thread():
    """The worker's thread count for the direct call, so the numbers agree."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def direct(run: RunSpec) -> float:
    """Fit and score as a script would, without the harness; the test MSE.

    It computes what a row holds: test and training errors (the training error
    costs a prediction on the training sample).
    """
    task = registry.build_task(run.task, run.task_params)
    X_train, y_train, X_test, y_test = run_data(task, run.n_train, run.n_test, run.seed)
    learner = registry.learner_class(run.learner)(
        seed=stream("init", run.seed), **run.learner_params
    )
    learner.adapt(task.shape())
    learner.fit(X_train, y_train)
    test_mse = float(np.mean((learner.predict(X_test) - y_test) ** 2))
    train_mse = float(np.mean((learner.predict(X_train) - y_train) ** 2))
    return test_mse if np.isfinite(train_mse) else float("nan")


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    path = tmp_path_factory.mktemp("overhead") / "runs.sqlite"
    with ProcessPoolExecutor(1) as executor, Store(path) as store:
        # Start the worker and build the task there before any timing.
        run_sweep([Job(spec("mean", seed=999))], store, executor)
        yield executor, store


@pytest.mark.parametrize("case", list(CASES))
def test_direct_call(benchmark, case):
    run = case_spec(case)
    with one_thread():
        direct(run)  # build the task (cached per process) outside the timing
        test_mse = benchmark(direct, run)
    assert np.isfinite(test_mse)


@pytest.mark.parametrize("case", list(CASES))
def test_through_the_harness(benchmark, harness, case):
    executor, store = harness
    run = case_spec(case)
    job = Job(run, memory_limit=None)
    # force: every round is a real run and a real store write.
    report = benchmark(run_sweep, [job], store, executor, force=True)
    assert report.executed == 1
    (row,) = store.current_rows([run.key()])
    assert row["status"] == "ok" and row["threads"] == 1
    with one_thread():
        assert row["test_mse"] == direct(run)
