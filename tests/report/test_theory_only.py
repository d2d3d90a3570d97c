"""A study of the theory alone (train.measure = false) at h = 10^5, end to end: run with
the command, report, and the verdicts checked against the theory computed here."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from command import layerlr

from layerlr import Setting, closed_form
from layerlr.report import make_report
from layerlr.schedules import diagonal

STUDY = """
name = "wide"
[model]
depth = [2, 3]
width = 100000
[train]
steps = 2
measure = false
[search]
sampler = "grid"
diagonal_alpha = {matrix = [1.3], readout = [0.4]}
diagonal_steps = "rest"
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide")
    (root / "study.toml").write_text(textwrap.dedent(STUDY))
    run = layerlr("run", root / "study.toml", "--results", root / "res", "--quiet")  # no Ray
    assert run.returncode == 0, run.stderr
    return make_report(root / "res", root / "report"), pd.read_parquet(root / "res" / "trials")


def expected_curvature(depth: int, alpha: float) -> float:
    """d2L/du2 of the loss after step 2 at the equal step-2 split (step 1 equal), from
    closed_form directly: a parabola through the three sweep points nearest u = 1/2."""
    h = 100_000
    budget = 2 * h**alpha
    points = diagonal(budget, 2).numpy()
    total = points.sum(1)[0]
    near = np.argsort(np.abs(points[:, 0] / total - 0.5))[:3]
    rates = np.stack([np.stack([[total / 2, total / 2], p]) for p in points[near]])
    setting = Setting(family="matrix" if depth == 2 else "readout", depth=depth, width=h)
    loss = closed_form(setting, torch.from_numpy(rates))[0][:, 1].numpy()
    u = points[near, 0] / total
    return 2 * np.polyfit(u, loss, 2)[0]


def test_verdicts_are_the_theorys(report):
    rep, frame = report
    assert frame["loss_population"].isna().all() and (frame["theory"] == "exact").all()
    (study,) = rep.studies
    for cell in study.cells:
        (row,) = [t for t in cell.curvatures if t.step == 2]
        want = expected_curvature(cell.depth, 1.3 if cell.depth == 2 else 0.4)
        assert row.theory.mean == pytest.approx(want, rel=1e-6)
        assert row.surrogate is None and row.gd is None
    summary = rep.summary.read_text()
    verdict = "yes" if expected_curvature(2, 1.3) > 0 else "no"
    assert f"| L2-h100000 | step-2 optimum equal | **{verdict}** | {verdict} | — | 1 |" \
        in summary
    assert "Nothing was measured (train.measure = false)" in summary
    assert "only steps 2 and later take the budget's split" in summary


def test_best_schedules_are_the_theorys_minimum(report):
    rep, frame = report
    (study,) = rep.studies
    for cell in study.cells:
        rows = frame[(frame["cell"] == cell.cell) & (frame["step"] == 2)]
        best = next(b for b in cell.best if b.step == 2)
        assert best.loss == pytest.approx(rows["loss_theory"].min(), rel=1e-12)
