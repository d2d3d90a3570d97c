"""``layerlr report``: a results directory -> figures and a Markdown summary.

For every study in the dataset and every cell of it: the curvature tests at the equal
split (:mod:`.curvature`), the gap decomposition (:mod:`.gaps`) and the best schedules
(:mod:`.best`); across the study, the correction of its tests and its claims
(:mod:`.verdicts`), the width scaling of the best budget exponent and of the gaps. A study
``<name>-confirm`` written by ``layerlr confirm`` is folded into ``<name>``: its fresh
seeds decide the budgets it reran (:mod:`.confirm`). Figures go to
``OUT/figures/<study>/``, the summary to ``OUT/summary.md``.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from layerlr.report import curvature, figures, verdicts
from layerlr.report.baselines import baseline_gains
from layerlr.report.best import best_schedules, budget_exponent, carry_over, width_scaling
from layerlr.report.confirm import SUFFIX
from layerlr.report.data import StudyResults, load, seed_values
from layerlr.report.gaps import gap_fits, gaps
from layerlr.report.markdown import render
from layerlr.report.records import Best, CellReport, CurvatureRow, Line, Report, StudyReport
from layerlr.results import ResultsError

__all__ = ["Report", "analyse_cell", "make_report", "shown_steps"]


def make_report(results: str | Path, out: str | Path | None = None,
                storage: str | None = None,
                echo: Callable[[str], None] | None = None) -> Report:
    """Analyse every study in ``results`` and write ``out`` (default RESULTS/report)."""
    say = echo or (lambda line: None)
    out = Path(out) if out is not None else Path(results) / "report"
    with _writing(out):
        (out / "figures").mkdir(parents=True, exist_ok=True)
    reports = []
    studies = load(results, storage)
    names = {s.name for s in studies}
    confirms = {s.name[:-len(SUFFIX)]: s for s in studies
                if s.name.endswith(SUFFIX) and s.name[:-len(SUFFIX)] in names}
    for study in studies:
        if study in confirms.values():
            continue  # folded into the study it confirms
        fresh = dict(confirms[study.name].cells()) if study.name in confirms else {}
        report = analyse_study(study, fresh, say)
        if any(t.replaced for c in report.cells for t in c.curvatures):
            report.confirmed_by = confirms[study.name].name
        with _writing(out):
            _draw(report, out / "figures", say)
        reports.append(report)
    summary = out / "summary.md"
    with _writing(out):
        summary.write_text(render(Path(results), out, reports))
    say(f"summary: {summary}")
    return Report(out, summary, reports)


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """A report that cannot be written (a read-only or full folder): ResultsError, exit 3."""
    try:
        yield
    except OSError as err:
        raise ResultsError(f"cannot write the report in {out}: {err.filename or out} "
                           f"({err.strerror or err}); make {out} writable for this user and "
                           "free space there, or give --out elsewhere") from None


def analyse_study(study: StudyResults, fresh: dict[str, pd.DataFrame],
                  say: Callable[[str], None]) -> StudyReport:
    """Every cell of ``study`` (with ``fresh``: a confirm run's rows by cell), then the
    study-level correction, claims and fits."""
    cells, todo = [], study.cells()
    for i, (cell, rows) in enumerate(todo, start=1):
        say(f"{study.name}: analysing cell {cell} ({i}/{len(todo)})")
        cells.append(analyse_cell(cell, rows, study, fresh.get(cell)))
    corr, tests = verdicts.correct(cells)
    claims, opened = verdicts.claims(cells, corr, tests)
    steps = study.objective_steps
    return StudyReport(study, cells, width_scaling([b for c in cells for b in c.best]),
                       carry_over(todo, study.objective), claims=claims, tests=tests, open=opened,
                       correction=corr if tests else None, gap_fits=gap_fits(cells),
                       baselines=baseline_gains(todo, study.objective,
                                                steps[-1] if steps else None))


def analyse_cell(cell: str, rows: pd.DataFrame, study: StudyResults,
                 fresh: pd.DataFrame | None = None) -> CellReport:
    """One cell's tests (undecided until :func:`.verdicts.correct`), gaps and best
    schedules; ``fresh``: a confirm run's rows of this cell, whose budgets replace the
    study's own tests where they cover a stencil."""
    first = rows.iloc[0]
    depth, width, dtype = int(first["depth"]), int(first["width"]), str(first["dtype"])
    steps = shown_steps(sorted(int(s) for s in rows["step"].unique()),
                        study.objective_steps or ())
    rows = rows[rows["step"].isin(steps)]
    family = str(first["family"])
    lines = {t: curvature.lines(rows, t) for t in steps}
    tests = [_curvature_row(line, t, width, family, dtype, study,
                            _fresh_line(line, fresh, t) if fresh is not None else None)
             for t in steps for line in lines[t]]
    best = [_quote(b, study, family)
            for b in best_schedules(cell, rows, study.objective, study.scale)]
    parts = [g for t in steps if (g := gaps(rows, t)) is not None] if study.measured else []
    return CellReport(cell, depth, width, tests, parts, best, lines)


def shown_steps(steps: list[int], objective_steps: tuple[int, ...]) -> list[int]:
    """The steps a report covers: all of up to 5; of longer runs 1, 2, 5, 10, 20, 50, ...,
    the last and the objective steps."""
    if len(steps) <= 5:
        return steps
    marks = {steps[-1], *objective_steps}
    for base in (1, 2, 5):
        while base <= steps[-1]:
            marks.add(base)
            base *= 10
    return [t for t in steps if t in marks]


def _quote(best: Best, study: StudyResults, family: str) -> Best:
    """A best schedule quoted at its sweep's budget and exponent (diagonal studies),
    and marked when it lies at the edge of the budgets searched."""
    budget = study.nominal_budget(best.width, family, best.budget)
    alpha = budget_exponent(budget, study.scale, best.width)
    return dataclasses.replace(best, budget=budget, alpha=alpha,
                               edge=study.at_edge(best.width, family, budget, alpha))


def _curvature_row(line: Line, step: int, width: int, family: str, dtype: str,
                   study: StudyResults, fresh: Line | None) -> CurvatureRow:
    budget = study.nominal_budget(width, family, line.budget)
    theory = curvature.exact(line, line.rows["loss_theory"].to_numpy(float))

    def measured(on: Line) -> list:
        return [curvature.measured(on, seed_values(on.rows, f"loss_{name}"), dtype)
                if study.measured else None for name in ("surrogate", study.gd_loss)]

    row = CurvatureRow(step, budget, budget_exponent(budget, study.scale, width),
                       line.spacing(), theory, *measured(line))
    if fresh is None or not study.measured:
        return row
    surrogate, gd = measured(fresh)
    return dataclasses.replace(row, surrogate=surrogate, gd=gd,
                               replaced=(row.surrogate, row.gd))


def _fresh_line(line: Line, fresh: pd.DataFrame, step: int) -> Line | None:
    """The confirm run's line of the same budget and step whose stencil is this line's
    (the same three schedules), or None."""
    for other in curvature.lines(fresh, step):
        if abs(other.budget - line.budget) <= 1e-9 * line.budget and np.allclose(
                other.u[other.stencil()], line.u[line.stencil()], rtol=0, atol=1e-12):
            return other
    return None


def _draw(report: StudyReport, folder: Path, say: Callable[[str], None]) -> None:
    name, study = report.study.name, report.study
    jobs = []
    for c in report.cells:
        for step, lines in c.lines.items():
            if lines:
                jobs.append((f"landscape-{c.cell}-step{step}", figures.landscape,
                             (lines, step, study.objective, f"{name} {c.cell}: step {step}")))
    for step in sorted({g.step for c in report.cells for g in c.gaps}):
        cells = [(c.cell, g) for c in report.cells for g in c.gaps if g.step == step]
        against = ("closed form" if any(g.total is not None for _, g in cells)
                   else "surrogate")
        jobs.append((f"gaps-step{step}", figures.gap_bars,
                     (cells, step, f"{name}: measured - {against} after step {step}")))
    best = [b for c in report.cells for b in c.best]
    if best:
        jobs.append(("best", figures.best_shares, (best, f"{name}: best schedules")))
    if report.scaling:
        jobs.append(("scaling", figures.scaling, (report.scaling, f"{name}: alpha* vs width")))
    folder = folder / _safe(name)
    shutil.rmtree(folder, ignore_errors=True)  # an earlier report's figures, maybe stale
    folder.mkdir(parents=True)
    for i, (stem, draw, args) in enumerate(jobs, start=1):
        path = folder / f"{stem}.png"
        draw(*args, path)
        report.figures.append(path)
        say(f"{name}: figure {i}/{len(jobs)} {path}")


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
