"""Micro-benchmarks of the hot paths, run by pytest-benchmark.

Under the project's default options (``--benchmark-disable``) each runs once as
an ordinary test with its checks; ``--benchmark-enable`` times them (see the
README, "Micro-benchmarks").
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from synthetic import row

from bfcbench.learners._kernel_functions import ntk_kernel, poly_kernel
from bfcbench.learners.networks import LevelNetwork
from bfcbench.store import Store

N_ROWS, D = 2000, 20


@pytest.fixture(autouse=True)
def one_thread():
    """Time on one thread: on a loaded 2-core machine, two torch threads wait on
    each other and the timings scatter by two orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def inputs() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(N_ROWS, D, dtype=torch.float64, generator=generator)


def test_polynomial_kernel_matrix(benchmark, inputs):
    K = benchmark(poly_kernel, inputs, inputs, 3, 1.0)
    assert K.shape == (N_ROWS, N_ROWS)
    # against numpy on a corner of the matrix
    corner = inputs[:50].numpy()
    expected = (corner @ corner.T / D + 1.0) ** 3
    np.testing.assert_allclose(K[:50, :50].numpy(), expected, rtol=1e-12)


def test_relu_ntk_recursion(benchmark, inputs):
    depth = 3
    K = benchmark(ntk_kernel, inputs, inputs, depth, "relu")
    assert K.shape == (N_ROWS, N_ROWS)
    assert torch.allclose(K, K.T, rtol=1e-10, atol=1e-12)
    # On the diagonal the ReLU recursion keeps Sigma_l = |x|^2/d and the
    # derivative kernel is 1, so Theta_L(x, x) = (L + 1) |x|^2 / d.
    squared_norms = (inputs * inputs).sum(dim=1) / D
    torch.testing.assert_close(K.diagonal(), (depth + 1) * squared_norms)


def test_one_training_step_of_the_deep_network(benchmark):
    generator = torch.Generator().manual_seed(0)
    model = LevelNetwork(D, 3, 32, "dense", "none", generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    X = torch.randn(128, D, generator=generator)
    y = torch.randn(128, generator=generator)
    initial = copy.deepcopy(model.state_dict())

    def restore() -> None:
        # Every timed step starts from the same weights: a drifting network
        # (this one fits noise) would time a different computation each round.
        model.load_state_dict(initial)
        optimizer.state.clear()

    def step() -> float:
        residual = model(X) - y
        loss = (residual * residual).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    loss = benchmark.pedantic(step, setup=restore, rounds=50, warmup_rounds=2)
    assert math.isfinite(loss)
    assert any(
        not torch.equal(initial[name], value)
        for name, value in model.state_dict().items()
    )


def test_one_store_write(benchmark, tmp_path):
    values = row("deep", 500, 0, test_nmse=0.25)
    calls = []

    with Store(tmp_path / "runs.sqlite") as store:

        def write() -> int:
            calls.append(1)
            return store.add(values, [(100, 1, 0.5), (100, 2, 0.25)])

        benchmark(write)
        stored = store.runs()
        points = store.curves([r["run_id"] for r in stored])
    assert len(stored) == len(calls) >= 1
    assert stored[-1]["test_nmse"] == 0.25
    assert len(points) == 2 * len(calls)
