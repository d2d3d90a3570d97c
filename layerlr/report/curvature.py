"""Is the equal split a local maximum or minimum of the loss along a budget? (SPEC 8)

Along a diagonal sweep (SPEC 9) the rates of a budget B lie on the line
eta1 + (the other layers) = B at the swept steps: every step in the published sweep,
step 1 or steps >= 2 in first-rest sweeps (the other steps at the equal split). Write
u = eta1 / B at a swept step; equal rates sit at u = 1/K. The loss after any step is
tested along u. The test fits a parabola through the three points nearest u = 1/K, seed
by seed, and takes its second derivative d^2L/du^2 (twice the second divided difference)
and its slope dL/du at u = 1/K. Each is tested against 0 by Student's t over the S seeds
(S - 1 degrees of freedom, two-sided, :mod:`.stats`); a test decides where its p is at
most the cutoff (the study's Holm cutoff, :mod:`.verdicts`):

- "maximum" when the curvature is decided and negative (an unequal split is better),
- "minimum" when it is decided and positive (the equal split is best locally),
- "undecided" otherwise, and also when the second difference is within rounding of the
  losses (float32 runs at small budgets): such a test gets p = 1.

The seeds share their draws across the points of a line, so the per-seed curvature is a
paired comparison: the draw-to-draw variation that moves all points together cancels.
The closed form is tested by the same stencil, exactly (no standard error).

The linear families' expected losses depend on the rates only through symmetric
functions (SPEC 6), so their slope at the equal split is 0; a network whose layers play
different roles (an mlp, real data, unequal layer shapes) may have a slope far from 0.
When the slope is decided and puts the parabola's vertex outside the three points (or
the curvature is undecided), the budget is "sloped": the loss falls to one side of the
equal split, which is then neither a maximum nor a minimum there.

With no curvature and no slope, a budget is called "maximum" or "minimum" with
probability at most cutoff / 2 each and "sloped" at most cutoff (tests/report simulate it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from layerlr.report.records import Curvature, Line
from layerlr.report.stats import Q, t_test

ROUNDING = 8.0  # a second difference below ROUNDING * eps * loss is rounding noise
EPS = {"float32": 2.0**-24, "float64": 2.0**-53}
CLAIMS = {1: "maximum"}  # step 1: equal rates are a maximum; any later step: a minimum
UNDECIDED = "undecided"


def rate_columns(rows: pd.DataFrame) -> list[str]:
    """The eta columns this cell fills (a dataset may hold more for deeper cells)."""
    cols = [c for c in rows.columns if c.startswith("eta") and c[3:].isdigit()]
    return [c for c in sorted(cols, key=lambda c: int(c[3:])) if rows[c].notna().all()]


def swept_step(rows: pd.DataFrame) -> int:
    """The step whose split varies along a sweep: the one with the most distinct eta1
    (the lowest such step; any step of the published sweep, whose steps share rates)."""
    return int(rows.groupby("step")["eta1"].nunique().idxmax())


def lines(rows: pd.DataFrame, step: int) -> list[Line]:
    """The diagonal lines of one cell's rows at ``step``: budgets with >= 3 points that
    bracket the equal split, in budget order. Empty for a study without sweeps."""
    at = rows[rows["step"] == step]
    cols = rate_columns(at)
    sweep = swept_step(rows)
    swept = at[cols]  # the swept step's rates, row by row
    if sweep != step:
        swept = rows[rows["step"] == sweep].set_index("trial")[cols]
        swept = swept.reindex(at["trial"]).set_axis(at.index)
        at = at[swept.notna().all(axis=1)]  # trials that diverged at the swept step
        swept = swept.loc[at.index]
    out = []
    for budget, group in at.groupby(swept.sum(axis=1).round(6), sort=True):
        x = swept.loc[group.index, "eta1"].to_numpy()
        order = np.argsort(x, kind="stable")
        line = Line(float(budget), len(cols), group.iloc[order], x[order])
        if line.stencil() is not None:
            out.append(line)
    return out


def measured(line: Line, per_seed: np.ndarray, dtype: str, cutoff: float = Q) -> Curvature:
    """Curvature and slope of a measured loss, tested over seeds and decided at
    ``cutoff``; ``per_seed`` (points, seeds) in ``line.rows`` order."""
    idx = line.stencil()
    u, values = line.u[idx], per_seed[idx]  # (3,), (3, S)
    curv, slope = stencil_derivatives(u, values, 1.0 / line.layers)  # (S,), (S,)
    rounding = ROUNDING * EPS.get(dtype, EPS["float32"]) * float(np.abs(values).mean())
    half = (u[2] - u[0]) / 2
    c_test = t_test(curv, abs(_second_difference(u, float(curv.mean()))) > rounding)
    g_test = t_test(slope, abs(float(slope.mean())) * half > rounding)
    off = c_test.mean == 0 or abs(g_test.mean / c_test.mean) > half
    return decide(Curvature(c_test.mean, c_test.se, UNDECIDED, g_test.mean, g_test.se,
                            curvature_test=c_test, slope_test=g_test, vertex_off=bool(off)),
                  cutoff)


def decide(c: Curvature, cutoff: float) -> Curvature:
    """A measured curvature's verdict and slope decided at ``cutoff`` (see the module)."""
    if c.curvature_test is None or c.slope_test is None:
        return c
    verdict, sloped = position_rule(np.float64(c.curvature_test.mean),
                                    np.float64(c.curvature_test.p),
                                    np.float64(c.slope_test.p), np.bool_(c.vertex_off), cutoff)
    return dataclasses.replace(c, verdict=str(verdict), sloped=bool(sloped), cutoff=cutoff)


def position_rule(curvature: np.ndarray, curvature_p: np.ndarray, slope_p: np.ndarray,
                  vertex_off: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """The verdict ("maximum" | "minimum" | "undecided") and whether the budget is
    sloped, elementwise over arrays of any one shape (the simulated nulls use it too)."""
    decided = curvature_p <= cutoff
    verdict = np.where(decided, np.where(curvature < 0, "maximum", "minimum"), UNDECIDED)
    sloped = (slope_p <= cutoff) & (~decided | vertex_off)
    return verdict, sloped


def stencil_derivatives(u: np.ndarray, values: np.ndarray,
                        at: float) -> tuple[np.ndarray, np.ndarray]:
    """The parabola through (u_i, values[..., i, :]) for the three positions ``u`` (3,):
    its second derivative and its slope at ``at``. (..., 3, S) -> (..., S), (..., S)."""
    v0, v1, v2 = values[..., 0, :], values[..., 1, :], values[..., 2, :]
    left = (v1 - v0) / (u[1] - u[0])
    right = (v2 - v1) / (u[2] - u[1])
    curv = 2.0 * (right - left) / (u[2] - u[0])
    return curv, left + curv / 2 * (2 * at - u[0] - u[1])


def exact(line: Line, values: np.ndarray) -> Curvature | None:
    """Curvature and slope of the closed form (``values`` per point), decided exactly by
    the same rule as a measured loss, or None where the theory is absent."""
    idx = line.stencil()
    if not np.isfinite(values[idx]).all():
        return None
    u = line.u[idx]
    curv, slope = stencil_derivatives(u, values[idx][:, None], 1.0 / line.layers)
    mean, tilt = float(curv[0]), float(slope[0])
    rounding = ROUNDING * EPS["float64"] * float(np.abs(values[idx]).mean())
    half = (u[2] - u[0]) / 2
    verdict = UNDECIDED  # e.g. a flat line: step 1 of a rest sweep, 0 up to rounding
    if abs(_second_difference(u, mean)) > rounding:
        verdict = "maximum" if mean < 0 else "minimum"
    off = mean == 0 or abs(tilt / mean) > half
    sloped = abs(tilt) * half > rounding and (verdict == UNDECIDED or off)
    return Curvature(mean, None, verdict, tilt, None, bool(sloped), vertex_off=bool(off))


def claim(step: int, verdicts: list[str]) -> str:
    """The SPEC 8 claim of ``step`` over a cell's budgets: "yes" when every budget shows
    it, "no" when any shows the opposite, "undecided" otherwise (or with no budgets).

    ``verdicts`` are :attr:`Curvature.position` values: a "sloped" budget has its optimum
    off the equal split, so it shows step 1's claim (an unequal optimum) and contradicts
    a later step's (an equal one).
    """
    want, against = sides(step)
    if not verdicts:
        return "undecided"
    if against & set(verdicts):
        return "no"
    return "yes" if all(v in want for v in verdicts) else "undecided"


def sides(step: int) -> tuple[set[str], set[str]]:
    """The budget positions that show ``step``'s claim, and those that contradict it."""
    if CLAIMS.get(step) == "maximum":
        return {"maximum", "sloped"}, {"minimum"}
    return {"minimum"}, {"maximum", "sloped"}


def claim_text(step: int) -> str:
    return f"step-{step} optimum " + ("unequal" if CLAIMS.get(step) == "maximum" else "equal")


def _second_difference(u: np.ndarray, curvature: float) -> float:
    """The loss change a curvature makes over the stencil: L'' (du)^2 / 2."""
    return curvature * ((u[2] - u[0]) / 2) ** 2 / 2
