"""Feature recovery: how well learned levels explain the target's true levels.

For a network with level representations ``H_l`` (its ``levels(x)`` method) and a
task with ground-truth levels ``G_l`` (``Task.features``), the recovery of level
``l`` is the R² of a linear fit (with intercept) from ``H_l`` to ``G_l`` on
held-out probe inputs: fitted on one half of the probe sample, scored on the
other, pooled over the ``k`` units of ``G_l``. A linear fit ignores rotations and
rescalings of the learned units, so a level that holds the true features in any
basis scores near 1.

This is where backward feature correction shows: in end-to-end training the lower
levels keep improving while the higher levels train; in layerwise training they
are frozen with whatever they had.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bfcbench.seeding import stream
from bfcbench.tasks.base import Task

PROBE_ROWS = 2048

# A tiny ridge keeps the least-squares fit defined when learned units are
# collinear (dead or duplicated units); relative to the mean squared feature.
PROBE_RIDGE = 1e-8


def recovery_r2(learned: np.ndarray, true: np.ndarray) -> float:
    """R² of ``true`` from a linear fit on ``learned``, out of sample.

    Parameters
    ----------
    learned : ndarray of shape (n, m)
    true : ndarray of shape (n, k)

    Returns
    -------
    float
        ``1 - SSE / SST`` on the second half of the rows, pooled over the k
        columns, for the fit made on the first half; can be negative.
    """
    half = len(learned) // 2
    design = np.hstack([np.ones((len(learned), 1)), learned.astype(np.float64)])
    fit, score = design[:half], design[half:]
    gram = fit.T @ fit
    gram[np.diag_indices_from(gram)] += PROBE_RIDGE * np.trace(gram) / len(gram)
    try:
        coef = np.linalg.solve(gram, fit.T @ true[:half])
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(fit, true[:half], rcond=None)[0]
    residual = true[half:] - score @ coef
    total = true[half:] - true[half:].mean(axis=0)
    denominator = float((total**2).sum())
    if not np.isfinite(residual).all() or denominator == 0:
        return float("nan")
    return 1.0 - float((residual**2).sum()) / denominator


class FeatureProbe:
    """Callable that scores a model's levels against a task's true levels.

    Parameters
    ----------
    task : Task
        Must have ground-truth features.
    seed : int
        Run seed; the probe inputs come from their own stream, never from the
        training or test sample.
    """

    def __init__(self, task: Task, seed: int) -> None:
        X, _ = task.sample(PROBE_ROWS, stream("probe", seed))
        self.X = X
        self.true_levels = task.features(X)
        self._tensors: dict[tuple[torch.dtype, str], torch.Tensor] = {}

    def __call__(self, model: nn.Module) -> list[float | None]:
        """R² per true level, from the model level of the same index."""
        parameter = next(model.parameters())
        key = (parameter.dtype, str(parameter.device))
        if key not in self._tensors:
            self._tensors[key] = torch.as_tensor(self.X, dtype=key[0], device=key[1])
        was_training = model.training
        model.eval()
        with torch.no_grad():
            learned = [
                level.cpu().double().numpy()
                for level in model.levels(self._tensors[key])
            ]
        model.train(was_training)
        scores: list[float | None] = []
        for index, true in enumerate(self.true_levels):
            if index >= len(learned):
                scores.append(None)
                continue
            value = recovery_r2(learned[index], true)
            scores.append(value if np.isfinite(value) else None)
        return scores


def curve_rows(
    curve: list[tuple[int, list[float | None]]],
) -> list[tuple[int, int, float | None]]:
    """Flatten ``[(step, [r2 per level])]`` into store rows ``(step, level, r2)``."""
    return [
        (step, level, r2)
        for step, values in curve
        for level, r2 in enumerate(values, start=1)
    ]
