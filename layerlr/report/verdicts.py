"""A study's verdicts: its tests corrected together, its SPEC 8 claims, its open tests.

1. Every measured budget (:mod:`.curvature`) has two tests per loss (surrogate, GD): the
   curvature and the slope at the equal split. Holm's step-down over all of a study's
   tests at family-wise level Q (:func:`.stats.holm`) gives one per-test cutoff; a test
   whose p is at most it is a *finding* (the report holds a false one with probability
   at most Q), and every budget's position (maximum, minimum, sloped, undecided) is
   decided at that cutoff.
2. A cell's claim at a step (SPEC 8: step 1, an unequal optimum; later steps, an equal
   one) is *yes* when every budget shows it, *no* when a budget contradicts it, else
   *undecided*: both rest on findings only, so one marginal budget decides nothing. With
   no curvature and no slope, at cutoff a, a budget shows "maximum" or "minimum" with
   probability at most a/2 each and "sloped" at most a, so a cell of k budgets says
   *yes* falsely with probability at most that of one budget (1.5 a at step 1: maximum
   or sloped; a/2 later: minimum) and *no* at most k times one budget's (a/2 at step 1;
   1.5 a later). These bounds hold whatever the dependence between budgets and tests
   (the seeds are shared); tests/report simulate them.
3. The tests that are not findings but matter: those with p < NOMINAL, and both tests
   of every undecided budget of an undecided claim. For each, the fresh seeds that would
   decide the observed effect at the study's next cutoff (:func:`.stats.seeds_needed`);
   ``layerlr confirm`` reruns their budgets with fresh seeds.
"""

from __future__ import annotations

import dataclasses

from layerlr.report import curvature
from layerlr.report.records import (
    LOSSES,
    BudgetTest,
    CellReport,
    Claim,
    Correction,
    Curvature,
    CurvatureRow,
)
from layerlr.report.stats import Q, holm, seeds_needed

NOMINAL = 0.05  # a test with p below this that is not a finding is listed as open


def correct(cells: list[CellReport], q: float = Q) -> tuple[Correction, list[BudgetTest]]:
    """Decide every measured curvature of ``cells`` (in place) at the study's Holm
    cutoff. -> the correction and every test, as :class:`BudgetTest`."""
    found = [(c, t, loss, quantity, test)
             for c in cells for t in c.curvatures for loss in LOSSES
             if (cur := getattr(t, loss)) is not None and cur.curvature_test is not None
             for quantity, test in (("curvature", cur.curvature_test),
                                    ("slope", cur.slope_test))]
    adjusted, corr = holm([f[4].p for f in found], q)
    for c in cells:
        c.curvatures = [_decided(t, corr.cutoff) for t in c.curvatures]
    tests = [BudgetTest(c.cell, t.step, t.budget, t.alpha, loss, quantity, test, float(a),
                        test.p <= corr.cutoff)
             for (c, t, loss, quantity, test), a in zip(found, adjusted)]
    return corr, tests


def claims(cells: list[CellReport], corr: Correction,
           tests: list[BudgetTest]) -> tuple[list[Claim], list[BudgetTest]]:
    """Every cell's claims (per step and loss: the closed form's, the surrogate's, GD's)
    and the open tests with the seeds that would decide them (see the module)."""
    by_budget: dict[tuple[str, int, float, str], list[BudgetTest]] = {}
    for b in tests:
        by_budget.setdefault((b.cell, b.step, b.budget, b.loss), []).append(b)
    out, open_keys = [], set()
    for c in cells:
        for step in sorted({t.step for t in c.curvatures}):
            rows = [t for t in c.curvatures if t.step == step]
            for loss in ("theory", *LOSSES):
                cl = _claim(c.cell, step, loss, rows, corr.cutoff, by_budget)
                if cl.verdict == "undecided":
                    open_keys |= {(c.cell, step, t.budget, loss) for t in rows
                                  if getattr(t, loss).position == curvature.UNDECIDED}
                out.append(cl)
    opened = [dataclasses.replace(b, needed=seeds_needed(b.test, corr.next_cutoff))
              for b in tests if not b.finding and (
                  b.test.p < NOMINAL or (b.cell, b.step, b.budget, b.loss) in open_keys)]
    weakest = {}
    for b in opened:
        key = (b.cell, b.step, b.loss)
        if (b.cell, b.step, b.budget, b.loss) in open_keys and b.needed is not None and (
                key not in weakest or b.needed < weakest[key].needed):
            weakest[key] = b
    out = [dataclasses.replace(cl, weakest=weakest.get((cl.cell, cl.step, cl.loss)))
           if cl.verdict == "undecided" else cl for cl in out]
    return out, opened


def false_rates(step: int, budgets: int, cutoff: float) -> tuple[float, float]:
    """Bounds on P(yes) and P(no) for a claim over ``budgets`` budgets decided at per-test
    ``cutoff`` when no budget has a curvature or a slope (see the module)."""
    show, contradict = ((1.5 * cutoff, cutoff / 2) if curvature.CLAIMS.get(step) == "maximum"
                        else (cutoff / 2, 1.5 * cutoff))
    return min(1.0, show), min(1.0, budgets * contradict)


def _claim(cell: str, step: int, loss: str, rows: list[CurvatureRow], cutoff: float,
           by_budget: dict[tuple[str, int, float, str], list[BudgetTest]]) -> Claim:
    curvatures = [getattr(t, loss) for t in rows]
    if any(cur is None for cur in curvatures):
        return Claim(cell, step, loss, "—", len(rows), None, 0.0, 0.0)
    verdict = curvature.claim(step, [cur.position for cur in curvatures])
    false_yes, false_no = (0.0, 0.0) if loss == "theory" else false_rates(step, len(rows),
                                                                            cutoff)
    by = None
    if loss != "theory" and verdict in ("yes", "no"):
        want, against = curvature.sides(step)
        side = want if verdict == "yes" else against
        deciding = [_deciding(by_budget[(cell, step, t.budget, loss)], cur)
                    for t, cur in zip(rows, curvatures) if cur.position in side]
        pick = max if verdict == "yes" else min  # the weakest support, the strongest contra
        by = pick(deciding, key=lambda b: b.test.p)
    return Claim(cell, step, loss, verdict, len(rows), by, false_yes, false_no)


def _deciding(tests: list[BudgetTest], cur: Curvature) -> BudgetTest:
    """The test that decided a budget's position: the slope's when it is sloped."""
    quantity = "slope" if cur.sloped else "curvature"
    return next(b for b in tests if b.quantity == quantity)


def _decided(row: CurvatureRow, cutoff: float) -> CurvatureRow:
    return dataclasses.replace(row, **{loss: curvature.decide(getattr(row, loss), cutoff)
                                       for loss in LOSSES if getattr(row, loss) is not None})
