"""The report's statistics: t-tests over seeds, the study-level correction, seeds needed.

Every measured effect in a report (a curvature or slope at the equal split, a gap) is a
mean over seeds of per-seed values that share the seed's draws (paired). Its test is
Student's t with S - 1 degrees of freedom, two-sided; its interval the t interval.

Why Student's t and not a bootstrap: with 5 seeds a percentile bootstrap has only 126
distinct resamples and, under a simulated null, rejects about twice as often as its
level; a sign-flip permutation test cannot reject at 5% at all (its smallest two-sided p
is 2/32). The t-test keeps its level for normal per-seed values and is conservative for
symmetric heavy-tailed ones (``benchmarks/verdict_null.py`` prints the simulation). Skew
is its weak point (and the bootstrap's): at skewness 1, as measured per-seed values reach,
it rejects up to about twice its level at the small cutoffs a correction sets.

The study-level correction is Holm's step-down over all of a study's tests (see
:func:`holm`): the probability that the report holds any false finding is at most Q,
whatever the dependence between the tests (they share seeds). Benjamini-Hochberg would
bound only the expected share of false tests among the findings, which does not carry
over to the report's claims: a cell's "no" is a union of up to six tests, and at the
cutoff BH reached on ``studies/nonlinear-phases.toml`` (p <= 0.03, raised by its many
strong effects) a step-2 "no" over three budgets would be false up to 13% of the time.
Under Holm every claim built from findings inherits the bound. Its price is power (with
5 seeds and ~180 tests a finding needs |t| >~ 10), which ``layerlr confirm`` buys back
with fresh seeds (with 20, |t| >~ 4.4).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from layerlr.report.records import Correction, TTest

Q = 0.05  # the study's family-wise level: P(any false finding) <= Q (Holm)
CONFIDENCE = 0.95  # the intervals' coverage
MAX_SEEDS = 100_000  # seeds_needed gives up beyond this


def t_test(values: np.ndarray, decidable: bool = True) -> TTest:
    """Two-sided one-sample t-test of mean 0 over seeds. ``values`` (S,) per-seed values;
    ``decidable`` False (an effect within rounding) keeps t but sets p = 1."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2 or not np.isfinite(values).all():
        return TTest(mean, math.nan, n, math.nan, 1.0, decidable)
    se = float(values.std(ddof=1) / math.sqrt(n))
    t = mean / se if se > 0 else math.copysign(math.inf, mean) if mean else 0.0
    p = float(2 * stats.t.sf(abs(t), n - 1)) if decidable else 1.0
    return TTest(mean, se, n, float(t), p, decidable)


def t_tests(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`t_test` over the last axis: (..., S) -> mean, se, p of shape (...)."""
    n = values.shape[-1]
    mean = values.mean(-1)
    se = values.std(-1, ddof=1) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(mean / se), n - 1)
    return mean, se, np.where(np.isfinite(p), p, 1.0)


def interval(test: TTest, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The t interval of the mean: mean +- t_{S-1, (1+c)/2} se (NaN below two seeds)."""
    if test.n < 2 or not math.isfinite(test.se):
        return math.nan, math.nan
    half = float(stats.t.isf((1 - confidence) / 2, test.n - 1)) * test.se
    return test.mean - half, test.mean + half


def holm(p: np.ndarray, q: float = Q) -> tuple[np.ndarray, Correction]:
    """Holm's step-down over ``p`` (m,) at family-wise level q: the adjusted p-values (a
    test is a finding when its adjusted p <= q) and the :class:`Correction`, whose cutoff
    q / (m - R + 1) decides the same findings from the raw p-values (R findings).

    Adjusted: max over j <= i of min(1, (m - j + 1) p_(j)), p_(1) <= ... <= p_(m).
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy(), Correction(q, 0, 0)
    order = np.argsort(p, kind="stable")
    scaled = (p[order] * (m - np.arange(m))).clip(max=1.0)
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out, Correction(q, m, int((out <= q).sum()))


def cutoff_t(p: float, seeds: int) -> float:
    """|t| at which a two-sided test with ``seeds`` - 1 degrees of freedom has p = ``p``."""
    return float(stats.t.isf(p / 2, seeds - 1)) if seeds > 1 else math.inf


def seeds_needed(test: TTest, p: float) -> int | None:
    """Fresh seeds at which the observed effect and spread would give p <= ``p``: the
    smallest S >= 2 with |mean| / sd sqrt(S) >= t_{S-1}(p) (sd = se sqrt(n), the
    per-seed standard deviation). A plug-in estimate: with that many seeds a rerun
    decides the effect about half of the time if the observed effect is the true one.
    None without an estimate (one seed, zero effect) or beyond MAX_SEEDS."""
    if test.n < 2 or not (math.isfinite(test.se) and test.se > 0) or test.mean == 0:
        return None
    ratio = abs(test.mean) / (test.se * math.sqrt(test.n))  # effect / per-seed sd

    def decides(s: int) -> bool:  # monotone in s: sqrt(s) grows, t_{s-1}(p) falls
        return ratio * math.sqrt(s) >= cutoff_t(p, s)

    if not decides(MAX_SEEDS):
        return None
    low, high = 1, MAX_SEEDS  # decides(high); not decides(low) (one seed: no test)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if decides(mid) else (mid, high)
    return high
