"""How far a measured loss is from the closed form, and why (SPEC 5, 6).

For one cell and step, the gap between the measured empirical loss and the closed form
telescopes into three parts, each a difference of losses of the same seed:

    empirical - theory = (empirical - population)   test-set noise
                       + (population - surrogate)   self-interaction (GD vs signal-only)
                       + (surrogate - theory)       finite-width fluctuation

Each part is averaged over the cell's trials seed by seed, and reported as the mean over
seeds with the standard error of that mean (and its t interval, :mod:`.stats`). Trials
without a closed form (SPEC 6: absent) are left out when the cell has any with one;
otherwise only the first two parts exist.

Across widths, :func:`gap_fits` fits |gap| = c h^b by weighted least squares of log|gap|
on log h (weights from each gap's standard error), to read off how a gap scales.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from layerlr.report.data import network, seed_values
from layerlr.report.records import CellReport, Estimate, GapFit, Gaps

PARTS = ("test noise", "self-interaction", "finite width")
FIT_T = 2.0  # a width's gap enters a fit only when |mean| >= FIT_T se (log|gap| is then
# roughly normal with standard deviation se / |gap| <= 1 / FIT_T)


def gaps(rows: pd.DataFrame, step: int) -> Gaps | None:
    """The gap decomposition of a cell's usable rows at ``step`` (None without rows)."""
    at = rows[rows["step"] == step]
    with_theory = at[at["loss_theory"].notna()]
    at = with_theory if len(with_theory) else at
    if at.empty:
        return None
    emp, pop, sur = (seed_values(at, f"loss_{n}") for n in ("empirical", "population",
                                                            "surrogate"))  # (trials, S)
    parts: dict[str, Estimate | None] = {"test noise": _over_seeds(emp - pop),
                                         "self-interaction": _over_seeds(pop - sur),
                                         "finite width": None}
    total = None
    if len(with_theory):
        theory = at["loss_theory"].to_numpy()[:, None]
        parts["finite width"] = _over_seeds(sur - theory)
        total = _over_seeds(emp - theory)
    return Gaps(step, len(at), parts, total)


def gap_fits(cells: list[CellReport]) -> list[GapFit]:
    """Per network, depth, step and part measured at two or more widths, every one of
    them of one sign and at least FIT_T standard errors from 0: the fit of |gap| = c h^b."""
    found: dict[tuple[str, int, int, str], list[tuple[int, Estimate]]] = {}
    for c in cells:
        for g in c.gaps:
            named = {**g.parts, "total": g.total}
            for part, e in named.items():
                if e is not None and math.isfinite(e.mean):
                    found.setdefault((network(c.cell), c.depth, g.step, part), []).append(
                        (c.width, e))
    out = []
    for (net, depth, step, part), points in sorted(found.items()):
        points.sort(key=lambda p: p[0])
        means = np.array([e.mean for _, e in points])
        ses = np.array([e.se for _, e in points])
        if (len(points) < 2 or len({w for w, _ in points}) < len(points)
                or not (np.all(means > 0) or np.all(means < 0))
                or not np.all(np.abs(means) >= FIT_T * ses) or not np.all(ses > 0)):
            continue
        widths = tuple(w for w, _ in points)
        b, se, chi2 = power_fit(np.log(widths), np.log(np.abs(means)), ses / np.abs(means))
        out.append(GapFit(net, depth, step, part, widths, b, se, chi2))
    return out


def power_fit(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> tuple[float, float, float]:
    """Weighted least squares y = a + b x with known standard deviations ``sigma``:
    b, its standard error 1 / sqrt(sum w (x - xbar_w)^2), and the residual chi^2 per
    degree of freedom sum w r^2 / (n - 2) (NaN for two points). All (n,)."""
    w = 1.0 / sigma**2
    xbar, ybar = (w * x).sum() / w.sum(), (w * y).sum() / w.sum()
    sxx = (w * (x - xbar) ** 2).sum()
    b = float((w * (x - xbar) * (y - ybar)).sum() / sxx)
    residual = y - ybar - b * (x - xbar)
    dof = len(x) - 2
    chi2 = float((w * residual**2).sum() / dof) if dof > 0 else math.nan
    return b, float(1.0 / math.sqrt(sxx)), chi2


def _over_seeds(diff: np.ndarray) -> Estimate:
    """(trials, S) differences -> mean over trials per seed -> mean and SE over seeds."""
    per_seed = diff.mean(axis=0)
    n = len(per_seed)
    se = per_seed.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return Estimate(float(per_seed.mean()), float(se), n)
