"""The searched schedule against the baselines searched beside it (SPEC 13).

A cell ``X`` run with ``search.baselines`` has cells ``X-single`` (one rate for every
group) and ``X-decay`` (layer-wise rate decay). Each cell's best trial is the one with
the lowest objective (mean over seeds at the cell's objective step); the gain of the
search over a baseline is the baseline's loss minus the search's, per seed (the cells
share their seeds' draws, so the difference is paired), at that step: its mean, standard
error, t interval and t with seeds - 1 degrees of freedom. A positive gain means the
per-group search found a lower loss. Both winners are minima of noisy estimates over
their own searches, so the gain carries the selection of both. Beside the losses, each
winner's held-out accuracy at that step (mean over seeds; NaN without one). Rows come by
searched network, then objective step, then baseline.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from layerlr.report.data import accuracy
from layerlr.report.records import BaselineGain
from layerlr.report.stats import t_test
from layerlr.study.config import BASELINES

__all__ = ["baseline_gains"]


def baseline_gains(cells: list[tuple[str, pd.DataFrame]], objective: str,
                   objective_step: int | None) -> list[BaselineGain]:
    """Per searched cell and baseline that both have usable rows: the paired gain.

    ``cells``: (cell name, usable rows); ``objective_step``: the study's (None: each
    cell's last step), unless the name ends in ``-obj<step>``.
    """
    by_name = dict(cells)
    out = []
    for name, rows in cells:
        for kind in BASELINES:
            base = by_name.get(f"{name}-{kind}")
            if base is None or rows.empty or base.empty:
                continue
            match = re.search(r"-obj(\d+)$", name)
            step = int(match[1]) if match else objective_step or int(rows["step"].max())
            (mine, mine_acc), (theirs, theirs_acc) = (
                _best_seeds(r, step, f"loss_{objective}") for r in (rows, base))
            if len(mine[1]) != len(theirs[1]):
                continue
            test = t_test(theirs[1] - mine[1])
            out.append(BaselineGain(name, kind, step, mine[0], float(mine[1].mean()),
                                    theirs[0], float(theirs[1].mean()), test,
                                    mine_acc, theirs_acc))
    return sorted(out, key=lambda b: (re.sub(r"-obj\d+$", "", b.cell), b.step,
                                      BASELINES.index(b.baseline)))


def _best_seeds(rows: pd.DataFrame, step: int,
                loss: str) -> tuple[tuple[int, np.ndarray], float]:
    """((best trial by the told value, its per-seed ``loss`` after ``step``), its mean
    held-out accuracy there, NaN without one)."""
    trial = int(rows.loc[rows["value"].idxmin(), "trial"])
    pick = rows[(rows["trial"] == trial) & (rows["step"] == step)].iloc[0]
    return (trial, np.asarray(pick[f"{loss}_seeds"], dtype=float)), accuracy(pick)
