"""The phase verdicts of SPEC 8 from real studies: the paper's at h = 1000, and the
failure at the boundary h = 256, alpha = 1.5 (matrix, two steps)."""

from __future__ import annotations

import textwrap

import pytest
from command import layerlr

from layerlr.report import make_report, verdicts
from layerlr.report.records import CellReport, Curvature, CurvatureRow, TTest

PAPER = """
# The published matrix protocol (SPEC 9) at a budget B = 2 h^alpha inside SPEC 8's range.
name = "paper"
[model]
depth = 2
width = 1000
[train]
seeds = [2020, 2021, 2022, 2023, 2024]
protocol = "published"
dtype = "float32"
[search]
sampler = "grid"
diagonal_alpha = [1.5]
objective = "empirical"
"""

BOUNDARY = """
# h = 256, alpha = 1.5 exactly, points close to B/2: the published +-10% cannot show
# the failure (the closed form has a maximum at equal rates only within ~7% of B/2).
name = "boundary"
[model]
depth = 2
width = 256
[train]
seeds = [1, 2, 3, 4, 5, 6, 7, 8]
dtype = "float64"
[search]
sampler = "grid"
diagonal_alpha = [1.5]
diagonal_divisions = 64  # s = 128: B = 8192 exactly, points +-3.1% of B/2 apart
"""


def run_and_report(text: str, tmp_path, address: str | None = None):
    """Run the study with the command, on Ray at ``address`` or else in the command's
    process (the verdicts do not depend on where trials ran), and report it."""
    study = tmp_path / "study.toml"
    study.write_text(textwrap.dedent(text))
    where = ("--address", address) if address else ()
    run = layerlr("run", study, "--results", tmp_path / "res", *where, "--quiet", timeout=600)
    assert run.returncode == 0, run.stderr
    report = make_report(tmp_path / "res", tmp_path / "report")
    (cell,) = report.studies[0].cells
    return cell


def claims(cell, step):
    """(surrogate, closed form, GD) verdicts per budget at ``step``."""
    return [(t.surrogate.verdict, t.theory.verdict, t.gd.verdict)
            for t in cell.curvatures if t.step == step]


@pytest.mark.slow
def test_paper_verdicts_at_h_1000(ray_address, tmp_path):
    cell = run_and_report(PAPER, tmp_path, ray_address)  # as fast as without Ray
    assert claims(cell, 1) == [("maximum",) * 3]  # step 1: an unequal split is better
    assert claims(cell, 2) == [("minimum",) * 3]  # step 2: the equal split is best
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "| L2-h1000 | step-1 optimum unequal | **yes** | yes | yes | 1 |" in summary
    assert "| L2-h1000 | step-2 optimum equal | **yes** | yes | yes | 1 |" in summary


def test_boundary_two_step_verdict_is_not_equal(tmp_path):
    cell = run_and_report(BOUNDARY, tmp_path)  # no Ray: its start-up does not pay here
    (row,) = [t for t in cell.curvatures if t.step == 2]
    assert row.budget == 8192 and row.spacing == pytest.approx(1 / 32)
    assert row.theory.verdict == "maximum"  # the closed form: equal rates are a local max
    assert row.surrogate.verdict != "minimum"  # measured: not a minimum (undecided)
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "| L2-h256 | step-2 optimum equal | **yes**" not in summary
    assert "| L2-h256 | step-2 optimum equal | **" in summary
    # GD itself has a minimum there: self-interaction, outside SPEC 8's regime, decides it
    assert row.gd.verdict == "minimum"


def budget_with(curv_t: float, curv_p: float, slope_p: float = 0.9, seeds: int = 5):
    """A measured budget whose curvature has t and p as given (slope t small)."""
    c = TTest(curv_t, 1.0, seeds, curv_t, curv_p)
    g = TTest(0.01, 1.0, seeds, 0.01, slope_p)
    return Curvature(c.mean, c.se, "undecided", g.mean, g.se, curvature_test=c, slope_test=g)


def cell_of(*budgets) -> CellReport:
    """A cell with one step-2 row per budget, the same tests for the surrogate and GD."""
    rows = [CurvatureRow(2, float(b), 0.5, 0.1, None, cur, cur)
            for b, cur in enumerate(budgets, start=1)]
    return CellReport("c", 3, 8, rows, [], [], {})


def claim_of(*cells, step: int = 2):
    cells = list(cells)
    corr, tests = verdicts.correct(cells)
    found, opened = verdicts.claims(cells, corr, tests)
    return [c for c in found if c.loss == "surrogate" and c.step == step], corr, opened


def test_no_needs_a_finding_not_one_marginal_budget():
    # findings elsewhere, so that Holm's cutoff is above 0
    strong = cell_of(budget_with(40.0, 1e-9), budget_with(35.0, 1e-9))
    marginal = cell_of(budget_with(9.0, 1e-9), budget_with(-4.0, 0.01), budget_with(1.0, 0.4))
    claims, corr, opened = claim_of(strong, marginal)
    assert corr.cutoff < 0.01  # p = 0.01 is nominally "maximum" at 5%, not a finding
    mine = next(c for c in claims if c.budgets == 3)
    assert mine.verdict == "undecided" and mine.decided_by is None
    assert mine.weakest is not None and mine.weakest.budget in (2.0, 3.0)
    marked = {(b.budget, b.quantity) for b in opened if b.cell == "c"}
    assert (2.0, "curvature") in marked  # p < 5%, not a finding: listed with its seeds
    contra = cell_of(budget_with(9.0, 1e-9), budget_with(-30.0, 1e-8), budget_with(1.0, 0.4))
    claims, corr, _ = claim_of(strong, contra)
    mine = next(c for c in claims if c.budgets == 3)
    assert mine.verdict == "no"
    assert (mine.decided_by.budget, mine.decided_by.quantity) == (2.0, "curvature")


def test_yes_names_its_weakest_budget():
    claims, corr, _ = claim_of(cell_of(budget_with(9.0, 1e-9), budget_with(7.0, 1e-7),
                                       budget_with(8.0, 1e-8)))
    (mine,) = claims
    assert mine.verdict == "yes" and mine.decided_by.budget == 2.0  # the largest p
    assert corr.findings == 6 and corr.m == 12  # curvature and slope, surrogate and GD


@pytest.mark.parametrize("step,yes,no", [(1, 1.5, 1.5), (2, 0.5, 4.5)])
def test_false_rates_by_hand(step, yes, no):
    """Three budgets at cutoff a: one budget shows max or min w.p. <= a/2 each, sloped
    <= a. Step 1 (maximum or sloped) yes <= 1.5 a, no (a minimum anywhere) <= 3 a/2;
    step 2 (minimum) yes <= a/2, no (maximum or sloped anywhere) <= 3 (1.5 a)."""
    assert verdicts.false_rates(step, 3, 0.01) == pytest.approx((yes * 0.01, no * 0.01))
