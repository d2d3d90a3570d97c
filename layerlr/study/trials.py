"""What a run does to a cell's Optuna trials beyond ask and tell: failing and queueing
again the trials that will not be told, queueing a grid, reading the finished ones."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from layerlr.study.space import diagonal_points
from layerlr.study.storage import StorageError


def requeue(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> bool:
    """Fail a RUNNING trial that will not be told and queue its parameters again (a
    WAITING trial marked ``rerun_of``). -> False when it was finished meanwhile (told by
    a process that died after telling it)."""
    params = trial.params
    if not params and isinstance(trial, FrozenTrial):  # a queued trial asked, unsuggested
        params = trial.system_attrs.get("fixed_params", {})
    try:
        study.tell(trial.number, state=TrialState.FAIL)
    except StorageError:  # a RuntimeError too, but the storage failed: stop
        raise
    except (ValueError, RuntimeError):  # already finished
        return False
    if params:
        study.enqueue_trial(params, user_attrs={"rerun_of": trial.number})
    return True


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The cell's COMPLETE and FAIL trials."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))


def enqueue_grid(study: optuna.Study, cfg: Any, cell: Any) -> int:
    """Queue every grid point that no trial covers (COMPLETE, queued or running). -> queued.

    A point whose trial failed is queued again, so a rerun retries it.
    """
    points = len(diagonal_points(cfg, cell))
    covered = {t.params.get("point", t.system_attrs.get("fixed_params", {}).get("point"))
               for t in study.get_trials(deepcopy=False, states=(
                   TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING))}
    missing = [p for p in range(points) if p not in covered]
    for point in missing:
        study.enqueue_trial({"point": point})
    return len(missing)
