"""Kernel functions in closed form, evaluated block by block in torch.

Inputs enter every kernel through ``x . x' / d``, so kernels stay of order one
whatever the input dimension.

NTK conventions (used by the tests against an empirical NTK): a network of
``depth`` hidden layers of width ``m`` in NTK parameterisation,

    h_1 = W_1 x / sqrt(d),   h_{l+1} = sqrt(c / m) W_{l+1} act(h_l),   f = h_{L+1},

with every weight standard normal, no biases, ``c = 2`` for ReLU and ``c = 1``
for the centred quadratic ``act(s) = (s**2 - 1) / sqrt(2)`` of the target. With
``Sigma_0 = x . x' / d`` and, for a centred Gaussian pair (u, v) of covariance
``[[a, r], [r, b]]`` given by ``Sigma_{l-1}``,

    Sigma_l     = c E[act(u) act(v)],   Sigma_dot_l = c E[act'(u) act'(v)],
    Theta_0     = Sigma_0,              Theta_l     = Theta_{l-1} Sigma_dot_l + Sigma_l,

the infinite-width NTK is ``Theta_L``. ReLU uses the arc-cosine formulas; the
quadratic has ``Sigma_l = (ab + 2 r**2 - a - b + 1) / 2`` and ``Sigma_dot_l = 2 r``.
"""

from __future__ import annotations

import math

import torch

# Rows per block: each temporary of the NTK recursion holds at most this many
# entries (64 MB in float64).
BLOCK_ENTRIES = 8_000_000


def poly_kernel(
    X1: torch.Tensor, X2: torch.Tensor, degree: int, offset: float
) -> torch.Tensor:
    """``(x . x' / d + offset) ** degree``, shape (n1, n2)."""
    K = X1 @ X2.T
    K.div_(X1.shape[1]).add_(offset).pow_(degree)
    return K


def ntk_kernel(
    X1: torch.Tensor, X2: torch.Tensor, depth: int, activation: str
) -> torch.Tensor:
    """Closed-form NTK of a fully connected network, shape (n1, n2).

    Built block by block of rows with in-place updates, so the temporaries stay
    a few blocks in size rather than several (n1, n2) matrices.
    """
    d = X1.shape[1]
    out = torch.empty(len(X1), len(X2), dtype=X1.dtype, device=X1.device)
    diag2 = (X2 * X2).sum(dim=1) / d
    block_rows = max(64, BLOCK_ENTRIES // max(1, len(X2)))
    for start in range(0, len(X1), block_rows):
        rows = slice(start, start + block_rows)
        diag1 = (X1[rows] * X1[rows]).sum(dim=1) / d
        sigma = X1[rows] @ X2.T
        sigma.div_(d)
        out[rows] = _ntk_block(sigma, diag1, diag2, depth, activation)
    return out


def _ntk_block(
    sigma: torch.Tensor,
    diag1: torch.Tensor,
    diag2: torch.Tensor,
    depth: int,
    activation: str,
) -> torch.Tensor:
    theta = sigma.clone()
    for _ in range(depth):
        if activation == "relu":
            # The ReLU recursion keeps the diagonal: c E[relu(u)^2] = a for c = 2.
            norms = torch.outer(diag1, diag2).sqrt_()
            cosine = (sigma / norms.clamp_min(torch.finfo(sigma.dtype).tiny)).clamp_(
                -1.0, 1.0
            )
            angle = torch.arccos(cosine)
            derivative = (math.pi - angle) / math.pi
            sigma = norms * (torch.sin(angle) + (math.pi - angle) * cosine) / math.pi
        elif activation == "quadratic":
            derivative = 2.0 * sigma
            sigma = (
                torch.outer(diag1, diag2)
                + 2.0 * sigma * sigma
                - diag1[:, None]
                - diag2[None, :]
                + 1.0
            ) / 2.0
            diag1 = (3.0 * diag1 * diag1 - 2.0 * diag1 + 1.0) / 2.0
            diag2 = (3.0 * diag2 * diag2 - 2.0 * diag2 + 1.0) / 2.0
        else:
            raise ValueError(
                f"activation: got {activation!r}; allowed: relu, quadratic."
            )
        theta.mul_(derivative).add_(sigma)
    return theta
