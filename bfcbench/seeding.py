"""Seed streams.

The target of a task is drawn from its task seed; the training sample, the test
sample and the learner's initialisation each draw from their own stream derived
from the run seed. Learners compared at the same (task seed, run seed) therefore
see the same data, and a learner's random initialisation never shifts the data.

Samples are drawn in fixed-size blocks, block ``b`` from its own child stream, so
the sample of size ``n1`` is exactly the first ``n1`` rows of the sample of size
``n2 > n1`` whatever the generator does inside a block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Added to every stream's entropy so that seed 0 of bfcbench is not seed 0 of
# everybody else's numpy code.
_SALT = 0xBFC

PURPOSES = {"target": 0, "reference": 1, "train": 2, "test": 3, "init": 4, "probe": 5}

BLOCK_ROWS = 1024


def stream(purpose: str, seed: int) -> np.random.SeedSequence:
    """The seed sequence of one purpose.

    Parameters
    ----------
    purpose : {"target", "reference", "train", "test", "init", "probe"}
        What the stream is for; ``target`` and ``reference`` take the task seed,
        the others the run seed (``probe`` draws the held-out inputs on which
        feature recovery is measured).
    seed : int
        The task seed or run seed, at least 0.

    Returns
    -------
    numpy.random.SeedSequence
    """
    return np.random.SeedSequence([_SALT, PURPOSES[purpose], int(seed)])


def child(parent: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """The ``index``-th child of a stream, the same however often it is asked for."""
    return np.random.SeedSequence(
        parent.entropy, spawn_key=(*parent.spawn_key, int(index))
    )


def generator(seq: np.random.SeedSequence) -> np.random.Generator:
    """A PCG64 generator on ``seq``."""
    return np.random.Generator(np.random.PCG64(seq))


def integer_seed(seq: np.random.SeedSequence) -> int:
    """A 63-bit integer drawn from ``seq``, for torch generators."""
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def draw_blocked(
    seq: np.random.SeedSequence,
    n_rows: int,
    draw: Callable[[np.random.Generator, int], np.ndarray],
) -> np.ndarray:
    """Draw ``n_rows`` rows block by block so that samples are nested.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        The stream; block ``b`` uses its child ``b``.
    n_rows : int
        How many rows to return.
    draw : callable
        ``draw(rng, m)`` returns an array whose first axis has length ``m``.

    Returns
    -------
    ndarray of shape (n_rows, ...)
    """
    blocks = []
    for index, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        rows = min(BLOCK_ROWS, n_rows - start)
        # Always draw a whole block and cut it: the rows of a block then do not
        # depend on how many of them were asked for.
        blocks.append(draw(generator(child(seq, index)), BLOCK_ROWS)[:rows])
    if not blocks:
        return draw(generator(child(seq, 0)), 0)
    return np.concatenate(blocks, axis=0)
