"""The report's statistics against hand calculations and scipy's own routines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from layerlr.report import stats
from layerlr.report.records import TTest


def test_t_test_is_scipys_one_sample_test():
    x = np.array([0.3, -0.1, 0.45, 0.2, 0.05])
    got = stats.t_test(x)
    want = sp.ttest_1samp(x, 0.0)
    assert got.t == pytest.approx(want.statistic, rel=1e-12)
    assert got.p == pytest.approx(want.pvalue, rel=1e-12)
    assert (got.n, got.df) == (5, 4)
    assert got.se == pytest.approx(x.std(ddof=1) / math.sqrt(5))
    assert stats.t_test(x, decidable=False).p == 1.0  # within rounding: never decided
    assert stats.t_test(x[:1]).p == 1.0  # one seed: no test


def test_vectorised_t_tests_match_the_scalar_one():
    x = np.random.default_rng(0).normal(0.1, 1.0, size=(4, 6))
    mean, se, p = stats.t_tests(x)
    for i in range(4):
        t = stats.t_test(x[i])
        assert (mean[i], se[i], p[i]) == pytest.approx((t.mean, t.se, t.p), rel=1e-12)


def test_interval_is_scipys_t_interval():
    x = np.array([1.0, 1.4, 0.7, 1.1])
    lo, hi = stats.interval(stats.t_test(x), 0.95)
    want = sp.t.interval(0.95, 3, loc=x.mean(), scale=sp.sem(x))
    assert (lo, hi) == pytest.approx(want, rel=1e-12)


def test_holm_on_hand_made_p_values():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 -> max 0.06
    adjusted, corr = stats.holm(np.array([0.01, 0.04, 0.03, 0.005]), q=0.05)
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert (corr.m, corr.findings) == (4, 2)
    assert corr.cutoff == pytest.approx(0.05 / 3)  # the findings are p <= q / (m - R + 1)
    assert corr.next_cutoff == pytest.approx(0.05 / 2)
    adjusted, corr = stats.holm(np.array([0.001, 0.03, 0.013]), q=0.05)
    np.testing.assert_allclose(adjusted, [0.003, 0.03, 0.026])  # 0.013 * 2, then max(.., 0.03)
    assert corr.findings == 3
    # the step-down stops at the first test that fails (0.02 * 3 > 0.05), even though the
    # last alone would pass (0.04 * 1)
    adjusted, corr = stats.holm(np.array([0.04, 0.02, 0.03]), q=0.05)
    np.testing.assert_allclose(adjusted, [0.06, 0.06, 0.06])
    assert corr.findings == 0 and corr.cutoff == 0.0
    assert corr.next_cutoff == pytest.approx(0.05 / 3)


def test_holm_is_the_textbook_step_down():
    """Against a direct loop: reject p_(i) while p_(i) <= q / (m - i + 1)."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = np.concatenate([rng.uniform(size=rng.integers(1, 30)),
                            rng.uniform(0, 1e-3, size=rng.integers(0, 5))])
        order = np.sort(p)
        rejected = 0
        while rejected < len(p) and order[rejected] <= 0.05 / (len(p) - rejected):
            rejected += 1
        adjusted, corr = stats.holm(p)
        assert corr.findings == rejected == int((adjusted <= 0.05).sum())
        assert ((p <= corr.cutoff) == (adjusted <= 0.05)).all()


def test_seeds_needed_by_hand():
    """Effect 1, per-seed sd 2 (so effect/sd = 0.5), at p = 0.01: the smallest S with
    0.5 sqrt(S) >= t_{S-1, 0.995}. From a t table, t_{29} = 2.756 > 0.5 sqrt(30) = 2.739
    and t_{30} = 2.750 <= 0.5 sqrt(31) = 2.784: S = 31."""
    test = TTest(mean=1.0, se=2.0 / math.sqrt(5), n=5, t=math.nan, p=math.nan)
    assert stats.seeds_needed(test, 0.01) == 31
    # effect/sd = 2 at p = 0.05: t_{2} = 4.303 > 2 sqrt(3) = 3.464; t_{3} = 3.182 <= 4: S = 4
    assert stats.seeds_needed(TTest(-2.0, 1.0 / math.sqrt(5), 5, math.nan, math.nan),
                              0.05) == 4
    assert stats.seeds_needed(TTest(0.0, 1.0, 5, 0.0, 1.0), 0.05) is None  # no effect
    assert stats.seeds_needed(TTest(1e-9, 1.0, 5, 0.0, 1.0), 0.05) is None  # beyond reach


def test_cutoff_t_inverts_the_p_value():
    assert stats.cutoff_t(0.05, 5) == pytest.approx(2.7764451, rel=1e-6)  # t_{4, 0.975}
    t = stats.t_test(np.array([1.0, 1.2, 0.9, 1.3, 1.1]))
    assert stats.cutoff_t(t.p, 5) == pytest.approx(abs(t.t), rel=1e-9)
