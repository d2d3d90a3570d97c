"""How far a measured loss is from the closed form, and why (SPEC 5, 6).

For one cell and step, the gap between the measured empirical loss and the closed form
telescopes into three parts, each a difference of losses of the same seed:

    empirical - theory = (empirical - population)   test-set noise
                       + (population - surrogate)   self-interaction (GD vs signal-only)
                       + (surrogate - theory)       finite-width fluctuation

Each part is averaged over the cell's trials seed by seed, and reported as the mean over
seeds with the standard error of that mean. Trials without a closed form (SPEC 6: absent)
are left out when the cell has any with one; otherwise only the first two parts exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlr.report.data import seed_values

PARTS = ("test noise", "self-interaction", "finite width")


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float


@dataclass(frozen=True)
class Gaps:
    """The decomposition of one cell at one step; ``parts`` keyed by :data:`PARTS`."""

    step: int
    trials: int
    parts: dict[str, Estimate | None]
    total: Estimate | None  # empirical - theory, None without a closed form


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


def _over_seeds(diff: np.ndarray) -> Estimate:
    """(trials, S) differences -> mean over trials per seed -> mean and SE over seeds."""
    per_seed = diff.mean(axis=0)
    se = per_seed.std(ddof=1) / np.sqrt(len(per_seed)) if len(per_seed) > 1 else np.nan
    return Estimate(float(per_seed.mean()), float(se))
