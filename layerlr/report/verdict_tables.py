"""The report's verdict sections (SPEC 8): the phase verdicts and the evidence behind
them, every budget's tests, the budgets a confirm run decided, and the open tests
(:mod:`.verdicts` decides them; this module only writes them)."""

from __future__ import annotations

from layerlr.report.curvature import claim_text, decide
from layerlr.report.records import (
    BudgetTest,
    Claim,
    Curvature,
    CurvatureRow,
    Estimate,
    StudyReport,
    TTest,
)
from layerlr.report.stats import CONFIDENCE, cutoff_t, interval
from layerlr.report.text import num, p_value, pm, rate, table
from layerlr.report.verdicts import NOMINAL

LISTED_SEEDS = 1000  # open tests needing more fresh seeds than this are counted, not listed


def _correction(r: StudyReport) -> str:
    c = r.correction
    if c is None:
        return ""
    seeds = sorted({t.seeds for cell in r.cells for row in cell.curvatures
                    for t in (row.surrogate, row.gd) if t is not None and t.seeds})
    at = ", ".join(f"|t| ≥ {num(cutoff_t(c.cutoff, n), 3)} with {n} seeds" for n in seeds)
    where = f"p ≤ {p_value(c.cutoff)} ({at})" if c.findings else "none (no p small enough)"
    return (f" **Findings**: Holm's step-down over this study's {c.m} tests (curvature and "
            "slope of the surrogate and of GD at every budget and step) at family-wise level "
            f"{c.q:g}, so that the report holds any false finding with probability at most "
            f"{c.q:g}: {c.findings} findings, those with {where}. Every budget's verdict is "
            "decided at that cutoff: maximum or minimum when its curvature is a finding, "
            "sloped when its slope is one and the parabola's vertex lies outside the three "
            "points (or the curvature is undecided). With no curvature and no slope a budget "
            "reads maximum or minimum with probability at most cutoff/2 each and sloped at "
            "most the cutoff, whence the bounds on a cell's false *yes* (that of one budget) "
            "and *no* (the sum over its budgets) in the next table, valid whatever the "
            "dependence between budgets.")


def verdicts(r: StudyReport) -> list[str]:
    title = "Phase verdicts (SPEC 8)"
    if not any(c.curvatures for c in r.cells):
        return [f"### {title}", "",
                ("No diagonal sweeps (search.diagonal or search.diagonal_alpha) in this "
                 "study: the curvature tests need points along a budget around the equal "
                 "split."), ""]
    by = {(c.cell, c.step, c.loss): c for c in r.claims}
    rows = []
    for c in r.cells:
        for step in sorted({t.step for t in c.curvatures}):
            tests = [t for t in c.curvatures if t.step == step]
            theory, surrogate, gd = (by[(c.cell, step, loss)].verdict
                                     for loss in ("theory", "surrogate", "gd"))
            verdict = surrogate if r.study.measured else theory
            shown = [t.surrogate if r.study.measured else t.theory for t in tests]
            sloped = sum(cur is not None and cur.sloped for cur in shown)
            rows.append([c.cell, claim_text(step), f"**{verdict}**", theory, gd, len(tests),
                         f"{sloped}/{len(tests)}"])
    text = ("Each claim is decided over every budget of the cell (next tables): *yes* when "
            "every budget shows it, *no* when one contradicts it, *undecided* otherwise; "
            "both rest on findings only, so one marginal budget decides nothing. ")
    text += ("The verdict is the realized surrogate's, the quantity whose expected value the "
             "theory (SPEC 6, 11, 12: exact where not —) gives; the theory's and the GD "
             "loss's are beside it. Where GD differs, self-interaction (see the gap "
             "decomposition) shapes the GD loss. *Sloped*: budgets where the verdict's "
             "slope dL/du at the equal split is a finding that puts the optimum off the "
             "equal split, which counts for step 1's claim and against a later step's." +
             _correction(r) if r.study.measured else
             "Nothing was measured (train.measure = false): the verdict is the exact "
             "theory's.")
    text += swept(r)
    return table(title, text, ["cell", "claim", "verdict", "closed form",
                                f"GD ({r.study.gd_loss})", "budgets", "sloped"], rows) + \
        _evidence_table(r)


def _evidence_table(r: StudyReport) -> list[str]:
    """Per measured claim: what decided it (or what would), and its false-positive bounds."""
    rows = [["surrogate" if c.loss == "surrogate" else f"GD ({r.study.gd_loss})", c.cell,
             claim_text(c.step), c.verdict, _because(c), rate(c.false_yes),
             rate(c.false_no)]
            for c in r.claims if c.loss != "theory" and c.verdict != "—"]
    if not rows:
        return []
    return table("Evidence behind each verdict",
                  "*Decided by*: for *yes* the weakest budget, for *no* the strongest "
                  "contradiction: its test, t with seeds − 1 degrees of freedom, p and the "
                  "Holm adjusted q; for *undecided*, the open test nearest to deciding it and "
                  "the fresh seeds that would (see Open tests). P(false yes), P(false no): "
                  "bounds on how often this rule says yes or no at this report's cutoff when "
                  "no budget has a curvature or a slope (computed from the cutoff and the "
                  "number of budgets; see above).",
                  ["loss", "cell", "claim", "verdict", "decided by", "P(false yes) ≤",
                   "P(false no) ≤"], rows)


def _because(c: Claim) -> str:
    if c.decided_by is not None:
        return _evidence(c.decided_by)
    if c.weakest is not None:
        return f"open: {_evidence(c.weakest)}; ~{c.weakest.needed} fresh seeds"
    return "—"


def _evidence(b: BudgetTest) -> str:
    return (f"B = {num(b.budget)} {b.quantity}: t = {num(b.test.t, 3)} ({b.test.df} df), "
            f"p = {p_value(b.test.p)}, q = {p_value(b.adjusted)}")


def swept(r: StudyReport) -> str:
    """What a first-rest sweep varies, for the verdicts' text."""
    which = r.study.config.search.diagonal_steps if r.study.config else "all"
    if which == "all":
        return ""
    swept = "step 1" if which == "first" else "steps 2 and later"
    return (f" This is a first-rest sweep: only {swept} take the budget's split, the other "
            "steps the equal split of the same rate sum; every step's loss is tested along "
            "that split.")


def curvatures(r: StudyReport) -> list[str]:
    if not any(c.curvatures for c in r.cells):
        return []
    q = {(b.cell, b.step, b.budget, b.loss, b.quantity): b.adjusted for b in r.tests}
    rows = []
    for c in r.cells:
        for t in c.curvatures:
            theory = "—" if t.theory is None else _exact(t.theory)
            head = [c.cell, t.step, num(t.budget), num(t.alpha), f"±{num(100 * t.spacing)}%",
                    theory]
            if not r.study.measured:
                rows.append(head + ["—"] * 14)
            for loss, name, cur in (("surrogate", "surrogate", t.surrogate),
                                    ("gd", f"GD ({r.study.gd_loss})", t.gd)):
                if cur is not None:
                    key = (c.cell, t.step, t.budget, loss)
                    rows.append(head + [name, _seeds(cur, t),
                                        *_test(cur.curvature_test, q.get((*key, "curvature"))),
                                        *_test(cur.slope_test, q.get((*key, "slope"))),
                                        cur.position])
    conf = f"{100 * CONFIDENCE:g}%"
    return table("Curvature at the equal split",
                  "B is the sweep's budget (its points' rates sum to N s <= B, SPEC 9); "
                  "d²L/du² with u = eta1 / (the point's rate sum), from the three points "
                  "nearest the equal split (spacing: their half-width relative to the equal "
                  "rate B/K), and the slope dL/du of the same parabola at the equal split "
                  "(the closed form's is shown where it makes the budget sloped); "
                  f"mean ± standard error over seeds [{conf} t interval] of per-seed values "
                  "(paired across the points); t with seeds − 1 degrees of freedom, "
                  "two-sided p, q the Holm adjusted p (a finding when q ≤ "
                  f"{r.correction.q if r.correction else 0.05:g}); p = 1 where the effect is "
                  "within the losses' rounding. Verdict: the budget's position at the "
                  "study's cutoff (see above).",
                  ["cell", "step", "B", "alpha", "spacing", "closed form", "loss", "seeds",
                   "d²L/du²", f"{conf} CI", "t", "p", "q", "dL/du", f"{conf} CI (dL/du)",
                   "t (dL/du)", "p (dL/du)", "q (dL/du)", "verdict"], rows)


def _exact(c: Curvature) -> str:
    """The closed form's curvature and position (its slope too when it is sloped)."""
    if c.sloped:
        return f"{num(c.mean)} (sloped: dL/du = {num(c.slope)})"
    return f"{num(c.mean)} ({c.verdict})"


def _seeds(cur: Curvature, row: CurvatureRow) -> str:
    return f"{cur.seeds} fresh" if row.replaced else str(cur.seeds)


def _test(t: TTest | None, adjusted: float | None = None) -> list[str]:
    """mean ± se, [interval], t, p and the adjusted p of a test."""
    if t is None:
        return ["—"] * 5
    lo, hi = interval(t)
    return [pm(Estimate(t.mean, t.se)), f"[{num(lo)}, {num(hi)}]", num(t.t, 3), p_value(t.p),
            "—" if adjusted is None else p_value(adjusted)]


def confirmed(r: StudyReport) -> list[str]:
    rows = []
    for c in r.cells:
        for t in c.curvatures:
            if not t.replaced:
                continue
            for name, now, was in zip(("surrogate", "GD"), (t.surrogate, t.gd), t.replaced):
                for q in ("curvature", "slope"):
                    a, b = (getattr(x, f"{q}_test") for x in (was, now))
                    rows.append([c.cell, t.step, num(t.budget), name, q, a.n,
                                 pm(Estimate(a.mean, a.se)), num(a.t, 3), p_value(a.p), b.n,
                                 pm(Estimate(b.mean, b.se)), num(b.t, 3), p_value(b.p),
                                 f"{_at(was, r)} → {now.position}"])
    if not rows:
        return []
    return table("Confirmed budgets",
                  f"Budgets that `layerlr confirm` reran with fresh seeds (study "
                  f"`{r.confirmed_by}`): the fresh seeds alone decide them (a replication "
                  "that the selection of these budgets cannot bias) and their tests replace "
                  "the study's own in the correction. Position: at this report's cutoff, "
                  "with the study's seeds → with the fresh seeds.",
                  ["cell", "step", "B", "loss", "test", "seeds", "mean ± se", "t", "p",
                   "fresh seeds", "fresh mean ± se", "fresh t", "fresh p", "position"], rows)


def _at(was: Curvature, r: StudyReport) -> str:
    return decide(was, r.correction.cutoff if r.correction else 0.0).position


def open_tests(r: StudyReport) -> list[str]:
    if r.correction is None or not r.open:
        return []
    shown = sorted((b for b in r.open if b.needed is not None and b.needed <= LISTED_SEEDS),
                   key=lambda b: (b.needed, b.cell, b.step, b.budget))
    rows = [[b.cell, b.step, num(b.budget), num(b.alpha), b.loss, b.quantity, b.test.n,
             *_test(b.test, b.adjusted), b.needed] for b in shown]
    rest = len(r.open) - len(shown)
    return table("Open tests",
                  f"Tests that are not findings: those with p < {NOMINAL:g}, and both tests "
                  "of every undecided budget of an undecided claim. *Fresh seeds*: how many "
                  "seeds would decide the observed effect at this study's next cutoff "
                  f"(p ≤ {p_value(r.correction.next_cutoff)}), from its mean and spread: "
                  "`layerlr confirm RESULTS --seeds N` reruns the budgets that N seeds "
                  "would decide. A plug-in estimate: a rerun with that many decides a true "
                  "effect of the observed size about half of the time."
                  + (f" {rest} more need over {LISTED_SEEDS} seeds (or their effect is 0 "
                     "or within rounding)." if rest else ""),
                  ["cell", "step", "B", "alpha", "loss", "test", "seeds", "mean ± se",
                   "95% CI", "t", "p", "q", "fresh seeds"], rows)


