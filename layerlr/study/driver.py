"""The driver: Optuna ask/tell for every cell, batches of trials spread over Ray workers.

Data flow: validated config -> sampler proposes schedules (``ask``) -> a Ray worker
evaluates a batch with the engine -> results are told to Optuna (``tell``) -> the told
trials are written to Parquet from the storage.

Resume: trials left RUNNING by a driver that died are failed and their schedules
enqueued again (Optuna's heartbeat does not cover ask/tell), and finished trials missing
from Parquet are written, before any new trial is asked.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import TrialState

from layerlr import results as parquet
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.faults import fault
from layerlr.study.lock import BEAT_S, beat_lock, claim, release
from layerlr.study.progress import Progress
from layerlr.study.space import diagonal_points, suggest
from layerlr.study.storage import open_storage, redact, split_name, storage_url, study_name
from layerlr.study.worker import Pool

DIVERGED_VALUE = 1e6  # objective told for a diverged schedule: finite, so every sampler copes
TARGET_BATCH_S = 0.5  # batches grow until one takes about this long
GROW_S = 10  # how often the worker pool follows the cluster's size


class StudyChanged(RuntimeError):
    """The study file changed under an existing study name."""


@dataclass
class CellRun:
    """A cell's Optuna study and this run's bookkeeping."""

    cell: Cell
    study: optuna.Study
    target: int  # COMPLETE trials wanted
    complete: int = 0
    in_flight: int = 0
    told: int = 0  # this run
    failed: int = 0
    diverged: int = 0
    batch: int = 2  # trials in the next batch
    layers: int = 2  # rate columns of the Parquet dataset
    exported: set[int] = field(default_factory=set)  # trial numbers already in Parquet
    started: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> int:
        return self.target - self.complete - self.in_flight


@dataclass
class RunSummary:
    results: Path
    storage: str  # redacted
    complete: int = 0
    failed: int = 0
    diverged: int = 0
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    nodes: set[str] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time by activity

    @contextmanager
    def timed(self, activity: str):
        """Add the wall time of the block to ``seconds[activity]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[activity] = (self.seconds.get(activity, 0.0)
                                      + time.perf_counter() - start)


def run_study(cfg: StudyConfig, results: str | Path, storage: str | None = None,
              address: str | None = None, restart: bool = False,
              echo: Callable[[str], None] = print, progress: bool = True,
              dashboard_host: str = "127.0.0.1") -> RunSummary:
    """Run every cell of ``cfg`` to its trial count; resumable (see the module doc).

    ``storage`` is any SQLAlchemy URL (default: RESULTS/optuna.db); ``address`` joins a
    Ray cluster, else a local Ray starts with its dashboard on ``dashboard_host``.
    """
    results = Path(results)
    url = storage_url(results, storage)
    store = open_storage(url)
    summary = RunSummary(results, redact(url))
    owner = uuid.uuid4().hex
    _claim(store, cfg, restart, results)
    runs = [_open_cell(store, cfg, cell, results, owner) for cell in cfg.cells()]
    try:
        for run in runs:
            _recover(run, cfg, results, echo)
        if any(run.remaining > 0 for run in runs):
            _connect(address, dashboard_host)
            with summary.timed("loop"):
                _loop(runs, cfg, results, summary, echo, progress, owner)
        for run in runs:
            _export(run, cfg, results, _finished(run.study))
    finally:
        for run in runs:
            release(run.study, owner)
    summary.complete = sum(run.complete for run in runs)
    return summary


def _connect(address: str | None, dashboard_host: str) -> None:
    """Join ``address``, or start a local Ray whose dashboard listens on dashboard_host."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address="local", log_to_driver=False, configure_logging=False,
                 dashboard_host=dashboard_host)


def _claim(store, cfg: StudyConfig, restart: bool, results: Path) -> None:
    """Refuse a study name already used with other settings; ``restart`` wipes it first.

    Every cell study of the name records the study's identity; a changed file (say a
    new width) differs from it even where the cell itself is new.
    """
    names = [n for n in optuna.get_all_study_names(store) if split_name(n)[0] == cfg.name]
    if restart:
        for name in names:
            optuna.delete_study(study_name=name, storage=store)
        shutil.rmtree(parquet.study_dir(results, cfg.name), ignore_errors=True)
        return
    identity = cfg.identity()
    for name in names:
        stored = optuna.load_study(study_name=name, storage=store).user_attrs.get("config")
        if stored is not None:  # filled in with the defaults of keys added since
            stored = StudyConfig.from_identity(cfg.name, stored).identity()
        if stored is not None and stored != identity:
            changes = "; ".join(_diff(stored, identity))
            raise StudyChanged(f"study '{cfg.name}' exists with other settings ({changes}); "
                               "rerun with --restart to start it over, or give the study "
                               "a new name")


def _open_cell(store, cfg: StudyConfig, cell: Cell, results: Path, owner: str) -> CellRun:
    study = optuna.create_study(storage=store, study_name=study_name(cfg.name, cell.name),
                                direction="minimize", load_if_exists=True)
    if "config" not in study.user_attrs:
        study.set_user_attr("config", cfg.identity())
    claim(study, owner)
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    study.sampler = _sampler(cfg, cell, seed_salt=len(study.get_trials(deepcopy=False)))
    layers = parquet.dataset_layers(results, max(c.setting.layers for c in cfg.cells()))
    return CellRun(cell, study, _target(cfg, cell), complete,
                   batch=cfg.resources.batch_size or 2, layers=layers,
                   exported=parquet.exported(results, cfg.name, cell.name))


def _target(cfg: StudyConfig, cell: Cell) -> int:
    if cfg.search.is_diagonal and cfg.search.sampler == "grid":
        return len(diagonal_points(cfg, cell))
    return cfg.search.n_trials


def _sampler(cfg: StudyConfig, cell: Cell, seed_salt: int) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded per cell.

    Stochastic samplers are also reseeded per resume, so that a rerun does not replay
    the proposals already made. GridSampler is not: its seed fixes the order of the
    grid, which must stay the same across resumes.
    """
    kind = cfg.search.sampler
    if kind == "grid":
        space = {"point": list(range(len(diagonal_points(cfg, cell))))}
        return optuna.samplers.GridSampler(
            space, seed=zlib.crc32(f"{cfg.search.seed}/{cell.name}".encode()))
    seed = zlib.crc32(f"{cfg.search.seed}/{cell.name}/{seed_salt}".encode())
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def _recover(run: CellRun, cfg: StudyConfig, results: Path, echo) -> None:
    """Fail trials a dead driver left RUNNING, enqueue their schedules, fill Parquet."""
    stale = run.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        _tell(run.study, trial.number, state=TrialState.FAIL)
        if trial.params:
            run.study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number},
                                    skip_if_exists=False)
    if stale:
        echo(f"{run.cell.name}: {len(stale)} trials left running by an earlier driver were "
             f"failed and their schedules queued again")
    _export(run, cfg, results, _finished(run.study))


def _finished(study: optuna.Study) -> list[Any]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))


def _export(run: CellRun, cfg: StudyConfig, results: Path, trials: list[Any]) -> None:
    parquet.write(results, cfg.name, run.cell.name, run.cell.setting, _train(cfg), trials,
                  run.layers, run.exported)


def _train(cfg: StudyConfig) -> dict[str, Any]:
    """What a worker needs of [train], as plain values."""
    return {"seeds": list(cfg.train.seeds), "protocol": cfg.train.protocol,
            "dtype": cfg.train.dtype}


def _tell(study: optuna.Study, trial: Any, **kwargs: Any) -> None:
    """study.tell, tolerating GridSampler's Study.stop() outside optimize.

    GridSampler calls Study.stop() after the last grid point, which raises under
    ask/tell (optuna issues #4121, #5141); the trial is stored before that happens.
    """
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise


def _loop(runs: list[CellRun], cfg: StudyConfig, results: Path, summary: RunSummary, echo,
          show: bool, owner: str) -> None:
    pool = Pool(cfg.resources)
    pool.grow()
    in_flight: dict[Any, tuple[Any, CellRun, list[Any], list]] = {}
    setting_of = {run.cell.name: run.cell.setting.to_dict() for run in runs}
    train = _train(cfg)
    progress = Progress(runs, echo if show else None)
    echo = progress.say(echo)
    stopping, turn, beat, grown = False, 0, time.monotonic(), time.monotonic()
    echo(f"running {len(runs)} cells on {len(pool.starting)} Ray workers; storage "
         f"{summary.storage}; results {results}")
    try:
        while True:
            try:
                while pool.idle and not stopping:
                    open_runs = [r for r in runs if r.remaining > 0]
                    if not open_runs:
                        break
                    run = _next_run(open_runs, pool.last.get(pool.idle[0]), turn)
                    turn += 1
                    trials, schedules = _ask(run, cfg, min(run.batch, run.remaining), summary)
                    fault("asked")
                    actor = pool.take(run.cell.name)
                    ref = actor.evaluate.remote(setting_of[run.cell.name], train, schedules)
                    in_flight[ref] = (actor, run, trials, schedules)
                if not in_flight and (stopping or all(r.remaining <= 0 for r in runs)):
                    break
                pending = list(in_flight) + list(pool.starting)
                with summary.timed("waiting"):
                    ready = ray.wait(pending, num_returns=1, timeout=1.0)[0] if pending \
                        else time.sleep(1.0) or []
                for ref in ready:
                    if ref in pool.starting:
                        pool.started(ref)
                        continue
                    actor, run, trials, schedules = in_flight.pop(ref)
                    with summary.timed("storage"):
                        died = _receive(ref, run, trials, schedules, cfg, summary, echo)
                    if died:
                        pool.lost(actor)
                    else:
                        pool.idle.append(actor)
                    fault("told")
                    with summary.timed("parquet"):
                        _export(run, cfg, results, [_frozen(run.study, t) for t in trials])
                    fault("exported")
                now = time.monotonic()
                if now - grown > GROW_S or not (pool.live or pool.starting):
                    grown = now
                    pool.grow()
                if now - beat > BEAT_S:
                    beat = now
                    for run in runs:
                        beat_lock(run.study, owner)
                progress.update()
            except KeyboardInterrupt:
                if stopping:
                    raise
                stopping = summary.interrupted = True
                echo(f"stopping: finishing {len(in_flight)} batches in flight "
                     "(Ctrl-C again to quit at once; a rerun resumes either way)")
    finally:
        pool.shutdown()
    progress.update(final=True)


def _next_run(open_runs: list[CellRun], last: str | None, turn: int) -> CellRun:
    """The cell of the next batch: the next idle worker's last cell while it has work
    (the worker keeps that cell's step-1 work), else the cells in turn."""
    same = [r for r in open_runs if r.cell.name == last]
    return same[0] if same else open_runs[turn % len(open_runs)]


def _ask(run: CellRun, cfg: StudyConfig, size: int,
         summary: RunSummary) -> tuple[list[Any], list]:
    trials, schedules = [], []
    for _ in range(size):
        with summary.timed("sampler"):  # ask() and the suggest calls: where samplers work
            trial = run.study.ask()
            schedule = suggest(trial, cfg, run.cell)
        trials.append(trial)
        schedules.append(schedule.tolist())
    run.in_flight += size
    return trials, schedules


def _receive(ref: Any, run: CellRun, trials: list[Any], schedules: list, cfg: StudyConfig,
             summary: RunSummary, echo) -> bool:
    """Tell the batch's trials. -> True when the worker died (its trials are queued again).

    Each told trial carries one user attribute, "result": its schedule, the losses per
    step (mean and standard error over seeds), the closed form and where it ran; a
    trial whose evaluation raised carries "error" instead of the losses.
    """
    run.in_flight -= len(trials)
    try:
        out = ray.get(ref)
    except ray.exceptions.RayActorError as err:
        for trial in trials:  # the worker died: nothing was measured, run them again
            _tell(run.study, trial, state=TrialState.FAIL)
            run.study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
        echo(f"{run.cell.name}: a worker died ({type(err).__name__}); its "
             f"{len(trials)} trials are queued again")
        return True
    except ray.exceptions.RayTaskError as err:
        cause = err.cause if getattr(err, "cause", None) is not None else err
        message = f"{type(cause).__name__}: {cause}"
        for trial, schedule in zip(trials, schedules):
            trial.set_user_attr("result", {"schedule": schedule})
            trial.set_user_attr("error", message)
            _tell(run.study, trial, state=TrialState.FAIL)
        run.failed += len(trials)
        summary.failed += len(trials)
        summary.errors.append(f"{run.cell.name} trials {trials[0].number}-"
                              f"{trials[-1].number}: {message}")
        echo(f"{run.cell.name}: trials {trials[0].number}-{trials[-1].number} failed: {message}")
        return False
    step, diverged = run.cell.objective_step, []
    for trial, result, schedule in zip(trials, out["results"], schedules):
        result.update(schedule=schedule, node=out["node"], node_ip=out["node_ip"],
                      device=out["device"])
        value = result[f"loss_{cfg.search.objective}"][step - 1]
        if result["diverged_at"] is not None and result["diverged_at"] <= step or value != value:
            value = DIVERGED_VALUE
            diverged.append(f"{trial.number} (step {result['diverged_at']})")
        trial.set_user_attr("result", result)
        _tell(run.study, trial, values=value)
    if diverged:
        run.diverged += len(diverged)
        summary.diverged += len(diverged)
        echo(f"{run.cell.name}: trials {', '.join(diverged)} diverged; told as "
             f"{DIVERGED_VALUE:g}, their losses from that step on are null in Parquet")
    summary.nodes.add(out["node"])
    summary.seconds["worker"] = summary.seconds.get("worker", 0.0) + out["seconds"]
    run.complete += len(trials)
    run.told += len(trials)
    per_trial = out["seconds"] / len(trials)
    run.batch = cfg.resources.batch_size or max(
        1, min(4 * run.batch, int(TARGET_BATCH_S / max(per_trial, 1e-6))))
    return False


def _frozen(study: optuna.Study, trial: Any) -> Any:
    return study._storage.get_trial(trial._trial_id)


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def rebuild_results(results: str | Path, storage: str | None = None,
                    study: str | None = None) -> dict[str, int]:
    """Rewrite the Parquet dataset of every study in the storage (or of ``study``).

    Each study's files are removed and written again from its finished trials, so a
    damaged or lost file is recovered from the source of truth. -> rows per study.
    """
    results = Path(results)
    store = open_storage(storage_url(results, storage))
    by_study: dict[str, list[str]] = {}
    for name in optuna.get_all_study_names(store):
        owner, cell = split_name(name)
        if study is None or owner == study:
            by_study.setdefault(owner, []).append(cell)
    rows = {}
    for owner, cells in by_study.items():
        first = optuna.load_study(study_name=study_name(owner, cells[0]), storage=store)
        cfg = StudyConfig.from_identity(owner, first.user_attrs["config"])
        shutil.rmtree(parquet.study_dir(results, owner), ignore_errors=True)
        layers = max(c.setting.layers for c in cfg.cells())
        rows[owner] = 0
        for cell in cfg.cells():
            if cell.name not in cells:
                continue
            trials = _finished(optuna.load_study(study_name=study_name(owner, cell.name),
                                                 storage=store))
            rows[owner] += parquet.write(results, owner, cell.name, cell.setting, _train(cfg),
                                         trials, layers, set())
    return rows
