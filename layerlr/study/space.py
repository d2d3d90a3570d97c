"""The space of schedules a study searches, as Optuna parameters.

Two kinds of study:

- a *diagonal* study sweeps the published points of SPEC section 9: one integer
  parameter ``point`` indexes the (budget, split) pairs of every listed budget (or of
  every budget B = scale h^alpha of the listed exponents); the split is used at every
  step, or (``diagonal_steps``) only at step 1 or only at steps >= 2, the other steps
  taking the equal split of the same rate sum (first-rest sweeps);
- otherwise each *phase* (a group of steps that share rates) has its own rates, either
  a width-scaled budget ``B = scale * h^alpha`` split over the K layers by fractions on
  the simplex (``rates = "budget"``), or free per-layer rates ``eta = h^e``
  (``rates = "free"``). The fractions come from stick-breaking with Beta(1, K - l)
  breaks, written as inverse CDFs of uniform parameters, so that uniform parameters
  give a uniform point on the simplex and TPE, CMA-ES and GP can model them.
"""

from __future__ import annotations

from typing import Any

from layerlr.families import family
from layerlr.schedules import diagonal
from layerlr.study.config import Cell, StudyConfig


def diagonal_points(cfg: StudyConfig, cell: Cell) -> list[tuple[float, list[float]]]:
    """Every (budget, per-layer rates) point of the study's diagonal sweeps, or those of
    ``search.only_points`` for this cell (a confirm run's subset)."""
    k, divisions = cell.setting.layers, cfg.search.diagonal_divisions
    even = cfg.search.diagonal_grid == "even"
    points = [(b, row.tolist()) for b in cfg.search.budgets(cell.width, cell.setting.family)
              for row in diagonal(b, k, divisions, even)]
    if cfg.search.only_points is None:
        return points
    return [points[i] for i in dict(cfg.search.only_points).get(cell.name, ())]


def swept_steps(cfg: StudyConfig) -> list[bool]:
    """Per step t = 1..T: whether a diagonal point's split is used there."""
    steps, which = cfg.train.steps, cfg.search.diagonal_steps
    return [which == "all" or (which == "first") == (t == 1) for t in range(1, steps + 1)]


def phase_of_step(cfg: StudyConfig) -> list[int]:
    """Which phase (0-based) each step t = 1..T uses."""
    steps = cfg.train.steps
    if cfg.search.phases == "constant":
        return [0] * steps
    if cfg.search.phases == "first-rest":
        return [0] + [1] * (steps - 1)
    return list(range(steps))


def suggest(trial: Any, cfg: StudyConfig, cell: Cell) -> list[list[float]]:
    """Ask ``trial`` (an optuna Trial) for a schedule. -> (T, K) rates, as lists."""
    k, h = cell.setting.layers, cell.width
    if cfg.search.is_diagonal:
        points = diagonal_points(cfg, cell)
        _, rates = points[trial.suggest_int("point", 0, len(points) - 1)]
        equal = [sum(rates) / k] * k
        return [list(rates) if swept else equal for swept in swept_steps(cfg)]
    phases = max(phase_of_step(cfg)) + 1
    rows = []
    for j in range(1, phases + 1):
        if cfg.search.rates == "free":
            lo, hi = cfg.search.exponent or family(cell.setting.family).default_exponent
            rows.append([h ** trial.suggest_float(f"exponent_p{j}_l{l}", lo, hi)
                         for l in range(1, k + 1)])
        else:
            lo, hi = cfg.search.alpha or family(cell.setting.family).default_alpha
            budget = cfg.search.scale * h ** trial.suggest_float(f"alpha_p{j}", lo, hi)
            breaks = [trial.suggest_float(f"split_p{j}_l{l}", 0.0, 1.0) for l in range(1, k)]
            rows.append([budget * f for f in simplex(breaks)])
    return [list(rows[p]) for p in phase_of_step(cfg)]


def simplex(uniforms: list[float]) -> list[float]:
    """K fractions summing to 1 from K - 1 numbers in [0, 1] (stick-breaking).

    Break l takes s_l = 1 - (1 - u_l)^(1/(K - l)), the Beta(1, K - l) inverse CDF, of
    what is left; uniform u's then give the uniform (Dirichlet(1, ..., 1)) distribution.
    """
    k = len(uniforms) + 1
    left, out = 1.0, []
    for l, u in enumerate(uniforms, start=1):
        s = 1.0 - (1.0 - u) ** (1.0 / (k - l))
        out.append(left * s)
        left -= left * s
    return out + [left]
