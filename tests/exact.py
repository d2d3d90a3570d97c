"""What "resumed exactly" means, checked against the storage (the source of truth)."""

from __future__ import annotations

import optuna
import pandas as pd

from layerlr.study.storage import open_storage, resolve


def check_exact(results, cfg, target=None):
    """Exactly the target COMPLETE trials per cell in storage, and exactly their rows (and
    the rows of failed trials with their error, in the storage as FAIL, once each)."""
    storage = open_storage(resolve(results))
    frame = pd.read_parquet(results / "trials")
    assert not frame.duplicated(["cell", "trial", "step"]).any()
    for cell in cfg.cells():
        study = optuna.load_study(study_name=f"{cfg.name}/{cell.name}", storage=storage)
        complete = {t.number for t in study.trials if t.state.name == "COMPLETE"}
        assert len(complete) == (target or cfg.search.n_trials)
        assert not [t for t in study.trials if t.state.name == "RUNNING"]
        failed = {t.number for t in study.trials if t.state.name == "FAIL"
                  and "error" in t.user_attrs}
        rows = frame[frame.cell == cell.name]
        assert set(rows.trial) == complete | failed
        assert len(rows) == len(complete | failed) * cfg.train.steps
        assert set(rows[rows.state == "COMPLETE"].trial) == complete
