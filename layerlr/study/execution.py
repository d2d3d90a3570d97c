"""The run loop: hand out batches, record told ones, watch the run's surroundings.

Batches are asked, evaluated and told on a lane (:mod:`.lanes`): the driver's own
thread from the first second, and Ray's actors once Ray pays for its start-up (or from
the start, when the resources or a cluster ask for it). The driver counts each cell's
trials, writes the told rows to Parquet, adapts batch sizes, refreshes its locks, and
stops the run cleanly on Ctrl-C or SIGTERM. It never waits on a lane that cannot answer:
a lane that ended, or a Ray run whose evaluators are gone, stops the run with the reason.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerlr.results import ResultsError, write_table
from layerlr.setting import DIVERGENCE
from layerlr.study.asktell import AskTell
from layerlr.study.cellrun import FAIL_STREAK, CellRun
from layerlr.study.config import StudyConfig
from layerlr.study.faults import fault
from layerlr.study.lanes import (
    NO_EVALUATOR_S,
    WAIT_S,
    LocalLane,
    RayLanes,
    start_ray_lanes,
)
from layerlr.study.lock import BEAT_S, beat_lock
from layerlr.study.progress import Progress
from layerlr.study.records import Job, RunSummary, Told, train_of
from layerlr.study.storage import StorageError, StorageSpec, watch
from layerlr.study.trials import requeue
from layerlr.study.worker import local_node

GROW_S = 10  # how often the worker pool follows the cluster's size
RDB_BATCH = 32  # an RDB storage re-reads a study's unfinished trials on each ask: cap them
RAY_PAYS_S = 20.0  # a local run starts Ray when its projected time on one lane exceeds this
RAY_PAYS_CPUS = 4  # ... on a machine with this many CPUs: on 2 cores a local Ray's samplers
# and evaluator halve the rate of tiny trials (benchmarks/throughput.py, scaling table)
LANE_JOIN_S = 120  # longest wait, when a run ends, for the local lane to finish its batch
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # both stop a run cleanly, twice at once


class LaneError(RuntimeError):
    """A lane ended, or Ray lost every evaluator, with work left that nothing can do."""


class Execution:
    """Runs the cells of one study to their targets (see the module docstring)."""

    def __init__(self, cfg: StudyConfig, spec: StorageSpec, store: Any, runs: list[CellRun],
                 results: Path, summary: RunSummary, layers: int, owner: str,
                 echo: Callable[[str], None], show: bool, address: str | None,
                 dashboard_host: str) -> None:
        self.cfg, self.spec, self.store, self.results = cfg, spec, store, results
        self.summary = summary
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
        self.local_cell: str | None = None  # the cell of the local lane's last batch
        self.ray: RayLanes | None = None
        self.stopping = False
        self.signals = 0  # Ctrl-C and SIGTERM received
        self.turn = 0
        self.beat = self.grown = time.monotonic()

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        """The loop, with Ctrl-C and SIGTERM taken as stop requests (in the main thread:
        a run called from another thread leaves signals to its caller)."""
        main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS} \
            if main else {}
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
        library call in progress can swallow), the second quits at once."""
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
        """Every batch handed out is recorded, and no cell has work (or the run stops)."""
        if self._flying() or (self.local is not None and not self.local.out.empty()):
            return False
        return self.stopping or all(r.remaining <= 0 for r in self.runs.values())

    def _flying(self) -> int:
        return sum(r.in_flight for r in self.runs.values())

    # --- handing out work -------------------------------------------------------------

    def next_job(self, prefer: str | None = None,
                 serves: Callable[[str], bool] | None = None) -> Job | None:
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
        job = self.next_job(prefer=self.local_cell)
        if job is not None:
            self.local_cell = job.cell
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
                break
            self._take(item)
        if self.local.lost:
            left = {name: r.remaining for name, r in self.runs.items() if r.remaining > 0}
            raise LaneError(f"the local lane ended with work left ({left} trials to run; "
                            f"{self._flying()} in flight); rerun the same command to resume")

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
        with self.lock:
            run.count(told)
            run.adapt(told, self.cfg.resources.batch_size,
                      RDB_BATCH if self.spec.kind == "rdb" else None)
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
                write_table(self.results, self.cfg.name, told.cell, told.rows, run.exported)
        fault("exported")
        self._say(run, told)

    def _say(self, run: CellRun, told: Told) -> None:
        first, last = told.numbers[0], told.numbers[-1]
        if told.lost is not None:
            self.echo(f"{told.cell}: a worker died ({told.lost}); its {len(told.numbers)} "
                      "trials are queued again")
        if told.error is not None:
            self.summary.error(f"{told.cell} trials {first}-{last}: {told.error}")
            self.echo(f"{told.cell}: trials {first}-{last} failed: {told.error}")
            if run.stopped is not None and run.streak[1] == FAIL_STREAK:
                line = (f"{told.cell}: stopped after {FAIL_STREAK} batches in a row failed "
                        f"with the same error: {told.error}")
                self.summary.error(line)
                self.echo(line)
        if told.diverged:
            self.echo(f"{told.cell}: trials {', '.join(told.diverged)} diverged; told as "
                      f"{DIVERGENCE:g}, their losses from that step on are null in Parquet")

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
        if self.ray is not None:
            self._watch_ray(now)

    def _watch_ray(self, now: float) -> None:
        """Follow the cluster's size; stop when no evaluator has been up for long."""
        if now - self.grown > GROW_S or not (self.ray.pool.live or self.ray.pool.starting):
            self.grown = now
            self.ray.pool.grow()
        gone = self.ray.evaluators_gone_for()
        if gone > NO_EVALUATOR_S and not self._done():
            raise LaneError(f"no Ray evaluator has been alive for {gone:.0f} s (the "
                            "cluster cannot place one); rerun the same command to resume "
                            "once it can")

    def _check_results(self) -> None:
        if self.results_there and not self.results.is_dir():
            raise ResultsError(
                f"the results directory {self.results} was deleted during the run (with the "
                "Parquet dataset and any storage inside it); the run cannot go on")

    # --- lanes ------------------------------------------------------------------------

    def _start_local(self) -> None:
        salt = self._salt("local")
        self.local = LocalLane(
            lambda: AskTell(self.spec, self.cfg, list(self.runs), salt, self.layers,
                            self.store),
            int(self.cfg.resources.cpus_per_worker or self.node["cpus"]),
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
        """Start or join Ray, then its actors and evaluators (the local lane works on
        meanwhile, and retires once they are up)."""
        import ray

        with self.summary.timed("startup"):
            if not ray.is_initialized():
                self.echo("starting a local Ray for the samplers and evaluators")
                self._init_local_ray()
            self.summary.ray = True
            self.ray = start_ray_lanes(self.spec, self.cfg, list(self.runs), self.layers,
                                       self._salt)
        self.echo(f"running {len(self.runs)} cells with {len(set(self.ray.asktell_of.values()))}"
                  f" samplers and {len(self.ray.pool.starting)} Ray evaluators; storage "
                  f"{self.summary.storage}; results {self.results}")

    def _init_local_ray(self) -> None:
        """``ray.init`` of a local cluster. Ray puts its own SIGTERM handler in place while
        it starts (it raises SystemExit): a SIGTERM then quits at once, as a second one
        would; our handlers are put back as soon as it returns."""
        import ray

        try:
            ray.init(address="local", log_to_driver=False, configure_logging=False,
                     dashboard_host=self.dashboard_host)
        except SystemExit:
            raise KeyboardInterrupt from None
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig in STOP_SIGNALS:
                    signal.signal(sig, self._on_signal)

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
            self.ray.shutdown()
        if self.local is not None and self.local.current is not None:
            batch = self.local.current
            numbers.setdefault(batch.cell, []).extend(batch.numbers)
        for cell, ns in numbers.items():
            study = self.runs[cell].study
            trials = study.get_trials(deepcopy=False)
            for n in ns:
                if n < len(trials):
                    requeue(study, trials[n])
