"""``layerlr rebuild``: the Parquet dataset written again from the storage, the source of
truth (after a damaged or lost file, or a dataset that disagrees with the storage)."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna

from layerlr.results import study_dir, write
from layerlr.study.config import StudyConfig
from layerlr.study.records import train_of
from layerlr.study.storage import open_storage, resolve, split_name, study_name
from layerlr.study.trials import finished


def rebuild_results(results: str | Path, storage: str | None = None,
                    study: str | None = None) -> dict[str, int]:
    """Rewrite the Parquet dataset of every study in the storage (or of ``study``).

    Each study's files are removed and written again from its finished trials, so a
    damaged or lost file is recovered from the source of truth. -> rows per study.
    """
    results = Path(results)
    store = open_storage(resolve(results, storage), create=False)
    results.mkdir(parents=True, exist_ok=True)
    by_study: dict[str, list[str]] = {}
    for name in optuna.get_all_study_names(store):
        owner, cell = split_name(name)
        if study is None or owner == study:
            by_study.setdefault(owner, []).append(cell)
    rows = {}
    for owner, cells in by_study.items():
        first = optuna.load_study(study_name=study_name(owner, cells[0]), storage=store)
        cfg = StudyConfig.from_identity(owner, first.user_attrs["config"])
        shutil.rmtree(study_dir(results, owner), ignore_errors=True)
        layers = max(c.setting.layers for c in cfg.cells())
        rows[owner] = 0
        for cell in cfg.cells():
            if cell.name not in cells:
                continue
            trials = finished(optuna.load_study(study_name=study_name(owner, cell.name),
                                                storage=store))
            rows[owner] += write(results, owner, cell.name, cell.setting, train_of(cfg),
                                 trials, layers, set())
    return rows
