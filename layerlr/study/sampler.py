"""Ask and tell for a group of cells, in the one process that owns them.

A :class:`CellSampler` holds the Optuna studies of some cells of a study and its own
connection to the storage. It asks batches of trials (the sampler proposes, the schedule
space turns parameters into schedules) and tells them once evaluated, then returns the
told trials' Parquet rows for the driver to write. It runs in the driver's process, or
as a Ray actor so that the cells' samplers work in parallel; either way the process that
asks a trial is the one that tells it, which Optuna's JournalStorage assumes (optuna
issue #6084).

Diagonal grids are enqueued as WAITING trials (:func:`enqueue_grid`, by the driver) and
popped by ``ask``, so any number of processes share a grid without running a point twice.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from layerlr import results as parquet
from layerlr.setting import DIVERGENCE
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.space import diagonal_points, suggest
from layerlr.study.storage import StorageSpec, flush, open_storage, study_name

ASK_S = 0.5  # an ask returns after this long with the trials it has (TPE's cost per trial
# grows with the study: a batch sized on cheap trials must not take minutes to ask)


@dataclass
class Batch:
    """Trials asked together for one cell, with their schedules (B, T, K) as lists."""

    cell: str
    numbers: list[int]
    schedules: list[list[list[float]]]
    ask_s: float = 0.0  # sampler time spent asking
    asked: int = 0  # the trials the driver asked for (``numbers`` may hold fewer)
    queued: bool = False  # the ask looked for queued trials first


@dataclass
class Outcome:
    """What became of a batch's evaluation: results, an error, or a lost worker."""

    results: list[dict] | None = None  # per schedule, from Evaluation.per_schedule()
    worker: dict[str, Any] = field(default_factory=dict)  # node, node_ip, device, seconds
    error: str | None = None  # the evaluation raised: the trials fail with this message
    lost: str | None = None  # the worker died: the trials are failed and queued again


@dataclass
class Told:
    """A told batch: counts for the driver, and the rows it writes to Parquet."""

    cell: str
    numbers: list[int]
    complete: int = 0
    failed: int = 0
    requeued: int = 0
    diverged: list[str] = field(default_factory=list)  # "number (step t)"
    error: str | None = None
    lost: str | None = None
    best: float | None = None  # the cell's best value so far
    rows: Any = None  # pyarrow.Table or None
    ask_s: float = 0.0
    tell_s: float = 0.0
    worker_s: float = 0.0
    node: str | None = None
    asked: int = 0  # as in the Batch
    queued: bool = False


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


class CellSampler:
    """Ask and tell for ``cells`` of ``cfg`` over one storage connection."""

    def __init__(self, spec: StorageSpec, cfg: StudyConfig, cells: list[str], salt: int,
                 layers: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.cfg, self.layers = cfg, layers
        self.storage = open_storage(spec)
        self.cells = {c.name: c for c in cfg.cells() if c.name in cells}
        self.studies = {
            name: QueueAwareStudy(study_name(cfg.name, name), self.storage,
                                  sampler=make_sampler(cfg, cell, salt))
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
        study, spec = self.studies[cell], self.cells[cell]
        study.queued = queued
        numbers, schedules = [], []
        for _ in range(size):
            trial = study.ask()
            schedules.append(suggest(trial, self.cfg, spec))
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
                study.tell(trial, state=TrialState.FAIL)
                study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
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
        told.rows = parquet.table(frozen, self.cells[batch.cell].setting, train_of(self.cfg),
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

    def abandon(self, batch: Batch) -> int:
        """Fail a batch that will not be evaluated and queue its trials again. -> trials."""
        study = self.studies[batch.cell]
        for n in batch.numbers:
            trial = self.open.pop((batch.cell, n))
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
        flush(self.storage)
        return len(batch.numbers)


def make_sampler(cfg: StudyConfig, cell: Cell, salt: int) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded per cell and per ``salt``.

    ``salt`` differs between the processes that sample one cell and between resumes, so
    that no two replay the same proposals. A grid's points are all enqueued
    (:func:`enqueue_grid`), so its trials never reach the sampler.
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


def enqueue_grid(study: optuna.Study, cfg: StudyConfig, cell: Cell) -> int:
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


def train_of(cfg: StudyConfig) -> dict[str, Any]:
    """What a worker and the Parquet rows need of [train], as plain values."""
    return {"seeds": list(cfg.train.seeds), "protocol": cfg.train.protocol,
            "dtype": cfg.train.dtype, "measure": cfg.train.measure}


def _best(study: optuna.Study) -> float | None:
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return min(values) if values else None
