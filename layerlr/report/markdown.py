"""The report's Markdown summary: one section per study, every number in a table.

Numbers are written with 4 significant digits (standard errors with 3), so a reader or a
test can recompute each one from the Parquet dataset.
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from layerlr.report.curvature import Curvature, claim, claim_text
from layerlr.report.gaps import PARTS, Estimate

if TYPE_CHECKING:
    from layerlr.report.build import StudyReport


def render(results: Path, out: Path, reports: list[StudyReport]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# layerlr report: {results}", "",
             f"Written {now} from `{results / 'trials'}` "
             f"(`pandas.read_parquet('{results / 'trials'}')` reads the same rows).", ""]
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
    lines += _verdicts(r) + _curvatures(r) + _gaps(r) + _best(r) + _carry(r) + _scaling(r)
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
        return [f"**This study is running** (driver {state.driver}): this report covers "
                f"the {usable} trials finished so far ({counts}); run `layerlr report` "
                "again when it ends."]
    left = state.counts.get("RUNNING", 0) + state.counts.get("WAITING", 0)
    if left:
        return [f"**Interrupted** with {left} trials unfinished ({counts}): `layerlr run` "
                f"resumes it; this report covers the {usable} usable trials."]
    return [f"Finished: {counts}; {usable} usable trials (complete, not diverged)."]


def _verdicts(r: StudyReport) -> list[str]:
    title = "Phase verdicts (SPEC 8)"
    if not any(c.curvatures for c in r.cells):
        return [f"### {title}", "",
                "No diagonal sweeps (search.diagonal or search.diagonal_alpha) in this "
                "study: the curvature tests need points along a budget around the equal "
                "split.", ""]
    rows = []
    for c in r.cells:
        for step in sorted({t.step for t in c.curvatures}):
            tests = [t for t in c.curvatures if t.step == step]
            theory, surrogate, gd = (_claim(step, [getattr(t, name) for t in tests])
                                     for name in ("theory", "surrogate", "gd"))
            verdict = surrogate if r.study.measured else theory
            sloped = sum(t.surrogate is not None and t.surrogate.sloped for t in tests)
            rows.append([c.cell, claim_text(step), f"**{verdict}**", theory, gd, len(tests),
                         f"{sloped}/{len(tests)}"])
    text = ("Each claim is decided by the curvature test at the equal split (next table) over "
            "every budget of the cell: *yes* when every budget shows it, *no* when one shows "
            "the opposite, *undecided* otherwise. ")
    text += ("The verdict is the realized surrogate's, the quantity whose expected value the "
             "theory (SPEC 6, 11, 12: exact where not —) gives; the theory's and the GD "
             "loss's are beside it. Where GD differs, self-interaction (see the gap "
             "decomposition) shapes the GD loss. *Sloped*: budgets where the surrogate's "
             "slope dL/du at the equal split is more than 3 standard errors from 0 (and "
             "beyond rounding) and puts the parabola's vertex outside the three points: the "
             "loss falls to one side, the optimum is unequal, which counts for step 1's claim "
             "and against a later step's (the linear families' slope there is 0 in "
             "expectation)." if r.study.measured else
             "Nothing was measured (train.measure = false): the verdict is the exact "
             "theory's.")
    text += _swept(r)
    return _table(title, text, ["cell", "claim", "verdict", "closed form",
                                f"GD ({r.study.gd_loss})", "budgets", "sloped"], rows)


def _claim(step: int, tests: list[Curvature | None]) -> str:
    """The claim over a cell's budgets, or — where a test is missing."""
    return "—" if any(t is None for t in tests) else claim(step, [t.position for t in tests])


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
    rows = [[c.cell, t.step, _num(t.budget), _num(t.alpha), f"±{_num(100 * t.spacing)}%",
             "—" if t.theory is None else f"{_num(t.theory.mean)} ({t.theory.verdict})",
             _pm(t.surrogate), _verdict(t.surrogate), _slope(t.surrogate), _pm(t.gd),
             _verdict(t.gd), _slope(t.gd)]
            for c in r.cells for t in c.curvatures]
    return _table("Curvature at the equal split",
                  "B is the sweep's budget (its points' rates sum to N s <= B, SPEC 9); "
                  "d²L/du² with u = eta1 / (the point's rate sum), from the three points "
                  "nearest the equal split (spacing: their half-width relative to the equal "
                  "rate B/K); mean ± standard error over seeds, of per-seed curvatures "
                  "(paired across the points); the slope dL/du of the same parabolas at the "
                  "equal split, marked * when the budget is sloped (see above).",
                  ["cell", "step", "B", "alpha", "spacing", "closed form", "surrogate",
                   "surrogate verdict", "surrogate slope", f"GD ({r.study.gd_loss})",
                   "GD verdict", "GD slope"], rows)


def _gaps(r: StudyReport) -> list[str]:
    if not r.study.measured:
        return ["### Gap decomposition", "", "Nothing was measured (train.measure = false).",
                ""]
    rows = [[c.cell, g.step, g.trials, _pm(g.total), *(_pm(g.parts[p]) for p in PARTS)]
            for c in r.cells for g in c.gaps]
    text = ("Measured empirical loss minus the closed form (the exact expected surrogate "
            "loss of SPEC 6, 11, 12), split into test-set noise (empirical − population), "
            "self-interaction (population − surrogate) and finite-width fluctuation "
            "(surrogate − closed form); each averaged over the cell's trials seed by seed, "
            "mean ± standard error over seeds. Trials without an exact theory (absent) are "
            "left out where others have one.")
    if rows and all(g.total is None for c in r.cells for g in c.gaps):
        text += (" No closed form exists for these cells (—): the gap is measured against "
                 "the realized surrogate, and self-interaction is the GD − surrogate gap. "
                 "With a real data set the population loss is the held-out loss, so test "
                 "noise is 0. Self-interaction is — where the surrogate (GD on a loss "
                 "unbounded below) overflowed in some trial.")
    return _table("Gap decomposition", text,
                  ["cell", "step", "trials", "empirical − closed form", *PARTS], rows)


def _carry(r: StudyReport) -> list[str]:
    if not r.carry:
        return []
    rows = [[c.cell, c.winner_of, c.trial, c.step, _pm(Estimate(c.loss, c.se)),
             _pm(Estimate(c.gap, c.gap_se))] for c in r.carry]
    return _table("Winners at other steps",
                  "Cells listed with several objective steps (`-obj<step>`) searched the same "
                  "network for each step: the best trial of each, measured at every listed "
                  "step, and its loss there minus that step's own best (paired over seeds, "
                  "which the cells share; 0 on the diagonal). A gap many standard errors "
                  "above 0 means the winner of one step loses at the other.",
                  ["cell", "winner of step", "trial", "at step",
                   f"{r.study.objective} loss", "minus that step's best"], rows)


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
             _num(s.slope) if s.se is None else f"{_num(s.slope)} ± {_num(s.se, 3)}"]
            for s in r.scaling]
    header = ["depth", "step", "widths", "alpha*", "slope per doubling"]
    if any(s.network for s in r.scaling):  # mlp cells: one line per network too
        rows = [[s.network, *row] for s, row in zip(r.scaling, rows)]
        header = ["network", *header]
    return _table("Width scaling",
                  "alpha* of the best schedule against width; slope of the least-squares "
                  "line alpha* = a + b log2(h), with its standard error from the residuals "
                  "(needs three widths).", header, rows)


def _table(title: str, text: str, header: list[str], rows: list[list[object]]) -> list[str]:
    """A ``### title`` section: ``text``, then a Markdown table of ``rows``."""
    return [f"### {title}", "", text, "", _row(header), _row(["---"] * len(header)),
            *(_row(row) for row in rows), ""]


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def _verdict(c: Curvature | None) -> str:
    return "—" if c is None else c.verdict


def _slope(c: Curvature | None) -> str:
    if c is None:
        return "—"
    text = f"{_num(c.slope)} ± {_num(c.slope_se, 3)}"
    return text + " *" if c.sloped else text


def _pm(e: Estimate | Curvature | None) -> str:
    if e is None or math.isnan(e.mean):  # NaN: a surrogate that overflowed in some trial
        return "—"
    return f"{_num(e.mean)} ± {_num(e.se, 3)}"


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}g}"
