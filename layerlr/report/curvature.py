"""Is the equal split a local maximum or minimum of the loss along a budget? (SPEC 8)

Along a diagonal sweep (SPEC 9) the rates of a budget B lie on the line
eta1 + (the other layers) = B at the swept steps: every step in the published sweep,
step 1 or steps >= 2 in first-rest sweeps (the other steps at the equal split). Write
u = eta1 / B at a swept step; equal rates sit at u = 1/K. The loss after any step is
tested along u. The test
fits a parabola through the three points nearest u = 1/K, seed by seed, and takes its
second derivative d^2L/du^2 (twice the second divided difference). Its mean over seeds
and the standard error of that mean decide:

- "maximum" when the mean is below -Z standard errors (an unequal split is better),
- "minimum" when it is above +Z standard errors (the equal split is best locally),
- "undecided" otherwise, and also when the second difference is within rounding of the
  losses (float32 runs at small budgets).

The seeds share their draws across the points of a line, so the per-seed curvature is a
paired comparison: the draw-to-draw variation that moves all points together cancels.
The closed form is tested by the same stencil, exactly (no standard error).

The same parabola gives the slope dL/du at the equal split. The linear families' expected
losses depend on the rates only through symmetric functions (SPEC 6), so their slope
there is 0; a network whose layers play different roles (an mlp, real data) may have a
slope many standard errors from 0. When that slope puts the parabola's vertex outside
the three points (or the curvature is undecided), the budget is "sloped": the loss falls
to one side of the equal split, which is then neither a maximum nor a minimum there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

Z = 3.0  # standard errors needed for a verdict
ROUNDING = 8.0  # a second difference below ROUNDING * eps * loss is rounding noise
EPS = {"float32": 2.0**-24, "float64": 2.0**-53}
CLAIMS = {1: "maximum"}  # step 1: equal rates are a maximum; any later step: a minimum


@dataclass(frozen=True)
class Curvature:
    """d^2L/du^2 at the equal split: mean over seeds, its standard error, the verdict;
    and the slope dL/du there (mean and standard error over seeds)."""

    mean: float
    se: float | None  # None for the closed form (exact)
    verdict: str  # "maximum" | "minimum" | "undecided"
    slope: float = math.nan
    slope_se: float | None = None
    sloped: bool = False  # the slope puts the extremum off the stencil (see measured)

    @property
    def position(self) -> str:
        """What the budget shows of the equal split: "sloped" (no stationary point: the
        optimum lies to one side) or the curvature's verdict."""
        return "sloped" if self.sloped else self.verdict


@dataclass(frozen=True)
class Line:
    """The points of one budget at one step, sorted by u = eta1/B of the swept step.

    ``rows``: the Parquet rows at the step; ``x``: eta1 of the swept step, per row.
    """

    budget: float
    layers: int
    rows: pd.DataFrame
    x: np.ndarray

    @property
    def u(self) -> np.ndarray:
        return self.x / self.budget

    def stencil(self) -> np.ndarray | None:
        """Positions (in ``rows``) of the three points nearest the equal split, sorted
        by u, or None when they do not bracket it."""
        u, equal = self.u, 1.0 / self.layers
        if len(u) < 3:
            return None
        near = np.sort(np.argsort(np.abs(u - equal), kind="stable")[:3])
        return near if u[near[0]] <= equal <= u[near[-1]] else None

    def spacing(self) -> float:
        """Half the stencil's width in eta1, relative to the equal rate B/K."""
        u = self.u[self.stencil()]
        return (u[2] - u[0]) / 2 * self.layers


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


def measured(line: Line, per_seed: np.ndarray, dtype: str) -> Curvature:
    """Curvature of a measured loss; ``per_seed`` (points, seeds) in ``line.rows`` order."""
    idx = line.stencil()
    u, values = line.u[idx], per_seed[idx]  # (3,), (3, S)
    c = _second_derivative(u, values)  # (S,)
    mean, se = _mean_se(c)
    slope, slope_se = _mean_se(_first_derivative(u, values, 1.0 / line.layers))
    rounding = ROUNDING * EPS.get(dtype, EPS["float32"]) * float(np.abs(values).mean())
    half = (u[2] - u[0]) / 2
    verdict = "undecided"
    if abs(_second_difference(u, mean)) > rounding and np.isfinite(se):
        verdict = _sign_verdict(mean, Z * se)
    # sloped: a slope beyond noise and rounding whose parabola's vertex, u - slope/curvature,
    # is not within the stencil: at the grid's resolution the extremum is elsewhere
    sloped = (abs(slope) > Z * slope_se and abs(slope) * half > rounding
              and (verdict == "undecided" or abs(slope / mean) > half))
    return Curvature(mean, se, verdict, slope, slope_se, bool(sloped))


def exact(line: Line, values: np.ndarray) -> Curvature | None:
    """Curvature of the closed form (``values`` per point), or None where it is absent."""
    idx = line.stencil()
    if not np.isfinite(values[idx]).all():
        return None
    u = line.u[idx]
    mean = float(_second_derivative(u, values[idx][:, None])[0])
    rounding = ROUNDING * EPS["float64"] * float(np.abs(values[idx]).mean())
    if abs(_second_difference(u, mean)) <= rounding:  # e.g. a flat line: step 1 of a rest
        return Curvature(mean, None, "undecided")  # sweep, zero up to float64 rounding
    return Curvature(mean, None, _sign_verdict(mean, 0.0))


def claim(step: int, verdicts: list[str]) -> str:
    """The SPEC 8 claim of ``step`` over a cell's budgets: "yes" when every budget shows
    it, "no" when any shows the opposite, "undecided" otherwise (or with no budgets).

    ``verdicts`` are :attr:`Curvature.position` values: a "sloped" budget has its optimum
    off the equal split, so it shows step 1's claim (an unequal optimum) and contradicts
    a later step's (an equal one).
    """
    want = {"maximum", "sloped"} if CLAIMS.get(step) == "maximum" else {"minimum"}
    against = {"minimum"} if CLAIMS.get(step) == "maximum" else {"maximum", "sloped"}
    if not verdicts:
        return "undecided"
    if against & set(verdicts):
        return "no"
    return "yes" if all(v in want for v in verdicts) else "undecided"


def claim_text(step: int) -> str:
    return f"step-{step} optimum " + ("unequal" if CLAIMS.get(step) == "maximum" else "equal")


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean over seeds and its standard error (NaN for one seed)."""
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return float(x.mean()), se


def _first_derivative(u: np.ndarray, values: np.ndarray, at: float) -> np.ndarray:
    """The parabola's slope at ``at``: f[u0, u1] + f[u0, u1, u2] (2 at - u0 - u1). -> (S,)."""
    left = (values[1] - values[0]) / (u[1] - u[0])
    return left + _second_derivative(u, values) / 2 * (2 * at - u[0] - u[1])


def _second_derivative(u: np.ndarray, values: np.ndarray) -> np.ndarray:
    """2 f[u0, u1, u2] for (3,) positions and (3, S) values -> (S,)."""
    left = (values[1] - values[0]) / (u[1] - u[0])
    right = (values[2] - values[1]) / (u[2] - u[1])
    return 2.0 * (right - left) / (u[2] - u[0])


def _second_difference(u: np.ndarray, curvature: float) -> float:
    """The loss change a curvature makes over the stencil: L'' (du)^2 / 2."""
    return curvature * ((u[2] - u[0]) / 2) ** 2 / 2


def _sign_verdict(value: float, margin: float) -> str:
    if value < -margin:
        return "maximum"
    if value > margin:
        return "minimum"
    return "undecided"
