"""The shipped module-family studies (studies/module-*.toml, SPEC 13): each parses into
module cells of the network it names, and a shrunken copy of each (tiny widths, few
seeds, budgets, steps and trials) runs end to end and reports what its full run reports:
phase verdicts for the sweeps, the search's gain over each baseline for the searches.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlr.report import make_report
from layerlr.study import load_study, run_study

STUDIES = Path(__file__).parents[2] / "studies"
ZOO = "layerlr.zoo.{}:build"
# file -> (network, data, groups per cell, sweep or search)
SHIPPED = {
    "module-mnist1d-phases.toml": ("mnist1d_mlp", "mnist1d", 3, "sweep"),
    "module-mnist1d-cnn-phases.toml": ("mnist1d_cnn", "mnist1d", 4, "sweep"),
    "module-transformer-phases.toml": ("transformer", "modular-addition", 4, "sweep"),
    "module-mnist1d.toml": ("mnist1d_mlp", "mnist1d", 3, "search"),
    "module-transformer.toml": ("transformer", "modular-addition", 4, "search"),
}
VERDICT = re.compile(r"^\| (\S+) \| (step-[12] optimum (?:unequal|equal)) \| "
                     r"\*\*(yes|no|undecided)\*\* \|")


def quiet(_: str) -> None:
    pass


def test_every_shipped_module_study_is_listed_here():
    assert sorted(p.name for p in STUDIES.glob("module-*.toml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_module_study_parses_into_cells_of_its_network(name):
    net, data, groups, kind = SHIPPED[name]
    cfg = load_study(STUDIES / name)
    cells = cfg.cells()
    assert cells
    for cell in cells:
        s = cell.setting
        assert (s.family, s.module, s.data, s.loss) == ("module", ZOO.format(net), data,
                                                        "cross_entropy")
        assert s.layers == groups, cell.name
        assert cell.name.startswith(f"{net}-{data}-L{cell.depth}-h{cell.width}")
    if kind == "sweep":  # the paper's question: both claims need steps 1 and 2
        assert cfg.search.sampler == "grid" and cfg.search.is_diagonal
        assert cfg.train.steps == 2 and cfg.train.optimizer in (None, "sgd")
        assert len(cfg.train.seeds) >= 8 and len(cfg.search.diagonal) >= 3
        assert cfg.search.diagonal_divisions % groups == 0  # the equal split is a point
    else:
        assert cfg.search.sampler == "tpe" and cfg.search.rates == "free"
        assert cfg.search.baselines == ("single", "decay") and cfg.search.rate
        steps = cfg.objective_steps
        assert len(steps) == 3 and steps[0] == 2 and steps[-1] == cfg.train.steps
        kinds = {c.baseline for c in cells}
        assert kinds == {None, "single", "decay"} and len(cells) == 9


def shrunk(name: str, tmp_path: Path) -> Path:
    """A copy of the shipped file small enough to run in a few seconds: widths 4 or 8,
    three seeds, one or two budgets on a grid of 2K points, or 2 trials of 3 steps."""
    net, _, groups, kind = SHIPPED[name]
    text = (STUDIES / name).read_text()
    width = 4 if net == "transformer" else 8  # the transformer's width: a multiple of 4
    swaps = [(r"(?m)^width = .*$", f"width = {width}"),
             (r"(?m)^seeds = .*$", "seeds = [2020, 2021, 2022]"),
             (r"(?m)^dtype = .*$", 'dtype = "float64"')]
    if kind == "sweep":
        budgets = "[1.0]" if net == "transformer" else "[1.0, 4.0]"
        swaps += [(r"(?m)^diagonal = .*$", f"diagonal = {budgets}"),
                  (r"(?m)^diagonal_divisions = .*$", f"diagonal_divisions = {2 * groups}")]
    else:
        swaps += [(r"(?m)^steps = .*$", "steps = 3"), (r"(?m)^n_trials = .*$", "n_trials = 2"),
                  (r"(?m)^objective_step = .*$", "objective_step = [1, 3]")]
    for pattern, value in swaps:
        text, n = re.subn(pattern, value, text)
        assert n == 1, (name, pattern)  # the shipped file still has the key to shrink
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["module-mnist1d-phases.toml", "module-transformer-phases.toml"])
def test_a_shrunken_phase_sweep_runs_and_gives_both_verdicts_per_cell(name, tmp_path):
    cfg = load_study(shrunk(name, tmp_path))
    summary = run_study(cfg, tmp_path / "res", echo=quiet, progress=False)
    points = len(cfg.search.diagonal) * (cfg.search.diagonal_divisions - 1)
    assert (summary.complete, summary.failed) == (points, 0)
    text = make_report(tmp_path / "res").summary.read_text()
    verdicts = [VERDICT.match(line) for line in text.splitlines()]
    verdicts = [(m[1], m[2]) for m in verdicts if m]
    cell = cfg.cells()[0].name
    assert verdicts == [(cell, "step-1 optimum unequal"), (cell, "step-2 optimum equal")]
    net = SHIPPED[name][0]
    names = {"mnist1d_mlp": "linear1, linear2, linear3",
             "transformer": "embed, block1, block2, head"}[net]
    assert f"- {names} (1 cells: {cell})" in text  # the groups the rates belong to


def test_a_shrunken_search_runs_and_reports_its_gain_over_each_baseline(tmp_path):
    cfg = load_study(shrunk("module-mnist1d.toml", tmp_path))
    summary = run_study(cfg, tmp_path / "res", echo=quiet, progress=False)
    assert (summary.complete, summary.failed) == (6 * 2, 0)
    text = make_report(tmp_path / "res").summary.read_text()
    table = text.split("### Search against baselines", 1)[1].split("###", 1)[0]
    rows = [line.split(" | ")[:4] for line in table.splitlines() if line.startswith("| mnist")]
    cell = "| mnist1d_mlp-mnist1d-L3-h8-obj{}"
    assert sorted(rows) == sorted([cell.format(step), kind, str(step), "3"]
                                  for step in (1, 3) for kind in ("single", "decay"))
    frame = pd.read_parquet(tmp_path / "res" / "trials")  # the held-out accuracy beside
    name = cell.format(3)[2:]
    mine = frame[frame["cell"] == name]
    best = mine[(mine["trial"] == mine.loc[mine["value"].idxmin(), "trial"])
                & (mine["step"] == 3)].iloc[0]
    accuracy = float(np.mean(best["accuracy_seeds"]))  # from the per-seed values
    line = next(r for r in table.splitlines() if r.startswith(f"| {name} | single |"))
    assert f"accuracy {accuracy:.4g} (trial {best['trial']})" in line, line
    assert "| accuracy |" in text.split("### Best schedules", 1)[1].split("###", 1)[0]
