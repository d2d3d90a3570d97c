"""The curvature test at the equal split, on losses whose curvature is known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlr.report import curvature


def line_rows(budget: float, u: np.ndarray, losses: np.ndarray, k: int = 2) -> pd.DataFrame:
    """Rows of one diagonal line: eta1 = u B, the rest shared; ``losses`` (points, S)."""
    rows = {"step": 1, "eta1": u * budget, "loss_theory": losses.mean(1),
            "loss_population_seeds": list(losses)}
    for layer in range(2, k + 1):
        rows[f"eta{layer}"] = (1 - u) * budget / (k - 1)
    return pd.DataFrame(rows)


def test_a_parabola_gives_its_second_derivative_seed_by_seed():
    rng = np.random.default_rng(0)
    u = np.arange(1, 20) / 20
    c = rng.normal(-3.0, 0.5, size=7)  # per-seed curvature, d^2L/du^2 = 2 c
    losses = 1.0 + 0.3 * (u[:, None] - 0.5) + c[None, :] * (u[:, None] - 0.5) ** 2
    line = curvature.lines(line_rows(400.0, u, losses), 1)[0]
    got = curvature.measured(line, np.stack(line.rows["loss_population_seeds"]), "float64")
    assert got.mean == pytest.approx(2 * c.mean(), rel=1e-9)
    assert got.se == pytest.approx(2 * c.std(ddof=1) / np.sqrt(7), rel=1e-9)
    assert got.verdict == "maximum"
    assert line.spacing() == pytest.approx(0.1)  # +-1/20 of B around B/2


def test_stencil_brackets_the_equal_split_of_three_layers():
    u = np.arange(1, 20) / 20  # equal split at u = 1/3, between 6/20 and 7/20
    losses = 2.0 + 5.0 * (u[:, None] - 1 / 3) ** 2 * np.ones((1, 3))
    line = curvature.lines(line_rows(40.0, u, losses, k=3), 1)[0]
    assert sorted(line.u[line.stencil()].round(6)) == [0.3, 0.35, 0.4]
    got = curvature.measured(line, np.stack(line.rows["loss_population_seeds"]), "float64")
    assert got.mean == pytest.approx(10.0) and got.verdict == "minimum"  # seeds agree
    assert curvature.exact(line, line.rows["loss_theory"].to_numpy()).verdict == "minimum"


def test_noise_larger_than_the_curvature_is_undecided():
    rng = np.random.default_rng(1)
    u = np.array([0.45, 0.5, 0.55])
    losses = 1.0 + 1e-3 * (u[:, None] - 0.5) ** 2 + rng.normal(0, 1e-3, size=(3, 5))
    line = curvature.lines(line_rows(100.0, u, losses), 1)[0]
    got = curvature.measured(line, losses, "float64")
    assert got.curvature_test.p > curvature.Q and got.verdict == "undecided"


def test_differences_within_float32_rounding_are_undecided():
    u = np.array([0.45, 0.5, 0.55])
    per_seed = np.array([[1.0 + 1.2e-7], [1.0], [1.0 + 1.2e-7]]) * np.ones((1, 5))
    per_seed[:, 1:] += np.linspace(0, 1e-9, 4)  # a tiny, consistent spread: se > 0
    line = curvature.lines(line_rows(100.0, u, per_seed), 1)[0]
    assert curvature.measured(line, per_seed, "float64").verdict == "minimum"
    assert curvature.measured(line, per_seed, "float32").verdict == "undecided"


def test_points_that_do_not_bracket_the_equal_split_make_no_line():
    u = np.array([0.1, 0.2, 0.3])
    assert curvature.lines(line_rows(100.0, u, np.ones((3, 2))), 1) == []


@pytest.mark.parametrize("step,verdicts,expected", [
    (1, ["maximum", "maximum"], "yes"),
    (1, ["maximum", "undecided"], "undecided"),
    (1, ["maximum", "minimum"], "no"),
    (2, ["minimum", "minimum"], "yes"),
    (2, ["maximum", "undecided"], "no"),
    (3, ["minimum"], "yes"),
    (2, [], "undecided"),
    (1, ["sloped", "maximum"], "yes"),  # a slope: the optimum is off the equal split
    (1, ["sloped", "minimum"], "no"),
    (2, ["minimum", "sloped"], "no"),
])
def test_claims_over_budgets(step, verdicts, expected):
    assert curvature.claim(step, verdicts) == expected


def test_a_rest_sweep_is_tested_along_the_split_of_the_later_steps():
    """Step 1 at the equal split for every point, steps >= 2 along the budget: the loss
    after step 2 is a parabola in the step-2 split, the loss after step 1 is flat."""
    u = np.arange(1, 20) / 20
    budget, n = 40.0, len(u)
    step1 = pd.DataFrame({"trial": range(n), "step": 1, "eta1": budget / 2, "eta2": budget / 2,
                          "loss_theory": 0.7})
    step2 = pd.DataFrame({"trial": range(n), "step": 2, "eta1": u * budget,
                          "eta2": (1 - u) * budget, "loss_theory": 0.3 + 2 * (u - 0.5) ** 2})
    rows = pd.concat([step1, step2.sample(frac=1.0, random_state=0)], ignore_index=True)
    assert curvature.swept_step(rows) == 2
    (later,) = curvature.lines(rows, 2)
    assert curvature.exact(later, later.rows["loss_theory"].to_numpy()).mean == \
        pytest.approx(4.0)
    (first,) = curvature.lines(rows, 1)
    np.testing.assert_allclose(first.u, u)  # along the step-2 split, in its order
    assert curvature.exact(first, first.rows["loss_theory"].to_numpy()).verdict == "undecided"


def test_slope_at_the_equal_split_seed_by_seed():
    """A parabola with a tilt: its slope at u = 1/2, per seed, and when it counts."""
    rng = np.random.default_rng(2)
    u = np.arange(1, 20) / 20
    tilt = rng.normal(0.8, 0.05, size=6)  # dL/du at u = 1/2, per seed
    losses = 1.0 + tilt[None, :] * (u[:, None] - 0.5) + 2.0 * (u[:, None] - 0.5) ** 2
    line = curvature.lines(line_rows(400.0, u, losses), 1)[0]
    got = curvature.measured(line, np.stack(line.rows["loss_population_seeds"]), "float64")
    assert got.slope == pytest.approx(tilt.mean(), rel=1e-9)
    assert got.slope_se == pytest.approx(tilt.std(ddof=1) / np.sqrt(6), rel=1e-9)
    assert got.sloped and got.verdict == "minimum"  # convex, but not stationary
    assert got.position == "sloped"
    flat = 1.0 + rng.normal(0, 0.05, size=(1, 6)) * (u[:, None] - 0.5) + (u[:, None] - 0.5) ** 2
    assert not curvature.measured(line, flat, "float64").sloped


def test_the_closed_form_is_sloped_by_the_measured_rule():
    """An exact loss whose vertex lies outside the stencil is sloped, one whose vertex is
    inside it is a minimum (u = 1/2, stencil +-1/20): the same rule as measured losses."""
    u = np.arange(1, 20) / 20
    for tilt, sloped in ((0.5, True), (0.05, False)):  # vertex at u = 1/2 - tilt / 4
        losses = 1.0 + tilt * (u - 0.5) + 2.0 * (u - 0.5) ** 2
        line = curvature.lines(line_rows(400.0, u, losses[:, None]), 1)[0]
        got = curvature.exact(line, line.rows["loss_theory"].to_numpy())
        assert got.mean == pytest.approx(4.0) and got.slope == pytest.approx(tilt)
        assert got.verdict == "minimum" and got.sloped is sloped
        assert got.position == ("sloped" if sloped else "minimum")
