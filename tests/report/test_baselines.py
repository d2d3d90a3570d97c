"""The search against its baselines: paired gains by hand, row order, accuracy beside."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from layerlr.report.baselines import baseline_gains


def cell(per_trial, accuracy=None):
    """Rows of one cell: per_trial[trial] = (told value, {step: per-seed losses})."""
    out = []
    for trial, (value, by_step) in enumerate(per_trial):
        for step, seeds in by_step.items():
            out.append({"trial": trial, "step": step, "value": value,
                        "loss_population_seeds": list(seeds),
                        "accuracy": np.nan if accuracy is None else accuracy[trial]})
    return pd.DataFrame(out)


def test_gain_is_the_baselines_loss_minus_the_searchs_paired_over_seeds():
    search = cell([(0.9, {2: [1.0, 1.1, 1.3]}), (0.5, {2: [0.5, 0.4, 0.6]})], [0.5, 0.8])
    single = cell([(0.7, {2: [0.7, 0.9, 0.8]}), (0.8, {2: [0.1, 0.1, 0.1]})], [0.6, 0.9])
    [gain] = baseline_gains([("c", search), ("c-single", single)], "population", 2)
    diffs = np.array([0.7 - 0.5, 0.9 - 0.4, 0.8 - 0.6])  # best by told value: trials 1, 0
    assert (gain.trial, gain.baseline_trial, gain.baseline) == (1, 0, "single")
    assert gain.loss == pytest.approx(0.5) and gain.baseline_loss == pytest.approx(0.8)
    assert gain.gain.mean == pytest.approx(diffs.mean())
    assert gain.gain.se == pytest.approx(diffs.std(ddof=1) / math.sqrt(3))
    assert gain.gain.p == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue)
    assert (gain.accuracy, gain.baseline_accuracy) == (0.8, 0.6)


def test_rows_by_network_then_objective_step_then_baseline_not_by_name():
    cells = []
    for step in (200, 20, 2):  # names sort as obj2 < obj20 < obj200 by luck; 10 < 2 not
        for suffix in ("", "-decay", "-single"):
            cells.append((f"n-obj{step}{suffix}", cell([(1.0, {step: [1.0, 2.0]})])))
    cells.append(("n-obj10", cell([(1.0, {10: [1.0, 2.0]})])))
    cells.append(("n-obj10-single", cell([(1.0, {10: [1.5, 2.0]})])))
    gains = baseline_gains(cells, "population", None)
    assert [(g.step, g.baseline) for g in gains] == [
        (2, "single"), (2, "decay"), (10, "single"), (20, "single"), (20, "decay"),
        (200, "single"), (200, "decay")]
    assert all(math.isnan(g.accuracy) for g in gains)  # regression: no accuracy
