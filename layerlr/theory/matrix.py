"""Exact expected surrogate loss of the matrix family for every schedule (SPEC 12).

Under orthogonal init, whitened data, d = h, rho = 0 and an orthogonal target
beta = Q / sqrt(h), the surrogate keeps W1 = W1' W2' f(G) W2'^T and W2 = W2' g(G) with
G = (W1' W2')^T Q Haar orthogonal (W1', W2' the initial weights) and f, g Laurent
polynomials in G; with c_i = eta_i / h^(3/2) each step does, simultaneously,

    f <- f + c1 G g(1/G),   g <- g + c2 f(1/G) G.

From f = g = 1 both stay of the form x0 + x1 G: G (g0 + g1/G) = g1 + g0 G, so a step is
the linear map f0 += c1 g1, f1 += c1 g0, g0 += c2 f1, g1 += c2 f0 (all from the old
values). Then X = f g / h - G / sqrt(h) = x0 + x1 G + x2 G^2 with x0 = f0 g0 / h,
x1 = (f0 g1 + f1 g0) / h - 1 / sqrt(h), x2 = f1 g1 / h, and the loss is tr(X X^T) with
X^T = X(1/G). The Haar moments E tr G^0 = h, E tr G^k = 1 for even k != 0 and 0 for odd
k give

    E[loss] = h (x0^2 + x1^2 + x2^2) + 2 x0 x2.

O(T) arithmetic per schedule, exact for any number of steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def expected_loss(h: int, rates: Tensor) -> Tensor:
    """E[|M - beta|_F^2] after each step. ``rates`` (B, T, 2) -> (B, T), float64.

    +inf where the coefficients overflow float64 (a diverged schedule).
    """
    rates = torch.as_tensor(rates, dtype=torch.float64)
    c = rates / h**1.5  # (B, T, 2)
    b, t_max, _ = rates.shape
    f0, f1 = torch.ones(b, dtype=torch.float64), torch.zeros(b, dtype=torch.float64)
    g0, g1 = f0.clone(), f1.clone()
    out = []
    for t in range(t_max):
        c1, c2 = c[:, t, 0], c[:, t, 1]
        f0, f1, g0, g1 = f0 + c1 * g1, f1 + c1 * g0, g0 + c2 * f1, g1 + c2 * f0
        x0, x2 = f0 * g0 / h, f1 * g1 / h
        x1 = (f0 * g1 + f1 * g0) / h - 1 / math.sqrt(h)
        out.append(h * (x0 * x0 + x1 * x1 + x2 * x2) + 2 * x0 * x2)
    values = torch.stack(out, 1)
    return torch.where(torch.isfinite(values), values, math.inf)
