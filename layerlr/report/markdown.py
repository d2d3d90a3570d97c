"""The report's Markdown summary: one section per study, every number in a table.

Numbers are written with 4 significant digits (standard errors with 3, p-values with 2),
so a reader or a test can recompute each one from the Parquet dataset. An effect is
"mean ± standard error [95% t interval]"; a test "t, p, q" with q the Holm adjusted p
(:mod:`.verdicts`).
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

from layerlr.report.curvature import claim_text, decide
from layerlr.report.gaps import FIT_T, PARTS
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
from layerlr.report.verdicts import NOMINAL

LISTED_SEEDS = 1000  # open tests needing more fresh seeds than this are counted, not listed


def render(results: Path, out: Path, reports: list[StudyReport]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# layerlr report: {results}", "",
             (f"Written {now} from `{results / 'trials'}` "
              f"(`pandas.read_parquet('{results / 'trials'}')` reads the same rows)."), ""]
    if not reports:
        lines += ["No finished trials in this directory yet.", ""]
    for r in reports:
        lines += _study(r, out)
    return "\n".join(lines) + "\n"


def _study(r: StudyReport, out: Path) -> list[str]:
    s = r.study
    lines = [f"## Study `{s.name}`", "", *_state(r), ""]
    lines += [f"Objective: {s.objective} loss. Budget exponents: B = {s.scale:g} h^alpha.", ""]
    lines += [f"> {note}" for note in s.notes] + ([""] if s.notes else [])
    lines += _verdicts(r) + _curvatures(r) + _confirmed(r) + _open(r)
    lines += _gaps(r) + _gap_fits(r) + _best(r) + _carry(r) + _scaling(r)
    lines += ["### Figures", ""]
    lines += [f"![{f.stem}]({os.path.relpath(f, out)})" for f in r.figures] + [""]
    return lines


def _state(r: StudyReport) -> list[str]:
    usable = sum(len(rows["trial"].unique()) for _, rows in r.study.cells())
    state = r.study.state
    if state is None:
        return [f"Trials in the dataset: {usable} usable (storage not read)."]
    counts = ", ".join(f"{n} {k.lower()}" for k, n in sorted(state.counts.items()))
    if state.running:
        return [(f"**This study is running** (driver {state.driver}): this report covers "
                 f"the {usable} trials finished so far ({counts}); run `layerlr report` "
                 "again when it ends.")]
    left = state.counts.get("RUNNING", 0) + state.counts.get("WAITING", 0)
    if left:
        return [(f"**Interrupted** with {left} trials unfinished ({counts}): `layerlr run` "
                 f"resumes it; this report covers the {usable} usable trials.")]
    return [f"Finished: {counts}; {usable} usable trials (complete, not diverged)."]


def _correction(r: StudyReport) -> str:
    c = r.correction
    if c is None:
        return ""
    seeds = sorted({t.seeds for cell in r.cells for row in cell.curvatures
                    for t in (row.surrogate, row.gd) if t is not None and t.seeds})
    at = ", ".join(f"|t| ≥ {_num(cutoff_t(c.cutoff, n), 3)} with {n} seeds" for n in seeds)
    where = f"p ≤ {_p(c.cutoff)} ({at})" if c.findings else "none (no p small enough)"
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


def _verdicts(r: StudyReport) -> list[str]:
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
    text += _swept(r)
    return _table(title, text, ["cell", "claim", "verdict", "closed form",
                                f"GD ({r.study.gd_loss})", "budgets", "sloped"], rows) + \
        _evidence_table(r)


def _evidence_table(r: StudyReport) -> list[str]:
    """Per measured claim: what decided it (or what would), and its false-positive bounds."""
    rows = [["surrogate" if c.loss == "surrogate" else f"GD ({r.study.gd_loss})", c.cell,
             claim_text(c.step), c.verdict, _because(c), _rate(c.false_yes),
             _rate(c.false_no)]
            for c in r.claims if c.loss != "theory" and c.verdict != "—"]
    if not rows:
        return []
    return _table("Evidence behind each verdict",
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
    return (f"B = {_num(b.budget)} {b.quantity}: t = {_num(b.test.t, 3)} ({b.test.df} df), "
            f"p = {_p(b.test.p)}, q = {_p(b.adjusted)}")


def _swept(r: StudyReport) -> str:
    """What a first-rest sweep varies, for the verdicts' text."""
    which = r.study.config.search.diagonal_steps if r.study.config else "all"
    if which == "all":
        return ""
    swept = "step 1" if which == "first" else "steps 2 and later"
    return (f" This is a first-rest sweep: only {swept} take the budget's split, the other "
            "steps the equal split of the same rate sum; every step's loss is tested along "
            "that split.")


def _curvatures(r: StudyReport) -> list[str]:
    if not any(c.curvatures for c in r.cells):
        return []
    q = {(b.cell, b.step, b.budget, b.loss, b.quantity): b.adjusted for b in r.tests}
    rows = []
    for c in r.cells:
        for t in c.curvatures:
            theory = "—" if t.theory is None else _exact(t.theory)
            head = [c.cell, t.step, _num(t.budget), _num(t.alpha), f"±{_num(100 * t.spacing)}%",
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
    return _table("Curvature at the equal split",
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
        return f"{_num(c.mean)} (sloped: dL/du = {_num(c.slope)})"
    return f"{_num(c.mean)} ({c.verdict})"


def _seeds(cur: Curvature, row: CurvatureRow) -> str:
    return f"{cur.seeds} fresh" if row.replaced else str(cur.seeds)


def _test(t: TTest | None, adjusted: float | None = None) -> list[str]:
    """mean ± se, [interval], t, p and the adjusted p of a test."""
    if t is None:
        return ["—"] * 5
    lo, hi = interval(t)
    return [_pm(Estimate(t.mean, t.se)), f"[{_num(lo)}, {_num(hi)}]", _num(t.t, 3), _p(t.p),
            "—" if adjusted is None else _p(adjusted)]


def _confirmed(r: StudyReport) -> list[str]:
    rows = []
    for c in r.cells:
        for t in c.curvatures:
            if not t.replaced:
                continue
            for name, now, was in zip(("surrogate", "GD"), (t.surrogate, t.gd), t.replaced):
                for q in ("curvature", "slope"):
                    a, b = (getattr(x, f"{q}_test") for x in (was, now))
                    rows.append([c.cell, t.step, _num(t.budget), name, q, a.n,
                                 _pm(Estimate(a.mean, a.se)), _num(a.t, 3), _p(a.p), b.n,
                                 _pm(Estimate(b.mean, b.se)), _num(b.t, 3), _p(b.p),
                                 f"{_at(was, r)} → {now.position}"])
    if not rows:
        return []
    return _table("Confirmed budgets",
                  f"Budgets that `layerlr confirm` reran with fresh seeds (study "
                  f"`{r.confirmed_by}`): the fresh seeds alone decide them (a replication "
                  "that the selection of these budgets cannot bias) and their tests replace "
                  "the study's own in the correction. Position: at this report's cutoff, "
                  "with the study's seeds → with the fresh seeds.",
                  ["cell", "step", "B", "loss", "test", "seeds", "mean ± se", "t", "p",
                   "fresh seeds", "fresh mean ± se", "fresh t", "fresh p", "position"], rows)


def _at(was: Curvature, r: StudyReport) -> str:
    return decide(was, r.correction.cutoff if r.correction else 0.0).position


def _open(r: StudyReport) -> list[str]:
    if r.correction is None or not r.open:
        return []
    shown = sorted((b for b in r.open if b.needed is not None and b.needed <= LISTED_SEEDS),
                   key=lambda b: (b.needed, b.cell, b.step, b.budget))
    rows = [[b.cell, b.step, _num(b.budget), _num(b.alpha), b.loss, b.quantity, b.test.n,
             *_test(b.test, b.adjusted), b.needed] for b in shown]
    rest = len(r.open) - len(shown)
    return _table("Open tests",
                  f"Tests that are not findings: those with p < {NOMINAL:g}, and both tests "
                  "of every undecided budget of an undecided claim. *Fresh seeds*: how many "
                  "seeds would decide the observed effect at this study's next cutoff "
                  f"(p ≤ {_p(r.correction.next_cutoff)}), from its mean and spread: "
                  "`layerlr confirm RESULTS --seeds N` reruns the budgets that N seeds "
                  "would decide. A plug-in estimate: a rerun with that many decides a true "
                  "effect of the observed size about half of the time."
                  + (f" {rest} more need over {LISTED_SEEDS} seeds (or their effect is 0 "
                     "or within rounding)." if rest else ""),
                  ["cell", "step", "B", "alpha", "loss", "test", "seeds", "mean ± se",
                   "95% CI", "t", "p", "q", "fresh seeds"], rows)


def _gaps(r: StudyReport) -> list[str]:
    if not r.study.measured:
        return ["### Gap decomposition", "", "Nothing was measured (train.measure = false).",
                ""]
    rows = [[c.cell, g.step, g.trials, _ci(g.total), *(_ci(g.parts[p]) for p in PARTS)]
            for c in r.cells for g in c.gaps]
    text = ("Measured empirical loss minus the closed form (the exact expected surrogate "
            "loss of SPEC 6, 11, 12), split into test-set noise (empirical − population), "
            "self-interaction (population − surrogate) and finite-width fluctuation "
            "(surrogate − closed form); each averaged over the cell's trials seed by seed, "
            f"mean ± standard error over seeds [{100 * CONFIDENCE:g}% t interval]. Trials "
            "without an exact theory (absent) are left out where others have one.")
    if rows and all(g.total is None for c in r.cells for g in c.gaps):
        text += (" No closed form exists for these cells (—): the gap is measured against "
                 "the realized surrogate, and self-interaction is the GD − surrogate gap. "
                 "With a real data set the population loss is the held-out loss, so test "
                 "noise is 0. Self-interaction is — where the surrogate (GD on a loss "
                 "unbounded below) overflowed in some trial.")
    return _table("Gap decomposition", text,
                  ["cell", "step", "trials", "empirical − closed form", *PARTS], rows)


def _gap_fits(r: StudyReport) -> list[str]:
    if not r.gap_fits:
        return []
    rows = [[f.network or "—", f.depth, f.step, f.part, ", ".join(map(str, f.widths)),
             f"{_num(f.exponent)} ± {_num(f.se, 3)}", _num(f.chi2, 3),
             _num((f.exponent + 0.5) / f.se, 3)] for f in r.gap_fits]
    return _table("Gap scaling with width",
                  "Each gap part fitted as |gap| = c h^b across the widths of one network, "
                  "depth and step: weighted least squares of log|gap| on log h, weights "
                  "from each width's standard error (se/|gap|); b ± its standard error from "
                  "those weights; χ²/dof the fit's residual per degree of freedom (about 1 "
                  "when a power law fits within the errors; multiply the standard error by "
                  "its square root when larger); (b + 1/2)/se: how many standard errors b is "
                  f"from −1/2. Only parts of one sign and at least {FIT_T:g} standard errors "
                  "from 0 at every width are fitted.",
                  ["network", "depth", "step", "part", "widths", "exponent b", "χ²/dof",
                   "(b + 1/2)/se"], rows)


def _carry(r: StudyReport) -> list[str]:
    if not r.carry:
        return []
    rows = [[c.cell, c.winner_of, c.trial, c.step, c.seeds, _ci(Estimate(c.loss, c.se, c.seeds)),
             _ci(Estimate(c.gap, c.gap_se, c.seeds)),
             "—" if c.winner_of == c.step else _num(c.gap / c.gap_se, 3)] for c in r.carry]
    return _table("Winners at other steps",
                  "Cells listed with several objective steps (`-obj<step>`) searched the same "
                  "network for each step: the best trial of each, measured at every listed "
                  "step, and its loss there minus that step's own best (paired over seeds, "
                  "which the cells share; 0 on the diagonal): mean ± standard error [95% t "
                  "interval] over the seeds, and t (seeds − 1 degrees of freedom). A gap "
                  "whose interval lies above 0 means the winner of one step loses at the "
                  "other; each winner is the minimum of noisy estimates, which favours it.",
                  ["cell", "winner of step", "trial", "at step", "seeds",
                   f"{r.study.objective} loss", "minus that step's best", "t"], rows)


def _best(r: StudyReport) -> list[str]:
    rows = [[c.cell, b.step, b.trial, _pm(Estimate(b.loss, b.se)),
             ", ".join(_num(x) for x in b.rates), _num(b.budget), _num(b.alpha),
             _num(b.imbalance), "edge" if b.edge else ""]
            for c in r.cells for b in c.best]
    return _table("Best schedules",
                  "Per cell and step: the best schedule's rates at that step (for sweeps "
                  "with the same rates at every step, the best after each step separately); "
                  "B is the sweep's budget in diagonal studies, else the sum of the rates, "
                  "and alpha = log(B / c) / log(h). *edge*: the smallest or largest budget the "
                  "study searched (diagonal budgets, or within 2% of the ends of the alpha "
                  "range): the optimum may lie beyond it.",
                  ["cell", "step", "trial", f"{r.study.objective} loss", "rates", "B", "alpha",
                   "max/min", "edge"], rows)


def _scaling(r: StudyReport) -> list[str]:
    if not r.scaling:
        return ["### Width scaling", "", "Needs at least two widths at one depth.", ""]
    rows = [[s.depth, s.step, ", ".join(map(str, s.widths)),
             ", ".join(_num(a) for a in s.alphas),
             _num(s.slope) if s.se is None else f"{_num(s.slope)} ± {_num(s.se, 3)}",
             _num(s.residual, 3)]
            for s in r.scaling]
    header = ["depth", "step", "widths", "alpha*", "slope per doubling", "residual"]
    if any(s.network for s in r.scaling):  # mlp cells: one line per network too
        rows = [[s.network, *row] for s, row in zip(r.scaling, rows)]
        header = ["network", *header]
    return _table("Width scaling",
                  "alpha* of the best schedule against width; slope of the least-squares "
                  "line alpha* = a + b log2(h), with its standard error from the residuals "
                  "and the root mean square residual (both need three widths).", header, rows)


def _table(title: str, text: str, header: list[str], rows: list[list[object]]) -> list[str]:
    """A ``### title`` section: ``text``, then a Markdown table of ``rows``."""
    return [f"### {title}", "", text, "", _row(header), _row(["---"] * len(header)),
            *(_row(row) for row in rows), ""]


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def _ci(e: Estimate | None) -> str:
    """mean ± se [t interval] of an estimate over e.n seeds."""
    if e is None or math.isnan(e.mean):  # NaN: a surrogate that overflowed in some trial
        return "—"
    lo, hi = interval(TTest(e.mean, e.se, e.n, math.nan, math.nan))
    return f"{_pm(e)} [{_num(lo)}, {_num(hi)}]"


def _pm(e: Estimate | None) -> str:
    if e is None or math.isnan(e.mean):  # NaN: a surrogate that overflowed in some trial
        return "—"
    return f"{_num(e.mean)} ± {_num(e.se, 3)}"


def _rate(x: float) -> str:
    return f"{100 * x:.2g}%"


def _p(p: float) -> str:
    return "—" if math.isnan(p) else f"{p:.2g}"


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}g}"
