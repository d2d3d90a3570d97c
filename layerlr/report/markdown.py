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

from layerlr.report import verdict_tables
from layerlr.report.gaps import FIT_T, PARTS
from layerlr.report.records import Estimate, StudyReport
from layerlr.report.stats import CONFIDENCE
from layerlr.report.text import ci, num, p_value, pm, table


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
    lines += _groups(r)
    lines += verdict_tables.verdicts(r) + verdict_tables.curvatures(r)
    lines += verdict_tables.confirmed(r) + verdict_tables.open_tests(r)
    lines += _gaps(r) + _gap_fits(r) + _best(r) + _baselines(r) + _carry(r) + _scaling(r)
    lines += ["### Figures", ""]
    lines += [f"![{f.stem}]({os.path.relpath(f, out)})" for f in r.figures] + [""]
    return lines


def _state(r: StudyReport) -> list[str]:
    usable = sum(len(rows["trial"].unique()) for _, rows in r.study.cells())
    later = _diverged_later(r)  # a trial that diverged at step t > 1 keeps its rows before t
    kept = (f"complete, not diverged at step 1; {later} of them diverged later and count "
            "up to the step before" if later else "complete, not diverged")
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
    return [f"Finished: {counts}; {usable} usable trials ({kept})."]


def _groups(r: StudyReport) -> list[str]:
    """The rates' names where a cell's groups are not plain layers (the module family)."""
    named = {c: g for c, g in r.study.groups.items()
             if g != [f"layer{k}" for k in range(1, len(g) + 1)]}
    if not named:
        return []
    by_names: dict[tuple[str, ...], list[str]] = {}
    for cell, names in sorted(named.items()):
        by_names.setdefault(tuple(names), []).append(cell)
    return ["Rates eta1 ... etaK are those of the groups, in order:", "",
            *(f"- {', '.join(names)} ({len(cells)} cells: {', '.join(cells)})"
              for names, cells in by_names.items()), ""]


def _baselines(r: StudyReport) -> list[str]:
    if not r.baselines:
        return []
    rows = [[b.cell, b.baseline, b.step, b.gain.n,
             f"{num(b.loss)}{_accuracy(b.accuracy)} (trial {b.trial})",
             f"{num(b.baseline_loss)}{_accuracy(b.baseline_accuracy)} (trial {b.baseline_trial})",
             ci(Estimate(b.gain.mean, b.gain.se, b.gain.n)), num(b.gain.t, 3),
             p_value(b.gain.p)] for b in r.baselines]
    return table("Search against baselines",
                  "Each searched cell's best schedule against the best of the baselines "
                  "searched beside it (single: one rate for every group; decay: eta_k = "
                  "base decay^(K − k)), at the objective step: the gain is the baseline's "
                  f"{r.study.objective} loss minus the search's, paired over seeds, mean ± "
                  "standard error [95% t interval], t and two-sided p with seeds − 1 "
                  "degrees of freedom (not corrected for the number of rows). A gain above 0 "
                  "means the per-group search beat the baseline; both winners are minima of "
                  "noisy searches. Beside each loss, for classification, the held-out "
                  "accuracy (mean over seeds).",
                  ["cell", "baseline", "step", "seeds", "search's best", "baseline's best",
                   "gain", "t", "p"], rows)


def _accuracy(value: float) -> str:
    return f", accuracy {num(value)}" if math.isfinite(value) else ""


def _diverged_later(r: StudyReport) -> int:
    """Complete trials with usable rows that diverged at a later step."""
    f = r.study.frame
    done = f[f["state"] == "COMPLETE"]
    some_ok = done[~done["diverged"]].groupby(["cell", "trial"]).size().index
    some_bad = done[done["diverged"]].groupby(["cell", "trial"]).size().index
    return len(some_ok.intersection(some_bad))


def _gaps(r: StudyReport) -> list[str]:
    if not r.study.measured:
        return ["### Gap decomposition", "", "Nothing was measured (train.measure = false).",
                ""]
    rows = [[c.cell, g.step, g.trials, ci(g.total), *(ci(g.parts[p]) for p in PARTS)]
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
    return table("Gap decomposition", text,
                  ["cell", "step", "trials", "empirical − closed form", *PARTS], rows)


def _gap_fits(r: StudyReport) -> list[str]:
    if not r.gap_fits:
        return []
    rows = [[f.network or "—", f.depth, f.step, f.part, ", ".join(map(str, f.widths)),
             f"{num(f.exponent)} ± {num(f.se, 3)}", num(f.chi2, 3),
             num((f.exponent + 0.5) / f.se, 3)] for f in r.gap_fits]
    return table("Gap scaling with width",
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
    rows = [[c.cell, c.winner_of, c.trial, c.step, c.seeds, ci(Estimate(c.loss, c.se, c.seeds)),
             ci(Estimate(c.gap, c.gap_se, c.seeds)),
             "—" if c.winner_of == c.step else num(c.gap / c.gap_se, 3)] for c in r.carry]
    return table("Winners at other steps",
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
    rows = [[c.cell, b.step, b.trial, pm(Estimate(b.loss, b.se)),
             ", ".join(num(x) for x in b.rates), num(b.budget), num(b.alpha),
             num(b.imbalance), "edge" if b.edge else ""]
            for c in r.cells for b in c.best]
    header = ["cell", "step", "trial", f"{r.study.objective} loss", "rates", "B", "alpha",
              "max/min", "edge"]
    accuracy = [b.accuracy for c in r.cells for b in c.best]
    if any(math.isfinite(a) for a in accuracy):  # classification: held-out accuracy too
        rows = [[*row[:4], num(a) if math.isfinite(a) else "—", *row[4:]]
                for row, a in zip(rows, accuracy)]
        header.insert(4, "accuracy")
    return table("Best schedules",
                  "Per cell and step: the best schedule's rates at that step (for sweeps "
                  "with the same rates at every step, the best after each step separately); "
                  "B is the sweep's budget in diagonal studies, else the sum of the rates, "
                  "and alpha = log(B / c) / log(h). *edge*: the smallest or largest budget the "
                  "study searched (diagonal budgets, or within 2% of the ends of the alpha "
                  "range): the optimum may lie beyond it. *accuracy* (classification): the "
                  "held-out accuracy after that step, mean over seeds.",
                  header, rows)


def _scaling(r: StudyReport) -> list[str]:
    if not r.scaling:
        return ["### Width scaling", "", "Needs at least two widths at one depth.", ""]
    rows = [[s.depth, s.step, ", ".join(map(str, s.widths)),
             ", ".join(num(a) for a in s.alphas),
             num(s.slope) if s.se is None else f"{num(s.slope)} ± {num(s.se, 3)}",
             num(s.residual, 3)]
            for s in r.scaling]
    header = ["depth", "step", "widths", "alpha*", "slope per doubling", "residual"]
    if any(s.network for s in r.scaling):  # mlp cells: one line per network too
        rows = [[s.network, *row] for s, row in zip(r.scaling, rows)]
        header = ["network", *header]
    return table("Width scaling",
                  "alpha* of the best schedule against width; slope of the least-squares "
                  "line alpha* = a + b log2(h), with its standard error from the residuals "
                  "and the root mean square residual (both need three widths).", header, rows)
