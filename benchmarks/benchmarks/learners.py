"""asv benchmarks of every registered learner on one small, fixed task.

- ``time_fit`` and ``peakmem_fit``: wall time and peak memory of one fit;
- ``track_test_nmse``: the test NMSE of one complete run at a fixed seed, so a
  change that makes a learner learn worse shows in ``asv compare`` like a
  slowdown does.

The task and the learner settings are small so that a quick run (each benchmark
once) takes well under a minute on 2 cores; networks train for a few hundred
steps. torch runs on one thread for stable timings.
"""

from __future__ import annotations

import torch

from bfcbench import registry
from bfcbench.runner import RunSpec, execute, run_data
from bfcbench.seeding import stream

TASK = "hierarchical"
TASK_PARAMS = {"d": 10, "depth": 2, "width": 2, "gap": 0.5}
N_TRAIN = 1000
N_TEST = 2000
SEED = 0
# Applied to every learner that declares the parameter; others keep defaults.
FAST = {"steps": 600, "eval_every": 50, "width": 32}
LEARNERS = list(registry.learners())


def learner_params(name: str) -> dict:
    declared = {param.name for param in registry.learner_class(name).params}
    return {key: value for key, value in FAST.items() if key in declared}


class Learners:
    """Fit of each learner on the fixed task."""

    params = [LEARNERS]
    param_names = ["learner"]
    number = 1
    repeat = (1, 5, 20.0)
    rounds = 1
    warmup_time = 0.0
    timeout = 300

    def setup(self, learner: str) -> None:
        torch.set_num_threads(1)
        task = registry.build_task(TASK, dict(TASK_PARAMS))
        self.shape = task.shape()
        self.X, self.y, _, _ = run_data(task, N_TRAIN, N_TEST, SEED)

    def _fit(self, learner: str) -> None:
        model = registry.learner_class(learner)(
            seed=stream("init", SEED), **learner_params(learner)
        )
        model.adapt(self.shape)
        model.fit(self.X, self.y)

    def time_fit(self, learner: str) -> None:
        self._fit(learner)

    def peakmem_fit(self, learner: str) -> None:
        self._fit(learner)


class Quality:
    """What each learner learns: test NMSE of a full run at a fixed seed."""

    params = [LEARNERS]
    param_names = ["learner"]
    timeout = 300

    def setup(self, learner: str) -> None:
        torch.set_num_threads(1)

    def track_test_nmse(self, learner: str) -> float:
        spec = RunSpec(
            task=TASK,
            task_params=registry.build_task(TASK, dict(TASK_PARAMS)).values,
            learner=learner,
            learner_params=registry.learner_class(learner)(
                seed=stream("init", SEED), **learner_params(learner)
            ).values,
            n_train=N_TRAIN,
            seed=SEED,
            n_test=N_TEST,
            threads=1,
        )
        row = execute(spec).row
        if row["status"] != "ok":
            raise RuntimeError(f"{learner}: {row['status']}: {row['message']}")
        return row["test_nmse"]

    track_test_nmse.unit = "NMSE"
