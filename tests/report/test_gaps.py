"""The gap decomposition against hand-computed per-seed differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from layerlr.report.gaps import gaps


def rows(theory):
    """Two trials, three seeds, step 1; per-seed losses chosen by hand."""
    emp = [[1.0, 1.2, 1.1], [2.0, 2.1, 2.3]]
    pop = [[0.9, 1.0, 1.0], [1.8, 2.0, 2.0]]
    sur = [[0.8, 0.9, 1.0], [1.5, 1.8, 1.9]]
    return pd.DataFrame({"step": [1, 1], "loss_theory": theory,
                         "loss_empirical_seeds": emp, "loss_population_seeds": pop,
                         "loss_surrogate_seeds": sur})


def mean_se(per_seed):
    x = np.asarray(per_seed)
    return x.mean(), x.std(ddof=1) / math.sqrt(3)


def test_three_parts_with_their_standard_errors_sum_to_the_total():
    g = gaps(rows([0.85, 1.6]), 1)
    # test noise per seed: mean over trials of emp - pop = (0.1+0.2)/2, (0.2+0.1)/2, (0.1+0.3)/2
    for part, per_seed in (("test noise", [0.15, 0.15, 0.2]),
                           ("self-interaction", [0.2, 0.15, 0.05]),
                           ("finite width", [-0.075, 0.125, 0.225])):
        mean, se = mean_se(per_seed)
        assert g.parts[part].mean == pytest.approx(mean) and g.parts[part].se == pytest.approx(se)
    assert g.total.mean == pytest.approx(sum(p.mean for p in g.parts.values()))
    assert g.trials == 2


def test_without_a_closed_form_only_the_measured_parts():
    g = gaps(rows([float("nan"), float("nan")]), 1)
    assert g.total is None and g.parts["finite width"] is None
    assert g.parts["test noise"].mean == pytest.approx(np.mean([0.15, 0.15, 0.2]))


def test_trials_without_a_closed_form_are_left_out_when_others_have_one():
    g = gaps(rows([float("nan"), 1.6]), 1)
    assert g.trials == 1
    assert g.parts["self-interaction"].mean == pytest.approx(np.mean([0.3, 0.2, 0.1]))
