"""An mlp study end to end, as a user runs it: `layerlr run`, `layerlr report`, and the
summary's numbers recomputed from the Parquet rows by independent code."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from command import layerlr

from report.test_build import check_pm, mean_se, seeds, tables

STUDY = """
name = "nl"
[[model]]
family = "mlp"
activation = ["relu", "tanh"]
depth = 3
width = 8
target = "teacher"
[[model]]
family = "mlp"
activation = "gelu"
depth = 3
width = 8
data = "diabetes"
init = "gaussian"
[train]
steps = 3
seeds = [1, 2, 3]
dtype = "float64"
[search]
n_trials = 5
objective_step = [1, 3]
"""


@pytest.mark.slow
def test_an_mlp_study_runs_and_reports(ray_address, tmp_path):
    study = tmp_path / "nl.toml"
    study.write_text(textwrap.dedent(STUDY))
    run = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                  "--quiet")
    assert run.returncode == 0, run.stderr
    report = layerlr("report", tmp_path / "res", "--quiet")
    assert report.returncode == 0, report.stderr
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    frame = frame.assign(cell=frame["cell"].astype(str))
    assert sorted(frame.cell.unique()) == [
        "gelu-diabetes-L3-h8-obj1", "gelu-diabetes-L3-h8-obj3", "relu-whitened-teacher-L3-h8-obj1",
        "relu-whitened-teacher-L3-h8-obj3", "tanh-whitened-teacher-L3-h8-obj1",
        "tanh-whitened-teacher-L3-h8-obj3"]
    assert set(frame.activation) == {"relu", "tanh", "gelu"}
    assert frame.loss_theory.isna().all() and set(frame.theory) == {"absent"}
    assert frame.loss_surrogate.notna().all()
    real = frame[frame.data == "diabetes"]
    assert (real.loss_population == real.loss_empirical).all()  # both: the held-out rows
    t = tables((tmp_path / "res" / "report" / "summary.md").read_text(), "nl")
    for row in t["Gap decomposition"]:
        assert row["finite width"] == "—" and row["empirical − closed form"] == "—"
        at = frame[(frame.cell == row["cell"]) & (frame.step == int(row["step"]))]
        pop, sur = seeds(at, "loss_population"), seeds(at, "loss_surrogate")
        check_pm(row["self-interaction"], mean_se((pop - sur).mean(0)))
    check_winners(frame, t["Winners at other steps"])


def check_winners(frame: pd.DataFrame, rows: list[dict[str, str]]) -> None:
    assert len(rows) == 3 * 4  # three networks, two winners, two steps
    for row in rows:
        cell, won, step = row["cell"], int(row["winner of step"]), int(row["at step"])

        def loss(objective: int, cell=cell, won=won, row=row, step=step) -> np.ndarray:
            cells = frame[frame.cell == f"{cell}-obj{objective}"]
            best = cells.loc[cells["value"].idxmin(), "trial"]
            assert objective != won or best == int(row["trial"])
            pick = cells[(cells.trial == best) & (cells.step == step)]
            return np.asarray(pick.iloc[0]["loss_population_seeds"])

        mine, theirs = loss(won), loss(step)
        check_pm(row["population loss"], mean_se(mine))
        if won != step:
            check_pm(row["minus that step's best"], mean_se(mine - theirs))
