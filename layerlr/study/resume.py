"""Taking up a study where it stopped: claiming it, recovering each cell, checking its
Parquet rows against the storage (the source of truth).

Trials left RUNNING by a driver that died are failed and their schedules queued again
(Optuna's heartbeat does not cover ask/tell); the Parquet dataset is verified (page
checksums) and must agree with the storage; finished trials missing from it are
written. A study under the same name with other settings is refused.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from layerlr.families import family
from layerlr.results import ResultsError, cell_dir, cell_trials, should_export, study_dir, write
from layerlr.study.cellrun import CellRun
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.lock import alive, claim
from layerlr.study.records import train_of
from layerlr.study.space import diagonal_points
from layerlr.study.storage import split_name, study_name
from layerlr.study.trials import enqueue_grid, finished, requeue


class StudyChanged(RuntimeError):
    """The study file changed under an existing study name."""


def claim_study(store, cfg: StudyConfig, restart: bool, results: Path, owner: str) -> None:
    """Refuse a study another live driver runs, and a name used with other settings;
    ``restart`` wipes the study (once no live driver holds it)."""
    names = [n for n in optuna.get_all_study_names(store) if split_name(n)[0] == cfg.name]
    studies = [optuna.load_study(study_name=n, storage=store) for n in names]
    for study in studies:
        held = study.user_attrs.get("driver")
        if held and held["owner"] != owner and alive(held):
            claim(study, owner)  # raises StudyLocked naming the driver
    if restart:
        for name in names:
            optuna.delete_study(study_name=name, storage=store)
        shutil.rmtree(study_dir(results, cfg.name), ignore_errors=True)
        return
    identity = cfg.identity()
    for study in studies:
        stored = study.user_attrs.get("config")
        if stored is not None:  # filled in with the defaults of keys added since
            stored = StudyConfig.from_identity(cfg.name, stored).identity()
        if stored is not None and stored != identity:
            changes = "; ".join(_diff(stored, identity))
            raise StudyChanged(f"study '{cfg.name}' exists with other settings ({changes}); "
                               "rerun with --restart to start it over, or give the study "
                               "a new name")


def open_cell(store, cfg: StudyConfig, cell: Cell, results: Path, owner: str, layers: int,
              echo: Callable[[str], None]) -> CellRun:
    """The cell's study, recovered: stale trials requeued, grid queued, Parquet checked."""
    study = optuna.create_study(storage=store, study_name=study_name(cfg.name, cell.name),
                                direction="minimize", load_if_exists=True)
    if "config" not in study.user_attrs:
        study.set_user_attr("config", cfg.identity())
    if "groups" not in study.user_attrs:  # the rates' names, eta1 ... etaK (SPEC 13)
        study.set_user_attr("groups", list(family(cell.setting.family).group_names(
            cell.setting)))
    claim(study, owner)
    grid = cfg.search.is_diagonal and cfg.search.sampler == "grid"
    target = len(diagonal_points(cfg, cell)) if grid else cfg.search.n_trials
    stale = recover(study)
    if stale:
        echo(f"{cell.name}: {stale} trials left running by an earlier driver were failed and "
             "their schedules queued again")
    if grid:
        enqueue_grid(study, cfg, cell)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    run = CellRun(cell, study, target, grid=grid, complete=len(complete),
                  queued=sum(t.state == TrialState.WAITING for t in trials),
                  batch=cfg.resources.batch_size or 2,
                  best=min((t.value for t in complete), default=None))
    run.exported = agree(study, results, cfg.name, cell.name)
    export(run, cfg, results, layers, finished(study))
    return run


def recover(study: optuna.Study) -> int:
    """Fail the trials a dead driver left RUNNING and queue their parameters. -> count."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        requeue(study, trial)
    return len(stale)


def agree(study: optuna.Study, results: Path, name: str, cell: str) -> set[int]:
    """Verify the cell's Parquet files and that they hold only what the storage holds.

    -> the trial numbers in Parquet. Raises :class:`~layerlr.results.ResultsError`
    (with the command that reconciles them) when Parquet has trials the storage does
    not, or with another state or value.
    """
    in_parquet = cell_trials(results, name, cell)
    if not in_parquet:
        return set()
    stored = {t.number: (t.state.name, t.value) for t in finished(study)
              if should_export(t)}
    extra = sorted(n for n in in_parquet if n not in stored)
    differ = sorted(n for n in in_parquet if n in stored
                    and not _same(in_parquet[n], stored[n]))
    if extra or differ:
        where = cell_dir(results, name, cell)
        raise ResultsError(
            f"{where} disagrees with the storage: {len(extra)} trials there are not in the "
            f"storage{_example(extra)} and {len(differ)} have another state or value"
            f"{_example(differ)}. "
            "The storage is the source of truth: rewrite the dataset from it with "
            f"`layerlr rebuild --results {results}` (and the same --storage), or start "
            "over with `layerlr run STUDY --restart`")
    return set(in_parquet)


def _same(a: tuple[str, float | None], b: tuple[str, float | None]) -> bool:
    return a[0] == b[0] and (a[1] == b[1] or (a[1] is None and b[1] is None)
                             or (a[1] is not None and b[1] is not None
                                 and math.isnan(a[1]) and math.isnan(b[1])))


def _example(numbers: list[int]) -> str:
    return f" (e.g. trial {numbers[0]})" if numbers else ""


def export(run: CellRun, cfg: StudyConfig, results: Path, layers: int,
           trials: list[Any]) -> None:
    """Write the cell's ``trials`` that are not in Parquet yet."""
    write(results, cfg.name, run.cell.name, run.cell.setting, train_of(cfg), trials, layers,
          run.exported)


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out
