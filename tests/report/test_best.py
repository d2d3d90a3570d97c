"""Best schedules (both rules) and the width-scaling fit, against hand values and numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from layerlr.report.best import Best, best_schedules, carry_over, width_scaling


def frame(schedules, losses, values):
    """One row per (trial, step); schedules[trial][step] = (eta1, eta2)."""
    out = []
    for trial, (schedule, loss, value) in enumerate(zip(schedules, losses, values)):
        for step, (rates, mean) in enumerate(zip(schedule, loss), start=1):
            out.append({"trial": trial, "step": step, "depth": 2, "width": 100,
                        "eta1": rates[0], "eta2": rates[1], "loss_population": mean,
                        "loss_population_se": mean / 10, "value": value})
    return pd.DataFrame(out)


def test_fixed_rates_best_after_each_step_separately():
    sched = [[(30, 10)] * 2, [(20, 20)] * 2]
    best = best_schedules("c", frame(sched, [(0.5, 0.4), (0.6, 0.3)], [0.4, 0.3]),
                          "population", 2.0)
    assert [(b.step, b.trial, b.rates) for b in best] == [(1, 0, (30, 10)), (2, 1, (20, 20))]
    assert best[0].alpha == pytest.approx(math.log(40 / 2) / math.log(100))
    assert best[0].imbalance == 3 and best[1].imbalance == 1


def test_varying_rates_one_best_trial_by_objective():
    sched = [[(30, 10), (20, 20)], [(10, 10), (5, 30)]]
    best = best_schedules("c", frame(sched, [(0.5, 0.2), (0.1, 0.3)], [0.2, 0.3]),
                          "population", 2.0)
    assert [(b.step, b.trial, b.rates) for b in best] == [(1, 0, (30, 10)), (2, 0, (20, 20))]


def fake_best(width, alpha, depth=2, step=1):
    return Best("c", depth, width, step, 0, 0.1, 0.01, (1.0, 1.0), 2.0, alpha)


def test_slope_of_an_exact_line_and_its_zero_error():
    rows = width_scaling([fake_best(w, 1.2 + 0.05 * math.log2(w)) for w in (64, 128, 256, 512)])
    assert rows[0].slope == pytest.approx(0.05) and rows[0].se == pytest.approx(0, abs=1e-12)


def test_slope_and_error_agree_with_numpy_least_squares():
    widths, alphas = [32, 64, 128, 256], [1.31, 1.28, 1.35, 1.33]
    rows = width_scaling([fake_best(w, a) for w, a in zip(widths, alphas)])
    coef, cov = np.polyfit(np.log2(widths), alphas, 1, cov=True)
    assert rows[0].slope == pytest.approx(coef[0])
    assert rows[0].se == pytest.approx(cov[0, 0] ** 0.5)


def test_two_widths_give_a_slope_without_error_one_width_nothing():
    rows = width_scaling([fake_best(64, 1.0), fake_best(128, 1.1), fake_best(64, 1.0, depth=3)])
    assert len(rows) == 1 and rows[0].slope == pytest.approx(0.1) and rows[0].se is None


def test_winners_of_each_objective_step_measured_at_the_other():
    """Two cells of one network searched for steps 1 and 2: hand-made per-seed losses."""
    def rows(values, per_seed):
        out = []
        for trial, (value, losses) in enumerate(zip(values, per_seed)):
            for step, seeds in enumerate(losses, start=1):
                out.append({"trial": trial, "step": step, "value": value,
                            "loss_population_seeds": seeds})
        return pd.DataFrame(out)

    first = rows([0.5, 0.6], [([0.5, 0.5], [0.9, 0.7]), ([0.6, 0.6], [0.2, 0.2])])
    second = rows([0.4, 0.3], [([0.7, 0.7], [0.4, 0.4]), ([0.8, 0.8], [0.3, 0.3])])
    out = {(c.winner_of, c.step): c for c in carry_over(
        [("relu-digits-L3-h8-obj1", first), ("relu-digits-L3-h8-obj2", second),
         ("L3-h8", first)], "population")}
    assert set(out) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert out[1, 2].cell == "relu-digits-L3-h8" and out[1, 2].trial == 0
    assert out[1, 2].loss == pytest.approx(0.8) and out[1, 2].se == pytest.approx(0.1)
    assert out[1, 2].gap == pytest.approx(0.5) and out[1, 2].gap_se == pytest.approx(0.1)
    assert out[2, 1].trial == 1 and out[2, 1].gap == pytest.approx(0.3)
    assert out[2, 2].gap == 0 and out[1, 1].gap == 0
