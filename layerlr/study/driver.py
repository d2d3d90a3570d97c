"""The driver: a study's cells run to their trial counts, resumably, on the local lane or Ray.

Data flow: validated config -> a sampler proposes schedules (``ask``) -> an evaluator
runs a batch with the engine -> the sampler tells Optuna -> the driver writes the told
trials' rows to Parquet. The driver owns the bookkeeping, not the trials: samplers and
evaluators run in its process (:class:`~layerlr.study.lanes.LocalLane`) or on Ray
(:class:`~layerlr.study.lanes.RayLanes`).

Before anything is written the study file, the storage URL and the resources are
checked, and a cluster given by ``--address`` must answer. Resume: trials left RUNNING
by a driver that died are failed and their schedules enqueued again (Optuna's heartbeat
does not cover ask/tell); the Parquet dataset is verified (page checksums) and must
agree with the storage; finished trials missing from it are written.
"""

from __future__ import annotations

import json
import math
import queue
import re
import shutil
import signal
import time
import uuid
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from layerlr import results as parquet
from layerlr.study.config import Cell, StudyConfig
from layerlr.study.faults import fault
from layerlr.study.lanes import WAIT_S, Job, LocalLane, RayLanes
from layerlr.study.lock import BEAT_S, StudyLocked, alive, beat_lock, claim, release
from layerlr.study.progress import Progress
from layerlr.study.sampler import CellSampler, Told, enqueue_grid, train_of
from layerlr.study.space import diagonal_points
from layerlr.study.storage import (
    StorageError,
    StorageSpec,
    open_storage,
    resolve,
    split_name,
    study_name,
    watch,
)
from layerlr.study.worker import PlanError, local_node, plan, ray_nodes

TARGET_BATCH_S = 0.5  # batches grow until one takes about this long, ask and tell included
GROW_S = 10  # how often the worker pool follows the cluster's size
FAIL_STREAK = 3  # a cell whose batches fail this many times in a row with one error stops
RDB_BATCH = 32  # an RDB storage re-reads a study's unfinished trials on each ask: cap them
RAY_PAYS_S = 20.0  # a local run starts Ray when its projected time on one lane exceeds this
RAY_PAYS_CPUS = 4  # ... on a machine with this many CPUs: on 2 cores a local Ray's samplers
# and evaluator halve the rate of tiny trials (benchmarks/throughput.py, scaling table)
CONNECT_S = 30  # longest wait for a Ray cluster given by --address
LANE_JOIN_S = 120  # longest wait, when a run ends, for the local lane to finish its batch
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # both stop a run cleanly, twice at once


class StudyChanged(RuntimeError):
    """The study file changed under an existing study name."""


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached."""


@dataclass
class CellRun:
    """A cell's Optuna study (in the driver's storage) and this run's bookkeeping."""

    cell: Cell
    study: optuna.Study
    target: int  # COMPLETE trials wanted
    grid: bool = False  # trials come from the queue of grid points
    queued: int = 0  # WAITING trials left to ask (a grid's points, trials queued again)
    complete: int = 0
    in_flight: int = 0
    told: int = 0  # this run
    failed: int = 0
    diverged: int = 0
    batch: int = 2  # trials in the next batch
    best: float | None = None
    exported: set[int] = field(default_factory=set)  # trial numbers already in Parquet
    streak: tuple[str | None, int] = (None, 0)  # the last error and how often in a row
    stopped: str | None = None  # why this cell asks no more
    cost: float = 0.0  # seconds per trial, ask + evaluate + tell, last batch
    batches: int = 0  # told this run
    started: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> int:
        if self.stopped:
            return 0
        if self.grid:
            return self.queued
        return self.target - self.complete - self.in_flight


@dataclass
class RunSummary:
    results: Path
    storage: str  # redacted
    complete: int = 0
    told: int = 0  # trials told by this run
    failed: int = 0
    diverged: int = 0
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    nodes: set[str] = field(default_factory=set)
    ray: bool = False  # whether this run started or joined Ray
    wall: float = 0.0  # seconds in run_study
    seconds: dict[str, float] = field(default_factory=dict)  # by activity, summed

    def per_trial(self) -> dict[str, float]:
        """Seconds per told trial by activity: ask and tell (in the samplers, storage
        included), evaluate (in the evaluators), parquet and driver (the driver's loop
        less its waiting, Parquet writes and Ray's start-up), and wall (the whole run)."""
        n = max(self.told, 1)
        s = self.seconds
        driver = (s.get("loop", 0.0) - s.get("waiting", 0.0) - s.get("parquet", 0.0)
                  - s.get("startup", 0.0))
        return {"ask": s.get("ask", 0.0) / n, "evaluate": s.get("worker", 0.0) / n,
                "tell": s.get("tell", 0.0) / n, "parquet": s.get("parquet", 0.0) / n,
                "driver": max(driver, 0.0) / n, "wall": self.wall / n}

    def add(self, activity: str, seconds: float) -> None:
        self.seconds[activity] = self.seconds.get(activity, 0.0) + seconds

    @contextmanager
    def timed(self, activity: str):
        """Add the wall time of the block to ``seconds[activity]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(activity, time.perf_counter() - start)


def run_study(cfg: StudyConfig, results: str | Path, storage: str | None = None,
              address: str | None = None, restart: bool = False,
              echo: Callable[[str], None] = print, progress: bool = True,
              dashboard_host: str = "127.0.0.1") -> RunSummary:
    """Run every cell of ``cfg`` to its trial count; resumable (see the module doc).

    ``storage`` is a journal path, Redis or SQLAlchemy URL (default: the journal
    RESULTS/optuna.log); ``address`` joins a Ray cluster, else the run starts in the
    driver's process and starts a local Ray (dashboard on ``dashboard_host``) when Ray
    would pay for its start-up.
    """
    begin = time.perf_counter()
    results = Path(results)
    check_results_dir(results)
    spec = resolve(results, storage)
    nodes = connect(address, dashboard_host) if address else [local_node()]
    check_fits(cfg, nodes)
    try:  # the first thing written
        results.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise parquet.ResultsError(f"cannot make the results directory {results}: "
                                   f"{err.strerror or err}") from None
    store = open_storage(spec)
    summary = RunSummary(results, spec.shown, ray=bool(address))
    owner = uuid.uuid4().hex
    claim_study(store, cfg, restart, results, owner)
    runs: list[CellRun] = []
    try:
        layers = parquet.dataset_layers(results, max(c.setting.layers for c in cfg.cells()))
        for cell in cfg.cells():
            runs.append(open_cell(store, cfg, cell, results, owner, layers, echo))
        if any(run.remaining > 0 for run in runs):
            Execution(cfg, spec, runs, results, summary, layers, owner, echo, progress,
                      address, dashboard_host).run()
        for run in runs:
            export(run, cfg, results, layers, finished(run.study))
    except StorageError:  # gone, damaged or silent: nothing more is written to it (the
        runs = []  # rerun finds the driver's lock stale)
        raise
    finally:
        for run in runs:
            try:
                release(run.study, owner)
            except StorageError:  # the storage is gone: the run's own error says so
                break
    summary.complete = sum(run.complete for run in runs)
    summary.wall = time.perf_counter() - begin
    return summary


def check_results_dir(results: Path) -> None:
    if results.exists() and not results.is_dir():
        raise parquet.ResultsError(f"--results {results} is a file, not a directory; give a "
                                   "directory (it is created if missing)")


def connect(address: str, dashboard_host: str = "127.0.0.1") -> list[dict]:
    """Join the Ray cluster at ``address`` within ``CONNECT_S``. -> its alive nodes."""
    import ray

    if not ray.is_initialized():
        _reachable(address)
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray_nodes()


def _reachable(address: str) -> None:
    """Refuse at once an address whose GCS port does not answer (Ray would retry for
    minutes)."""
    from layerlr.study.network import Unreachable, reachable

    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        reachable(host or "127.0.0.1", int(port), CONNECT_S)
    except (Unreachable, ValueError) as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: "
                           f"{getattr(err, 'reason', None) or err}") from None


def check_fits(cfg: StudyConfig, nodes: list[dict]) -> None:
    """Refuse resources the cluster cannot provide and cells that cannot fit in memory.

    Raises :class:`~layerlr.study.worker.PlanError` (bad input) naming the key.
    """
    from layerlr.memory import footprint

    slots = plan(cfg.resources, nodes)
    per_node: dict[str, int] = {}
    for slot in slots:
        per_node[slot.node] = per_node.get(slot.node, 0) + 1
    if not cfg.train.measure:  # the theory alone draws and trains nothing
        return
    memory = min(n["memory"] / per_node.get(n["id"], 1) for n in nodes if n["id"] in per_node)
    itemsize = 4 if cfg.train.dtype == "float32" else 8
    for cell in cfg.cells():
        draws, schedule = footprint(cell.setting, len(cfg.train.seeds), cfg.train.steps,
                                    itemsize)
        need = draws + schedule
        if need > 0.8 * memory:
            raise PlanError(
                f"model (cell {cell.name}): one worker needs about {need / 2**30:.3g} GiB "
                f"(draws of {len(cfg.train.seeds)} seeds and one schedule), more than the "
                f"{memory / 2**30:.3g} GiB a worker has here; lower model.width, n, d or "
                "test_size, use fewer seeds, or fewer workers per node")


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
        shutil.rmtree(parquet.study_dir(results, cfg.name), ignore_errors=True)
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
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except StorageError:  # a RuntimeError too, but the storage failed: stop
            raise
        except (ValueError, RuntimeError):  # finished meanwhile by the dead driver's sampler
            continue
        params = trial.params or trial.system_attrs.get("fixed_params")
        if params:
            study.enqueue_trial(params, user_attrs={"rerun_of": trial.number})
    return len(stale)


def agree(study: optuna.Study, results: Path, name: str, cell: str) -> set[int]:
    """Verify the cell's Parquet files and that they hold only what the storage holds.

    -> the trial numbers in Parquet. Raises :class:`~layerlr.results.ResultsError`
    (with the command that reconciles them) when Parquet has trials the storage does
    not, or with another state or value.
    """
    in_parquet = parquet.cell_trials(results, name, cell)
    if not in_parquet:
        return set()
    stored = {t.number: (t.state.name, t.value) for t in finished(study)
              if parquet.should_export(t)}
    extra = sorted(n for n in in_parquet if n not in stored)
    differ = sorted(n for n in in_parquet if n in stored
                    and not _same(in_parquet[n], stored[n]))
    if extra or differ:
        where = parquet.cell_dir(results, name, cell)
        raise parquet.ResultsError(
            f"{where} disagrees with the storage: {len(extra)} trials there are not in the "
            f"storage{_e(extra)} and {len(differ)} have another state or value{_e(differ)}. "
            "The storage is the source of truth: rewrite the dataset from it with "
            f"`layerlr rebuild --results {results}` (and the same --storage), or start "
            "over with `layerlr run STUDY --restart`")
    return set(in_parquet)


def _same(a: tuple[str, float | None], b: tuple[str, float | None]) -> bool:
    return a[0] == b[0] and (a[1] == b[1] or (a[1] is None and b[1] is None)
                             or (a[1] is not None and b[1] is not None
                                 and math.isnan(a[1]) and math.isnan(b[1])))


def _e(numbers: list[int]) -> str:
    return f" (e.g. trial {numbers[0]})" if numbers else ""


def finished(study: optuna.Study) -> list[Any]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))


def export(run: CellRun, cfg: StudyConfig, results: Path, layers: int,
           trials: list[Any]) -> None:
    parquet.write(results, cfg.name, run.cell.name, run.cell.setting, train_of(cfg), trials,
                  layers, run.exported)


class Execution:
    """The run loop: hand out batches, record told ones, watch the run's surroundings."""

    def __init__(self, cfg: StudyConfig, spec: StorageSpec, runs: list[CellRun],
                 results: Path, summary: RunSummary, layers: int, owner: str,
                 echo: Callable[[str], None], show: bool, address: str | None,
                 dashboard_host: str) -> None:
        import threading

        self.cfg, self.spec, self.results, self.summary = cfg, spec, results, summary
        self.layers, self.owner, self.address = layers, owner, address
        self.dashboard_host = dashboard_host
        self.runs = {run.cell.name: run for run in runs}
        self.progress = Progress(runs, echo if show else None)
        self.echo = self.progress.say(echo)
        self.lock = threading.Lock()  # the runs' counters, shared with the local lane
        self.watch = watch(spec)
        self.results_there = results.is_dir()
        self.settings = {run.cell.name: run.cell.setting.to_dict() for run in runs}
        self.train = train_of(cfg)
        self.node = local_node()
        self.local: LocalLane | None = None
        self.ray: RayLanes | None = None
        self.stopping = False
        self.signals = 0  # Ctrl-C and SIGTERM received
        self.turn = 0
        self.beat = self.grown = time.monotonic()

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        wait = LANE_JOIN_S
        try:
            with self.summary.timed("loop"):
                self._loop()
        except KeyboardInterrupt:
            wait = 1.0  # a second Ctrl-C: quit at once
            self._abandon()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.local is not None:
                self.local.retire()  # it stops after its batch (or at its next storage error)
                self.local.join(wait)
            if self.ray is not None:
                self.ray.shutdown()
            self.progress.update(final=True)

    def _loop(self) -> None:
        if self.address or self._ray_at_once():
            self._start_ray()
        else:
            self._start_local()
        while True:
            if self.signals > 1:
                raise KeyboardInterrupt  # in case library code swallowed the handler's
            if self.signals and not self.stopping:
                self._stop()
            self._step()
            if self._done():
                return

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Ctrl-C or SIGTERM: the first asks the loop to stop cleanly (a flag, which no
        library call in progress can swallow, as Ray's start-up did with the
        KeyboardInterrupt), the second quits at once."""
        self.signals += 1
        if self.signals > 1:
            raise KeyboardInterrupt

    def _stop(self) -> None:
        self.stopping = self.summary.interrupted = True
        if self.local is not None:
            self.local.retire()
        self.echo(f"stopping: finishing the {self._flying()} trials in flight "
                  "(Ctrl-C again to quit at once; a rerun resumes either way)")

    def _step(self) -> None:
        self._drain_local()
        if self.ray is not None:
            self._assign_ray()
            self._wait_ray()
        elif self.local is not None:
            self._wait_local()
        self._watch()
        self.progress.update()
        if self.ray is None and not self.address and self._ray_pays():
            self._start_ray()

    def _done(self) -> bool:
        local_busy = self.local is not None and self.local.is_alive()
        ray_busy = self.ray is not None and self.ray.in_flight() > 0
        if local_busy or ray_busy or (self.local is not None and not self.local.out.empty()):
            return False
        return self.stopping or all(r.remaining <= 0 for r in self.runs.values())

    def _flying(self) -> int:
        return sum(r.in_flight for r in self.runs.values())

    # --- handing out work -------------------------------------------------------------

    def next_job(self, prefer: str | None = None, serves=None) -> Job | None:
        """The next batch to ask: the preferred cell while it has work (the evaluator
        keeps its step-1 work), else the cells in turn. Thread-safe."""
        with self.lock:
            if self.stopping:
                return None
            open_runs = [r for r in self.runs.values()
                         if r.remaining > 0 and (serves is None or serves(r.cell.name))]
            if not open_runs:
                return None
            same = [r for r in open_runs if r.cell.name == prefer]
            run = same[0] if same else open_runs[self.turn % len(open_runs)]
            self.turn += 1
            size = max(1, min(run.batch, run.remaining))
            run.in_flight += size
            queued = run.queued > 0
            run.queued = max(0, run.queued - size)
            name = run.cell.name
            return Job(name, size, self.settings[name], self.train, queued)

    def _local_job(self) -> Job | None:
        last = getattr(self, "_local_last", None)
        job = self.next_job(prefer=last)
        if job is not None:
            self._local_last = job.cell
        return job

    def _assign_ray(self) -> None:
        if self.stopping or not self.ray.ready:
            return
        if self.local is not None and self.local.is_alive():
            self.local.retire()  # Ray's lanes are up: the local lane finishes its batch
        for actor in self.ray.free():
            job = self.next_job(prefer=self.ray.pool.last.get(actor), serves=self.ray.serves)
            if job is None:
                return
            self.ray.submit(job, actor)
            fault("asked")

    # --- recording told batches -------------------------------------------------------

    def _drain_local(self) -> None:
        if self.local is None:
            return
        while True:
            try:
                item = self.local.out.get_nowait()
            except queue.Empty:
                return
            self._take(item)

    def _wait_local(self) -> None:
        try:
            with self.summary.timed("waiting"):
                item = self.local.out.get(timeout=WAIT_S)
        except queue.Empty:
            return
        self._take(item)

    def _take(self, item: Any) -> None:
        if isinstance(item, BaseException):
            raise item
        if item is not None:
            self.record(item)

    def _wait_ray(self) -> None:
        import ray

        events = self.ray.events()
        if not events:
            with self.summary.timed("waiting"):
                time.sleep(WAIT_S if self.local is None else 0.02)
            return
        with self.summary.timed("waiting"):
            ready, _ = ray.wait(events, num_returns=1, timeout=WAIT_S)
        for ref in ready:
            told = self.ray.handle(ref)
            if told is not None:
                self.record(told)

    def record(self, told: Told) -> None:
        """Count a told batch, write its rows, adapt the cell's next batch."""
        run = self.runs[told.cell]
        n = len(told.numbers)
        with self.lock:
            run.in_flight -= told.asked or n
            run.queued += told.requeued
            if told.queued:  # the queued trials an ask cut short left waiting
                run.queued += max(0, told.asked - n)
            run.complete += told.complete
            run.told += told.complete
            run.failed += told.failed
            run.diverged += len(told.diverged)
            if told.best is not None:
                run.best = min(told.best, run.best if run.best is not None else math.inf)
            self._adapt(run, told, n)
        self.summary.told += told.complete
        self.summary.failed += told.failed
        self.summary.diverged += len(told.diverged)
        for activity in ("ask_s", "tell_s", "worker_s"):
            self.summary.add(activity[:-2], getattr(told, activity))
        if told.node:
            self.summary.nodes.add(told.node)
        fault("told")
        with self.summary.timed("parquet"):
            if told.rows is not None:
                self._check_results()
                parquet.write_table(self.results, self.cfg.name, told.cell, told.rows,
                                    run.exported)
        fault("exported")
        self._say(run, told)

    def _adapt(self, run: CellRun, told: Told, n: int) -> None:
        """Next batch size: about TARGET_BATCH_S of ask, evaluation and tell."""
        run.cost = (told.ask_s + told.tell_s + told.worker_s) / max(n, 1)
        run.batches += 1
        if not self.cfg.resources.batch_size:
            run.batch = max(1, min(4 * run.batch, int(TARGET_BATCH_S / max(run.cost, 1e-6))))
            if self.spec.kind == "rdb":
                run.batch = min(run.batch, RDB_BATCH)
        if told.error is None:
            run.streak = (None, 0)
            return
        reason = re.sub(r"\d+", "#", told.error)  # "tried to allocate 912 MiB" and the like
        count = run.streak[1] + 1 if run.streak[0] == reason else 1
        run.streak = (reason, count)
        if count >= FAIL_STREAK:
            run.stopped = told.error

    def _say(self, run: CellRun, told: Told) -> None:
        first, last = told.numbers[0], told.numbers[-1]
        if told.lost is not None:
            self.echo(f"{told.cell}: a worker died ({told.lost}); its {len(told.numbers)} "
                      "trials are queued again")
        if told.error is not None:
            self.summary.errors.append(f"{told.cell} trials {first}-{last}: {told.error}")
            self.echo(f"{told.cell}: trials {first}-{last} failed: {told.error}")
            if run.stopped is not None and run.streak[1] == FAIL_STREAK:
                line = (f"{told.cell}: stopped after {FAIL_STREAK} batches in a row failed "
                        f"with the same error: {told.error}")
                self.summary.errors.append(line)
                self.echo(line)
        if told.diverged:
            self.echo(f"{told.cell}: trials {', '.join(told.diverged)} diverged; told as "
                      f"1e+06, their losses from that step on are null in Parquet")

    # --- surroundings -----------------------------------------------------------------

    def _watch(self) -> None:
        gone = self.watch.gone() if self.watch is not None else None
        if gone is not None:
            raise StorageError(gone + "; the trials told since cannot be kept")
        self._check_results()
        now = time.monotonic()
        if now - self.beat > BEAT_S:
            self.beat = now
            for run in self.runs.values():
                beat_lock(run.study, self.owner)
        if self.ray is not None and (now - self.grown > GROW_S or not (
                self.ray.pool.live or self.ray.pool.starting)):
            self.grown = now
            self.ray.pool.grow()

    def _check_results(self) -> None:
        if self.results_there and not self.results.is_dir():
            raise parquet.ResultsError(
                f"the results directory {self.results} was deleted during the run (with the "
                "Parquet dataset and any storage inside it); the run cannot go on")

    # --- lanes ------------------------------------------------------------------------

    def _start_local(self) -> None:
        node = self.node
        salt = self._salt("local")
        self.local = LocalLane(
            lambda: CellSampler(self.spec, self.cfg, list(self.runs), salt, self.layers),
            int(self.cfg.resources.cpus_per_worker or node["cpus"]),
            self.cfg.resources.memory_mb, self._local_job)
        self.local.start()

    def _ray_at_once(self) -> bool:
        """Ray from the start: resources that ask for it, or more GPUs than one."""
        r = self.cfg.resources
        return bool(r.workers or r.gpus_per_worker or self.node["gpus"] > 1)

    def _ray_pays(self) -> bool:
        """Whether starting Ray now beats finishing on the local lane: more than one cell
        can use the machine's CPUs in parallel and the projected local time is long."""
        open_runs = [r for r in self.runs.values() if r.remaining > 0]
        if self.stopping or len(open_runs) < 2 or self.node["cpus"] < RAY_PAYS_CPUS:
            return False
        # a cell's first batch pays its draws and warm-up: project from the later ones
        projected = sum(r.remaining * r.cost for r in open_runs if r.batches >= 2)
        return projected > RAY_PAYS_S

    def _start_ray(self) -> None:
        """Start or join Ray, then its samplers and evaluators (the local lane works on
        meanwhile, and retires once they are up)."""
        with self.summary.timed("startup"):
            self._start_ray_lanes()

    def _start_ray_lanes(self) -> None:
        import ray

        from layerlr.study.faults import environment
        from layerlr.study.worker import Pool

        if not ray.is_initialized():
            self.echo("starting a local Ray for the samplers and evaluators")
            ray.init(address="local", log_to_driver=False, configure_logging=False,
                     dashboard_host=self.dashboard_host)
            for sig in STOP_SIGNALS:  # Ray installs its own
                signal.signal(sig, self._on_signal)
        self.summary.ray = True
        env = environment()
        options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 0,
                                   "runtime_env": {"env_vars": env} if env else None}
        if not self.spec.shared:  # a file storage: on the driver's node, where the file is
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False)
        actor = ray.remote(CellSampler).options(**options)
        groups = self._sampler_groups()
        samplers = {}
        for i, cells in enumerate(groups):
            handle = actor.remote(self.spec, self.cfg, cells, self._salt(f"ray{i}"),
                                  self.layers)
            samplers.update({cell: handle for cell in cells})
        pool = Pool(self.cfg.resources)
        pool.grow()
        self.ray = RayLanes(samplers, pool)
        self.echo(f"running {len(self.runs)} cells with {len(groups)} samplers and "
                  f"{len(pool.starting)} Ray evaluators; storage {self.summary.storage}; "
                  f"results {self.results}")

    def _sampler_groups(self) -> list[list[str]]:
        """The cells spread over one sampler process per CPU that can host one."""
        import ray

        nodes = ray_nodes()
        if self.spec.shared:
            cpus = sum(n["cpus"] for n in nodes)
        else:
            here = ray.get_runtime_context().get_node_id()
            cpus = sum(n["cpus"] for n in nodes if n["id"] == here)
        cells = list(self.runs)
        count = max(1, min(len(cells), int(cpus)))
        return [cells[i::count] for i in range(count)]

    def _salt(self, lane: str) -> int:
        """Differs per lane and per resume: no two samplers replay the same proposals."""
        told = sum(len(r.study.get_trials(deepcopy=False)) for r in self.runs.values())
        return zlib.crc32(f"{lane}/{told}/{self.owner}".encode())

    # --- stopping at once -------------------------------------------------------------

    def _abandon(self) -> None:
        """A second Ctrl-C: stop every lane now; fail and queue again what they held."""
        numbers: dict[str, list[int]] = {}
        if self.ray is not None:
            numbers = self.ray.numbers_in_flight()
            self.ray.abandon()
        if self.local is not None and self.local.current is not None:
            batch = self.local.current
            numbers.setdefault(batch.cell, []).extend(batch.numbers)
        for cell, ns in numbers.items():
            study = self.runs[cell].study
            for n in ns:
                try:
                    trial = study.get_trials(deepcopy=False)[n]
                    if trial.state == TrialState.RUNNING:
                        study.tell(n, state=TrialState.FAIL)
                        study.enqueue_trial(trial.params, user_attrs={"rerun_of": n})
                except (ValueError, IndexError):
                    continue


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
        shutil.rmtree(parquet.study_dir(results, owner), ignore_errors=True)
        layers = max(c.setting.layers for c in cfg.cells())
        rows[owner] = 0
        for cell in cfg.cells():
            if cell.name not in cells:
                continue
            trials = finished(optuna.load_study(study_name=study_name(owner, cell.name),
                                                storage=store))
            rows[owner] += parquet.write(results, owner, cell.name, cell.setting,
                                         train_of(cfg), trials, layers, set())
    return rows


__all__ = ["ClusterError", "RunSummary", "StudyChanged", "StudyLocked", "rebuild_results",
           "run_study"]
