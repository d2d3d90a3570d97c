""""Resumed exactly": what every fault test checks of a finished study, read back
independently of layerlr (a journal file through Optuna's own ``JournalFileBackend``)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd


def optuna_reader(storage: str | Path):
    """Optuna's own view of a storage: a journal file or Redis through its unmodified
    backends, anything else by URL."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    text = str(storage)
    if text.endswith(".log"):
        return JournalStorage(JournalFileBackend(text))
    if text.startswith(("redis://", "rediss://")):
        return JournalStorage(JournalRedisBackend(text))
    return text


def assert_exact(results: Path, study: str, cells: list[str], n_trials: int, steps: int,
                 storage: str | Path | None = None) -> None:
    """Every cell exactly ``n_trials`` COMPLETE trials and none RUNNING, and the Parquet
    rows of the results directory exactly the storage's finished trials, once each: the
    COMPLETE ones and the FAIL ones that carry their evaluation's error."""
    reader = optuna_reader(storage or Path(results) / "optuna.log")
    frame = pd.read_parquet(Path(results) / "trials")
    for cell in cells:
        trials = optuna.load_study(study_name=f"{study}/{cell}", storage=reader).trials
        complete = {t.number for t in trials if t.state.name == "COMPLETE"}
        assert len(complete) == n_trials, (cell, len(complete))
        assert not [t.number for t in trials if t.state.name == "RUNNING"], cell
        rows = frame[(frame.study == study) & (frame.cell == cell)]
        kept = rows[rows.state == "COMPLETE"]
        assert set(kept.trial) == complete and len(kept) == n_trials * steps, cell
        assert not rows.duplicated(["trial", "step"]).any(), cell
        failed = {t.number for t in trials if t.state.name == "FAIL" and "error" in t.user_attrs}
        assert set(rows.trial) == complete | failed, cell


def check_exact(results: Path, cfg, target: int | None = None) -> None:
    """:func:`assert_exact` for the study ``cfg`` (a StudyConfig) in its results directory;
    ``target``: COMPLETE trials per cell where it is not n_trials (a grid's points)."""
    assert_exact(results, cfg.name, [c.name for c in cfg.cells()],
                 target or cfg.search.n_trials, cfg.train.steps)
