"""The best schedules of each cell, and how their budget exponent moves with width.

Which schedule is "best at step t":

- when the schedules change their rates between steps (phases first-rest, per-step),
  the one trial that minimises the study's objective; its rates at each step are shown;
- when every schedule uses the same rates at every step (diagonal sweeps, phases =
  constant), the trial with the lowest loss after step t, for each t separately: the
  question is then which fixed split is best after one step and after two.

A best schedule's budget exponent is alpha = log(B / c) / log(h) with B the sum of its
rates at that step and c the study's scale (B = c h^alpha, SPEC 8).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from layerlr.report.curvature import rate_columns
from layerlr.report.data import accuracy, network
from layerlr.report.records import Best, CarryOver, Scaling

__all__ = ["Best", "CarryOver", "Scaling", "best_schedules", "budget_exponent", "carry_over",
           "width_scaling"]


def best_schedules(cell: str, rows: pd.DataFrame, objective: str, scale: float) -> list[Best]:
    """One :class:`Best` per step for a cell's usable rows (see the module docstring)."""
    if rows.empty:
        return []
    cols = rate_columns(rows)
    loss = f"loss_{objective}"
    fixed = _same_rates_every_step(rows, cols)
    best_trial = None if fixed else rows.loc[rows["value"].idxmin(), "trial"]
    out = []
    for step, at in rows.groupby("step", sort=True):
        pick = at.loc[at[loss].idxmin()] if fixed else at[at["trial"] == best_trial].iloc[0]
        rates = tuple(float(pick[c]) for c in cols)
        width, budget = int(pick["width"]), sum(rates)
        se = float(pick[f"{loss}_se"]) if f"{loss}_se" in pick else math.nan  # theory: exact
        out.append(Best(cell, int(pick["depth"]), width, int(step), int(pick["trial"]),
                        float(pick[loss]), se, rates, budget,
                        budget_exponent(budget, scale, width),
                        accuracy=accuracy(pick)))
    return out


def budget_exponent(budget: float, scale: float, width: int) -> float:
    """alpha with budget = scale h^alpha (SPEC 8); NaN for a zero budget."""
    return math.log(budget / scale) / math.log(width) if budget > 0 else math.nan


def width_scaling(best: list[Best]) -> list[Scaling]:
    """Per (depth, step) with at least two widths: alpha* per width and the slope of a
    least-squares line alpha* = a + b log2(h)."""
    out = []
    keys = sorted({(network(b.cell), b.depth, b.step) for b in best})
    for net, depth, step in keys:
        points = sorted((b.width, b.alpha) for b in best
                        if (network(b.cell), b.depth, b.step) == (net, depth, step)
                        and math.isfinite(b.alpha))
        if len(points) < 2:
            continue
        widths, alphas = zip(*points)
        slope, se, residual = _fit(np.log2(widths), np.asarray(alphas))
        out.append(Scaling(depth, step, tuple(widths), tuple(alphas), slope, se, net,
                           residual))
    return out


def carry_over(cells: list[tuple[str, pd.DataFrame]], objective: str) -> list[CarryOver]:
    """For every group of cells listed with several objective steps (``-obj<step>``): each
    cell's best trial (by the objective it was told) measured at every other listed step,
    against that step's own best."""
    groups: dict[str, dict[int, pd.DataFrame]] = {}
    for cell, rows in cells:
        match = re.fullmatch(r"(.*)-obj(\d+)", cell)
        if match and not rows.empty:
            groups.setdefault(match[1], {})[int(match[2])] = rows
    out = []
    loss = f"loss_{objective}"
    for name, by_step in groups.items():
        if len(by_step) < 2:
            continue
        winners = {s: rows.loc[rows["value"].idxmin(), "trial"] for s, rows in by_step.items()}

        for winner_of in sorted(by_step):
            for step in sorted(by_step):
                mine, best = (_seeds_at(by_step[w], winners[w], step, loss)
                              for w in (winner_of, step))
                diff = mine - best
                n = len(diff)
                out.append(CarryOver(name, winner_of, int(winners[winner_of]), step,
                                     float(mine.mean()), _se(mine), float(diff.mean()),
                                     _se(diff) if n > 1 else math.nan, n))
    return out


def _seeds_at(rows: pd.DataFrame, trial: int, step: int, loss: str) -> np.ndarray:
    """Per-seed ``loss`` of ``trial`` after ``step`` -> (S,)."""
    pick = rows[(rows["trial"] == trial) & (rows["step"] == step)]
    return np.asarray(pick.iloc[0][f"{loss}_seeds"], dtype=float)


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else math.nan


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float | None, float | None]:
    """Least-squares slope and, with >= 3 points, its standard error and the root mean
    square residual sqrt(sum r^2 / (n - 2))."""
    dx = x - x.mean()
    slope = float((dx * (y - y.mean())).sum() / (dx**2).sum())
    if len(x) < 3:
        return slope, None, None
    residual = y - y.mean() - slope * dx
    rms = float(np.sqrt((residual**2).sum() / (len(x) - 2)))
    return slope, float(rms / np.sqrt((dx**2).sum())), rms


def _same_rates_every_step(rows: pd.DataFrame, cols: list[str]) -> bool:
    spread = rows.groupby("trial")[cols].agg(lambda v: v.max() - v.min())
    return bool((spread.to_numpy() == 0).all())
