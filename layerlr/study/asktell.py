"""Ask and tell for a group of cells, in the one process that owns them.

An :class:`AskTell` holds the Optuna studies of some cells of a study and its own
connection to the storage. It asks batches of trials (the sampler proposes, the schedule
space turns parameters into schedules) and tells them once evaluated, then returns the
told trials' Parquet rows for the driver to write. It runs in the driver's process, or
as a Ray actor so that the cells' samplers work in parallel; either way the process that
asks a trial is the one that tells it, which Optuna's JournalStorage assumes (optuna
issue #6084).

Diagonal grids are enqueued as WAITING trials (:func:`~layerlr.study.trials.enqueue_grid`,
by the driver) and popped by ``ask``, so any number of processes share a grid without
running a point twice.
"""

from __future__ import annotations

import json
import math
import time
import zlib

import optuna
from optuna.trial import TrialState

from layerlr.results import table
from layerlr.setting import DIVERGENCE
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.records import Batch, Outcome, Told, train_of
from layerlr.study.space import suggest
from layerlr.study.storage import StorageSpec, flush, open_storage, study_name
from layerlr.study.trials import requeue

ASK_S = 0.5  # an ask returns after this long with the trials it has (TPE's cost per trial
# grows with the study: a batch sized on cheap trials must not take minutes to ask)


class QueueAwareStudy(optuna.Study):
    """An ``optuna.Study`` whose ask looks for queued (WAITING) trials only while
    :attr:`queued` says there may be some.

    ``Study.ask`` scans every trial of the study for WAITING ones before it creates a
    trial: O(trials) per ask, whatever the storage. A cell has WAITING trials only after
    a recovery, a lost batch or a grid's enqueue, all of which the driver knows of.
    """

    queued = True

    def _pop_waiting_trial_id(self) -> int | None:
        return super()._pop_waiting_trial_id() if self.queued else None


class AskTell:
    """Ask and tell for ``cells`` of ``cfg`` over one storage connection."""

    def __init__(self, spec: StorageSpec, cfg: StudyConfig, cells: list[str], salt: int,
                 layers: int, storage: optuna.storages.BaseStorage | None = None) -> None:
        """``storage``: one already open in this process (the driver's, which the local
        lane shares: one replay of the journal in memory, not two), else opened here."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.cfg, self.layers = cfg, layers
        self.storage = storage if storage is not None else open_storage(spec)
        self.cells = {c.name: c for c in cfg.cells() if c.name in cells}
        self.studies = {
            name: QueueAwareStudy(study_name(cfg.name, name), self.storage,
                                  sampler=optuna_sampler(cfg, cell, salt))
            for name, cell in self.cells.items()}
        self.open: dict[tuple[str, int], optuna.Trial] = {}  # asked here, not yet told
        self.best = {name: _best(study) for name, study in self.studies.items()}

    def ready(self) -> bool:
        """Answers once the sampler is up: the driver sends it work only then."""
        return True

    def ask(self, cell: str, size: int, queued: bool = True) -> Batch:
        """Ask ``size`` trials of ``cell`` and suggest their schedules; queued trials
        first, when ``queued`` says the cell may have some. Fewer when asking takes
        longer than ``ASK_S`` (at least one)."""
        start = time.perf_counter()
        study, of = self.studies[cell], self.cells[cell]
        study.queued = queued
        numbers, schedules = [], []
        for _ in range(size):
            trial = study.ask()
            schedules.append(suggest(trial, self.cfg, of))
            numbers.append(trial.number)
            self.open[cell, trial.number] = trial
            if time.perf_counter() - start > ASK_S:
                break
        return Batch(cell, numbers, schedules, time.perf_counter() - start, size, queued)

    def tell(self, batch: Batch, outcome: Outcome) -> Told:
        """Tell the batch's trials what ``outcome`` says, make it durable, return its rows.

        Each told trial carries one user attribute, "result": its schedule, the losses
        per step (mean, standard error and per-seed values), the closed form and where
        it ran; a trial whose evaluation raised carries "error" instead of the losses.
        A lost worker's trials are failed and their parameters queued again.
        """
        start = time.perf_counter()
        study = self.studies[batch.cell]
        trials = [self.open.pop((batch.cell, n)) for n in batch.numbers]
        told = Told(batch.cell, batch.numbers, error=outcome.error, lost=outcome.lost,
                    ask_s=batch.ask_s, worker_s=outcome.worker.get("seconds", 0.0),
                    node=outcome.worker.get("node"), asked=batch.asked, queued=batch.queued)
        if outcome.lost is not None:
            for trial in trials:
                requeue(study, trial)
            told.requeued = len(trials)
        elif outcome.error is not None:
            for trial, schedule in zip(trials, batch.schedules):
                trial.set_user_attr("result", json.dumps({"schedule": schedule}))
                trial.set_user_attr("error", outcome.error)
                study.tell(trial, state=TrialState.FAIL)
            told.failed = len(trials)
        else:
            self._tell_results(study, trials, batch, outcome, told)
        flush(self.storage)  # durable before the driver writes the rows
        frozen = [study._storage.get_trial(t._trial_id) for t in trials]
        told.rows = table(frozen, self.cells[batch.cell].setting, train_of(self.cfg),
                          self.layers)
        told.best = self.best[batch.cell]
        told.tell_s = time.perf_counter() - start
        return told

    def _tell_results(self, study: optuna.Study, trials: list, batch: Batch,
                      outcome: Outcome, told: Told) -> None:
        step = self.cells[batch.cell].objective_step  # a study may list several
        for trial, result, schedule in zip(trials, outcome.results, batch.schedules):
            result.update(schedule=schedule, **{k: outcome.worker.get(k)
                                                for k in ("node", "node_ip", "device")})
            objective = self.cfg.search.objective
            value = result[f"loss_{objective}"][step - 1]
            # the run the objective measures: the surrogate's own, else GD's (the theory's
            # value is not a run's: NaN means neither, inf an overflowed theory)
            at = result.get("surrogate_diverged_at" if objective == "surrogate"
                            else "diverged_at")
            run_diverged = at is not None and at <= step and objective != "theory"
            if run_diverged or not math.isfinite(value):
                value = DIVERGENCE
                told.diverged.append(f"{trial.number} (step {at})")
            trial.set_user_attr("result", json.dumps(result, allow_nan=True))
            study.tell(trial, value)
            self.best[batch.cell] = min(value, self.best[batch.cell] or math.inf)
        told.complete = len(trials)


def optuna_sampler(cfg: StudyConfig, cell: Cell, salt: int) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler, seeded per cell and per ``salt``.

    ``salt`` differs between the processes that sample one cell and between resumes, so
    that no two replay the same proposals. A grid's points are all enqueued
    (:func:`~layerlr.study.trials.enqueue_grid`), so its trials never reach the sampler.
    """
    kind = cfg.search.sampler
    seed = zlib.crc32(f"{cfg.search.seed}/{cell.name}/{salt}".encode())
    if kind in ("random", "grid"):
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def _best(study: optuna.Study) -> float | None:
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return min(values) if values else None
