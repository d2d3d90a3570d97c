"""The losses of the dynamics in float32 at small values, against float64 on the full data."""

from __future__ import annotations

import pytest
import torch

from layerlr import Setting, constant, evaluate
from layerlr.families.linear.draws import from_raw, raw_draws
from layerlr.families.linear.forward import Forward
from layerlr.families.matrix.dynamics import MatrixDynamics, right_mul
from layerlr.families.readout.dynamics import ReadoutDynamics

SETTINGS = [  # noise-free; noisy labels that the fit interpolates (n = d), both families
    Setting(family="matrix", width=16),
    Setting(family="matrix", width=16, init="gaussian", data="gaussian", target="gaussian",
            noise=0.1),
    Setting(family="readout", depth=3, width=16, data="gaussian", noise=0.1),
]


def reference(raw: dict, m: torch.Tensor) -> dict[str, float]:
    """The SPEC 2 losses of the end-to-end map ``m`` (d, o), float64, on the full data."""
    x, beta, x_test = (raw[k].double() for k in ("x", "beta", "x_test"))
    y = x @ beta + raw["noise"].double()
    m = m.double()
    return {"train": float((x @ m - y).square().sum() / (2 * x.shape[0])),
            "population": float((m - beta).square().sum()),
            "empirical": float((x_test @ (m - beta)).square().sum(1).mean())}


def engine(setting: Setting, raw: dict, m: torch.Tensor) -> dict[str, float]:
    """The engine's losses of ``m`` in float32, from the Forward its dynamics would make."""
    dr = from_raw([raw], "cpu", torch.float32)
    if setting.family == "matrix":
        mt = m.mT.contiguous()[None, None]  # M^T, (1, 1, h, d)
        fwd = Forward(mt, right_mul(mt, dr.sigma) - dr.c.mT[:, None],
                      dr.test_root[:, None] @ m[None, None])
        losses = MatrixDynamics().losses(dr, fwd)
    else:
        u = m[:, 0][None, None]  # (1, 1, d)
        fwd = Forward(u, (dr.sigma @ u.mT).mT - dr.c[:, None, :, 0])
        losses = ReadoutDynamics().losses(dr, fwd)
    return {k: v.item() for k, v in losses.items()}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s.family}-noise{s.noise}")
def test_float32_losses_near_the_least_squares_fit_are_accurate(setting):
    """Near the fit the train loss is ~delta^2 while |M|^2 and |y|^2/n are ~1: expanding the
    square loses every digit in float32 (and goes negative); computed from differences,
    each loss keeps its relative accuracy."""
    raw = raw_draws(setting, 7, "native", "cpu", torch.float32)
    x, y = raw["x"].double(), raw["x"].double() @ raw["beta"].double() + raw["noise"].double()
    fit = torch.linalg.lstsq(x, y).solution.float()  # (d, o), independent of the engine's
    direction = torch.randn(fit.shape, generator=torch.Generator().manual_seed(0))
    direction /= direction.norm()
    for delta in (1e-3, 1e-4):
        m = fit + delta * direction
        got, want = engine(setting, raw, m), reference(raw, m)
        for name in want:
            assert got[name] >= 0, (name, delta)
            assert abs(got[name] - want[name]) <= 2e-3 * want[name], (name, delta, got, want)
    assert engine(setting, raw, fit)["train"] >= 0  # at the fit: zero up to rounding


def test_many_float32_steps_keep_losses_nonnegative_and_near_float64():
    """The issue's case: 30 steps of matrix h = 16 in float32 went to -6e-7; readout train
    losses near 1e-6 were off by 3e-2. The float64 run from the same draws is the reference."""
    cases = [(Setting(family="matrix", width=16), [[20.0, 80.0], [30.0, 30.0]], False),
             (Setting(family="readout", depth=3, width=16, target="sphere"), [[2.0, 6.0]], True)]
    for setting, rates, compare in cases:
        raws = [raw_draws(setting, seed, "native", "cpu", torch.float32) for seed in (0, 1)]
        schedules = constant(torch.tensor(rates), 30)
        low, high = (evaluate(setting, schedules, [0, 1], draws=from_raw(raws, "cpu", dt),
                              surrogate=False) for dt in (torch.float32, torch.float64))
        for name in ("train", "population", "empirical"):
            assert (low.losses[name] >= 0).all(), (setting.family, name)
            if compare:  # a trajectory that float32 follows (matrix GD here drifts apart)
                want = high.losses[name]
                small = want >= 1e-7
                assert small.sum() > 10 and want.min() < 1e-8
                err = (low.losses[name] - want).abs()[small] / want[small]
                assert err.max() <= 1e-2, (name, err.max())
