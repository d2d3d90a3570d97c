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
    if cell.baseline is not None:
        return [baseline(trial, cfg, cell)] * cfg.train.steps
    phases = max(phase_of_step(cfg)) + 1
    rows = []
    for j in range(1, phases + 1):
        if cfg.search.rates == "free":
            rows.append([free_rate(trial, f"p{j}_l{l}", cfg, cell) for l in range(1, k + 1)])
        else:
            lo, hi = cfg.search.alpha or family(cell.setting.family).default_alpha
            budget = cfg.search.scale * h ** trial.suggest_float(f"alpha_p{j}", lo, hi)
            breaks = [trial.suggest_float(f"split_p{j}_l{l}", 0.0, 1.0) for l in range(1, k)]
            rows.append([budget * f for f in simplex(breaks)])
    return [list(rows[p]) for p in phase_of_step(cfg)]


def free_rate(trial: Any, suffix: str, cfg: StudyConfig, cell: Cell) -> float:
    """One free rate: log-uniform in ``search.rate`` (parameter ``rate_<suffix>``), else
    h^e with e uniform in ``search.exponent`` (``exponent_<suffix>``)."""
    if cfg.search.rate is not None:
        return trial.suggest_float(f"rate_{suffix}", *cfg.search.rate, log=True)
    lo, hi = cfg.search.exponent or family(cell.setting.family).default_exponent
    return cell.width ** trial.suggest_float(f"exponent_{suffix}", lo, hi)


DECAY = (0.1, 1.0)  # the layer-wise decay factors a "decay" baseline searches


def baseline(trial: Any, cfg: StudyConfig, cell: Cell) -> list[float]:
    """A baseline's K rates, the same at every step (SPEC 13).

    ``single``: one rate for every group; ``decay``: eta_k = base * decay^(K - k), the
    last group (nearest the output) at ``base``, decay uniform in :data:`DECAY`. The
    rate (``base``) is a free rate of the study's range (:func:`free_rate`), or with
    ``rates = "budget"`` the equal split B / K of B = scale h^alpha.
    """
    k = cell.setting.layers
    if cfg.search.rates == "free" or cfg.search.rate is not None:
        rate = free_rate(trial, "base", cfg, cell)
    else:
        lo, hi = cfg.search.alpha or family(cell.setting.family).default_alpha
        rate = cfg.search.scale * cell.width ** trial.suggest_float("alpha_base", lo, hi) / k
    if cell.baseline == "single":
        return [rate] * k
    decay = trial.suggest_float("decay", *DECAY)
    return [rate * decay ** (k - l) for l in range(1, k + 1)]


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
