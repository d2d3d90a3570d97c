"""The matrix reduction (SPEC 12) against SPEC 6, a literal Laurent-polynomial
implementation, the Haar trace moments, and Monte Carlo of the engine's surrogate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerlr import Setting
from layerlr.theory import matrix, paper
from theory.montecarlo import first_rest, surrogate


@pytest.mark.parametrize("h", [16, 64, 1000])
def test_equals_spec_6_at_steps_one_and_two(h):
    rates = torch.tensor([[128.0, 128.0], [100.0, 300.0], [400.0, 500.0],
                          [2 * h**1.3, 3 * h**1.2], [h**1.5, h**1.5]], dtype=torch.float64)
    value = matrix.expected_loss(h, rates[:, None].expand(-1, 2, 2))
    p, q = rates.sum(1), rates.prod(1)
    for step, formula in ((1, paper.matrix_one_step), (2, paper.matrix_two_step)):
        torch.testing.assert_close(value[:, step - 1], formula(float(h), p, q), rtol=1e-13,
                                   atol=0)


def laurent_expectation(h: int, rates: np.ndarray) -> list[float]:
    """SPEC 12 as written: f, g as coefficient arrays over powers -P..P of G, the
    simultaneous step f += c1 G g(1/G), g += c2 f(1/G) G, X = f g / h - G / sqrt(h), and
    E tr(X X^T) = h x_0 + sum over even k != 0 of x_k for X X^T = sum x_k G^k."""
    p = len(rates) + 2
    size = 2 * p + 1  # index i holds the power i - p

    def shifted_reverse(x):  # G x(1/G)
        return np.roll(x[::-1], 1)

    f, g = np.zeros(size), np.zeros(size)
    f[p] = g[p] = 1.0
    out = []
    for eta1, eta2 in rates:
        c1, c2 = eta1 / h**1.5, eta2 / h**1.5
        f, g = f + c1 * shifted_reverse(g), g + c2 * shifted_reverse(f)
        x = np.convolve(f, g) / h  # powers -2p..2p
        x[2 * p + 1] -= 1 / np.sqrt(h)
        xx = np.convolve(x, x[::-1])  # X(G) X(1/G): powers -4p..4p, centre 4p
        centre = len(xx) // 2
        even = [xx[centre + k] for k in range(-4 * p, 4 * p + 1) if k and k % 2 == 0]
        out.append(h * xx[centre] + sum(even))
    return out


@pytest.mark.parametrize("h", [3, 7, 100])
def test_equals_the_laurent_polynomials_of_spec_12_over_many_steps(h):
    gen = np.random.default_rng(h)
    rates = gen.uniform(0, 2, size=(4, 8, 2)) * h**1.4
    value = matrix.expected_loss(h, torch.from_numpy(rates))
    expected = torch.tensor([laurent_expectation(h, r) for r in rates], dtype=torch.float64)
    torch.testing.assert_close(value, expected, rtol=1e-11, atol=0)


@pytest.mark.parametrize("h", [3, 4, 5])
def test_haar_trace_moments(h):
    """E tr G^0 = h, E tr G^k = 1 for even k != 0, 0 for odd k (|k| <= 12), by sampling."""
    gen = torch.Generator().manual_seed(h)
    draws = 20_000
    q, r = torch.linalg.qr(torch.randn(draws, h, h, generator=gen, dtype=torch.float64))
    g = q * torch.where(torch.diagonal(r, dim1=-2, dim2=-1) >= 0, 1.0, -1.0)[:, None, :]
    power = torch.eye(h, dtype=torch.float64).expand(draws, h, h)
    for k in range(1, 13):
        power = power @ g
        trace = torch.diagonal(power, dim1=-2, dim2=-1).sum(-1)
        se = trace.std() / draws**0.5
        assert abs(trace.mean() - (1.0 if k % 2 == 0 else 0.0)) < 4 * se, k


def test_an_overflowing_schedule_is_infinite():
    value = matrix.expected_loss(10, torch.tensor([[[1e200, 1e200]] * 3, [[1.0, 1.0]] * 3]))
    assert torch.isinf(value[0, -1]) and torch.isfinite(value[1]).all()


@pytest.mark.slow
def test_theory_matches_monte_carlo_of_the_engines_surrogate():
    """h = 12, four steps: per-step rates and first-rest schedules."""
    setting = Setting(family="matrix", width=12, test_size=1)
    schedules = [[[60, 20], [10, 30], [5, 10], [8, 2]], first_rest([40, 10], [10, 10], 4),
                 [[10, 50], [20, 5], [0, 10], [5, 0]]]
    theory, mean, se = surrogate(setting, schedules, 2000)
    z = (mean - theory) / se
    assert (z.abs() < 4).all(), (theory, z)
