"""``layerlr confirm``: rerun the budgets behind a study's open tests with fresh seeds.

A report lists the tests that are not findings with the fresh seeds that would decide each
(:mod:`.verdicts`). Confirming study ``S`` with N seeds is a study of its own, ``S-confirm``:
the same models, training and sweep, but

- only the cells and budgets whose open tests N seeds would decide, and of each such
  budget only the three points of its stencil at every step (``search.only_points``);
- N fresh seeds, the integers after the largest of ``S``'s seeds.

It runs through :func:`layerlr.study.driver.run_study` like any study, in the same results
directory and storage, so it resumes like any run; its configuration (points and seeds) is
fixed when it first starts and read back from the storage on a rerun, so the points do not
move when a partial confirm changes the report. The report then decides the budgets it
reran from the fresh seeds alone: a replication, which the selection of those budgets by
their first seeds cannot bias.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from layerlr.report.records import CellReport, StudyReport
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.space import diagonal_points

SUFFIX = "-confirm"
MAX_NAME = 100  # study names are at most 100 characters (study.config.NAME)


class ConfirmError(ValueError):
    """A confirm that cannot run; the message says why and what to do (exit 2)."""


def confirm_name(study: str) -> str:
    name = study + SUFFIX
    if len(name) > MAX_NAME:
        raise ConfirmError(f"study '{study}': its confirm study '{name}' would be longer than "
                           f"{MAX_NAME} characters; rename the study")
    return name


def fresh_seeds(seeds: tuple[int, ...], count: int) -> tuple[int, ...]:
    """``count`` seeds after the largest of ``seeds``: new draws, none shared."""
    start = max(seeds) + 1
    return tuple(range(start, start + count))


def targets(report: StudyReport, seeds: int) -> dict[str, set[tuple[int, float]]]:
    """Per cell, the (step, budget) of every open test that ``seeds`` fresh seeds would
    decide (its seeds needed is known and at most ``seeds``)."""
    out: dict[str, set[tuple[int, float]]] = {}
    for b in report.open:
        if b.needed is not None and b.needed <= seeds:
            out.setdefault(b.cell, set()).add((b.step, b.budget))
    return out


def stencil_points(cfg: StudyConfig, cell: Cell, report: CellReport,
                   budgets: set[float]) -> tuple[int, ...]:
    """Indices into the cell's diagonal points (:func:`diagonal_points`) of the stencils of
    ``budgets`` (nominal, as the report quotes them) at every step."""
    full = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, only_points=None))
    points = diagonal_points(full, cell)
    eta1 = np.array([rates[0] for _, rates in points])
    total = np.array([sum(rates) for _, rates in points])
    flat = [line for lines in report.lines.values() for line in lines]
    picked = set()
    for line, row in zip(flat, report.curvatures, strict=True):
        if row.budget not in budgets:
            continue
        for x in line.x[line.stencil()]:
            hit = np.flatnonzero(np.isclose(eta1, x, rtol=1e-12, atol=0)  # line.budget: 6 decimals
                                 & np.isclose(total, line.budget, rtol=0, atol=1e-6))
            if len(hit) != 1:
                raise ConfirmError(f"cell {cell.name}: the point eta1 = {x:g} of budget "
                                   f"{row.budget:g} is not one of the study's diagonal "
                                   "points; was the study file changed?")
            picked.add(int(hit[0]))
    return tuple(sorted(picked))


def derived_config(cfg: StudyConfig, report: StudyReport, seeds: int) -> StudyConfig | None:
    """The confirm study of ``cfg`` for ``seeds`` fresh seeds, or None when no open test
    would be decided by that many."""
    want = targets(report, seeds)
    cells = {c.cell: c for c in report.cells}
    picks = {}
    for cell in cfg.cells():
        if cell.name in want:
            budgets = {budget for _, budget in want[cell.name]}
            picks[cell.name] = stencil_points(cfg, cell, cells[cell.name], budgets)
    if not picks:
        return None
    models = tuple(dataclasses.replace(m, depths=(d,), widths=(w,),
                                       activation=None if act is None else (act,))
                   for m in cfg.models for act in m.activations() for d in m.depths
                   for w in m.widths
                   if any(c.name in picks for c in _cells_of(cfg, m, act, d, w)))
    return dataclasses.replace(
        cfg, name=confirm_name(cfg.name), model=models,
        train=dataclasses.replace(cfg.train, seeds=fresh_seeds(cfg.train.seeds, seeds)),
        search=dataclasses.replace(cfg.search, only_points=tuple(sorted(picks.items()))))


def stored_config(storage: str, name: str) -> StudyConfig | None:
    """The configuration of study ``name`` as its storage recorded it, or None."""
    import optuna

    from layerlr.study.storage import open_storage, resolve, split_name

    store = open_storage(resolve(".", storage), create=False)
    for full in optuna.get_all_study_names(store):
        if split_name(full)[0] == name:
            attrs = optuna.load_study(study_name=full, storage=store).user_attrs
            if attrs.get("config"):
                return StudyConfig.from_identity(name, attrs["config"])
    return None


def _cells_of(cfg: StudyConfig, model, activation, depth: int, width: int) -> list[Cell]:
    one = dataclasses.replace(cfg, model=dataclasses.replace(
        model, depths=(depth,), widths=(width,),
        activation=None if activation is None else (activation,)))
    return one.cells()
