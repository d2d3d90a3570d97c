"""``layerlr confirm`` end to end on a tiny study: it reruns exactly the stencils of the
budgets whose open tests its seeds would decide, with fresh seeds, resumes after a
SIGKILL like any run, and the report then decides those budgets from the fresh seeds."""

from __future__ import annotations

import signal
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest
from command import layerlr

from layerlr.report import make_report
from layerlr.study.storage import open_storage, resolve

STUDY = """
name = "tiny"
[model]
family = "mlp"
activation = "tanh"
depth = 3
width = [8, 16]
target = "sphere"
[train]
steps = 2
seeds = [1, 2, 3]
dtype = "float64"
[search]
sampler = "grid"
diagonal_alpha = [0.4, 0.8]
diagonal_divisions = 8
diagonal_grid = "even"   # every point's rates sum to B = 2 h^alpha exactly
[resources]
batch_size = 2
"""
FRESH = 6


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    root = tmp_path_factory.mktemp("confirm")
    (root / "tiny.toml").write_text(textwrap.dedent(STUDY))
    run = layerlr("run", root / "tiny.toml", "--results", root / "res", "--quiet")
    assert run.returncode == 0, run.stderr
    before = make_report(root / "res", root / "before")
    killed = layerlr("confirm", root / "res", "--seeds", FRESH, "--quiet",
                     env={"LAYERLR_FAULT": "told:2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = layerlr("confirm", root / "res", "--seeds", FRESH, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "report: " in done.stdout  # and it wrote the report
    return root, before, done


def stencils(frame: pd.DataFrame, wanted: set[tuple[str, float]]) -> set[tuple[str, float]]:
    """(cell, eta1) of the three points nearest eta1 = B/2 of each wanted (cell, B)."""
    out = set()
    for cell, budget in wanted:
        rows = frame[(frame.cell == cell) & (frame.step == 1)
                     & np.isclose(frame.eta1 + frame.eta2, budget)]
        near = rows.assign(d=(rows.eta1 - budget / 2).abs()).nsmallest(3, "d")
        out |= {(cell, round(float(e), 9)) for e in near.eta1}
    return out


def test_confirm_reruns_exactly_the_needed_points(confirmed):
    root, before, _ = confirmed
    (study,) = before.studies
    wanted = {(b.cell, b.budget) for b in study.open if b.needed is not None
              and b.needed <= FRESH}
    others = {(c.cell, t.budget) for c in study.cells for t in c.curvatures} - wanted
    assert wanted and others  # some budgets are rerun, some are not
    frame = pd.read_parquet(root / "res" / "trials")
    frame = frame.assign(cell=frame.cell.astype(str), study=frame.study.astype(str))
    original = frame[frame.study == "tiny"]
    fresh = frame[frame.study == "tiny-confirm"]
    got = {(c, round(float(e), 9)) for c, e in zip(fresh.cell, fresh.eta1)}
    assert got == stencils(original, wanted)
    assert not fresh.duplicated(["cell", "trial", "step"]).any()
    assert (fresh.seeds == FRESH).all() and (fresh.state == "COMPLETE").all()
    assert fresh.loss_surrogate_seeds.map(len).eq(FRESH).all()
    store = open_storage(resolve(root / "res"))
    for cell in fresh.cell.unique():  # every point told once, none left running
        trials = optuna.load_study(study_name=f"tiny-confirm/{cell}", storage=store).trials
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        assert len(complete) == len(fresh[(fresh.cell == cell) & (fresh.step == 1)])
        assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
        assert sorted(t.params["point"] for t in complete) == list(range(len(complete)))


def test_the_report_decides_confirmed_budgets_from_the_fresh_seeds(confirmed):
    root, _, _ = confirmed
    after = make_report(root / "res", root / "after")
    assert [s.study.name for s in after.studies] == ["tiny"]  # the confirm study folded in
    (study,) = after.studies
    assert study.confirmed_by == "tiny-confirm"
    frame = pd.read_parquet(root / "res" / "trials")
    frame = frame.assign(cell=frame.cell.astype(str), study=frame.study.astype(str))
    fresh = frame[frame.study == "tiny-confirm"]
    replaced = 0
    for c in study.cells:
        for t in c.curvatures:
            rows = fresh[(fresh.cell == c.cell) & (fresh.step == t.step)
                         & np.isclose(fresh.eta1 + fresh.eta2, t.budget)]
            if rows.empty:
                assert t.replaced is None and t.surrogate.seeds == 3
                continue
            replaced += 1
            assert t.replaced is not None and t.surrogate.seeds == FRESH
            rows = rows.sort_values("eta1")
            u = rows.eta1.to_numpy() / t.budget
            values = np.vstack(rows.loss_surrogate_seeds.to_numpy())  # (3, 6)
            curv = [2 * np.polyfit(u, values[:, s], 2)[0] for s in range(FRESH)]
            assert t.surrogate.mean == pytest.approx(np.mean(curv), rel=1e-9)
            assert t.replaced[0].seeds == 3  # the study's own test, shown beside it
    assert replaced > 0
    summary = after.summary.read_text()
    assert "### Confirmed budgets" in summary and "## Study `tiny-confirm`" not in summary


def test_confirm_again_resumes_and_refuses_other_seeds(confirmed):
    root, _, _ = confirmed
    again = layerlr("confirm", root / "res", "--seeds", FRESH, "--quiet")
    assert again.returncode == 0, again.stderr
    assert "this run told 0 trials" in again.stdout  # the stored points, nothing new
    other = layerlr("confirm", root / "res", "--seeds", FRESH + 1)
    assert other.returncode == 2 and "--seeds 6 to resume" in other.stderr
    assert "Traceback" not in other.stderr
