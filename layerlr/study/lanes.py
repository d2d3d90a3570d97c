"""Where batches run: a lane in the driver's own process, and lanes on Ray.

- :class:`LocalLane` asks, evaluates and tells batches in a thread of the driver, with
  no Ray at all. It starts at once, so a local run works while Ray starts (or without
  Ray, when Ray would not pay for its start-up), and ends only when the driver retires
  it: when the run is done, stops, or moves to Ray.
- :class:`RayLanes` (made by :func:`start_ray_lanes`): one
  :class:`~layerlr.study.asktell.AskTell` actor per group of cells (their ask and tell run
  in parallel, on the driver's node for a file storage, anywhere for a server), and the
  evaluator :class:`~layerlr.study.worker.Pool`. A batch is asked by its cell's actor,
  evaluated by an evaluator that receives the asked batch straight from Ray's object
  store, and told by the same actor; each evaluator holds up to ``DEPTH`` batches so that
  it never waits for an ask.

Both hand the driver :class:`~layerlr.study.records.Told` batches to record.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerlr.study.asktell import AskTell
from layerlr.study.faults import fault
from layerlr.study.records import Batch, Job, Outcome, Told

DEPTH = 2  # batches an evaluator holds: one running, one queued behind it
READY_S = 15.0  # Ray's lanes wait this long for every planned evaluator before work starts
WAIT_S = 0.2  # longest wait for any one event before the driver checks on its run
IDLE_S = 0.05  # a local lane with nothing to ask looks again after this long
NO_EVALUATOR_S = 120.0  # a Ray run whose evaluators are all gone for this long stops


class LocalLane(threading.Thread):
    """Batches asked, evaluated and told in the driver's process, one at a time.

    ``next_job`` (called from this thread) hands out work; told batches and errors go
    to :attr:`out`. When it has nothing to hand out the lane waits and asks again: a
    batch the driver records may reopen a cell (trials failed, queued again, or an ask
    cut short). The lane ends only after :meth:`retire` (finishing the batch it holds)
    or with an error, which it puts on :attr:`out`.
    """

    def __init__(self, make_asktell: Callable[[], AskTell], threads: int,
                 memory_mb: int | None, next_job: Callable[[], Job | None]) -> None:
        super().__init__(name="layerlr-local-lane", daemon=True)
        self.make_asktell, self.threads, self.memory_mb = make_asktell, threads, memory_mb
        self.next_job = next_job
        self.out: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.held: Job | None = None  # handed out by next_job, not yet on ``out``
        self.current: Batch | None = None  # asked, not yet told

    def run(self) -> None:
        from layerlr.study.worker import Evaluator

        try:
            asktell = self.make_asktell()
            evaluator = Evaluator(self.threads, self.memory_mb, in_ray=False)
            while not self.stopping.is_set():
                self.held = job = self.next_job()
                if job is None:
                    self.stopping.wait(IDLE_S)
                    continue
                self.current = asktell.ask(job.cell, job.size, job.queued)
                fault("asked")
                outcome = evaluator.evaluate(job.setting, job.train, self.current)
                told = asktell.tell(self.current, outcome)
                self.current = None
                self.out.put(told)
                self.held = None
        except BaseException as err:  # a storage error: the driver stops the run with it
            self.out.put(err)
            self.held = None

    def retire(self) -> None:
        """Finish the batch in hand, then end."""
        self.stopping.set()

    @property
    def lost(self) -> bool:
        """The thread ended although it was not retired, or while holding a batch that it
        never handed back: its work can never be recorded."""
        if self.is_alive() or not self.out.empty():
            return False
        return not self.stopping.is_set() or self.held is not None


@dataclass
class InFlight:
    """A batch submitted to Ray: asked (ask_ref), then evaluated (eval_ref), then told."""

    job: Job
    asktell: Any
    actor: Any
    ask_ref: Any
    eval_ref: Any = None
    tell_ref: Any = None


class RayLanes:
    """AskTell actors per group of cells and the evaluator pool, driven by the driver."""

    def __init__(self, asktells: dict[str, Any], pool: Any) -> None:
        self.began = time.monotonic()
        self.asktell_of = asktells  # cell -> its AskTell actor
        self.pool = pool
        self.ready_asktells: set[Any] = set()
        self.starting = {s.ready.remote(): s for s in set(asktells.values())}
        self.load: dict[Any, int] = {}  # evaluator -> batches it holds
        self.flights: dict[Any, InFlight] = {}  # eval_ref or tell_ref -> batch
        self.seen_evaluator = time.monotonic()  # when an evaluator was last live or starting

    @property
    def ready(self) -> bool:
        """Whether work can go to Ray: some cell's actor is up, and every planned
        evaluator (or, after READY_S, at least one): work then spreads over the nodes."""
        if not (self.pool.live and self.ready_asktells):
            return False
        return not self.pool.starting or time.monotonic() - self.began > READY_S

    def serves(self, cell: str) -> bool:
        return self.asktell_of[cell] in self.ready_asktells

    def free(self) -> list[Any]:
        """Evaluators that can take another batch, least loaded first."""
        return sorted((a for a in self.pool.live if self.load.get(a, 0) < DEPTH),
                      key=lambda a: self.load.get(a, 0))

    def submit(self, job: Job, actor: Any) -> None:
        asktell = self.asktell_of[job.cell]
        ask_ref = asktell.ask.remote(job.cell, job.size, job.queued)
        flight = InFlight(job, asktell, actor, ask_ref)
        flight.eval_ref = actor.evaluate.remote(job.setting, job.train, ask_ref)
        self.flights[flight.eval_ref] = flight
        self.load[actor] = self.load.get(actor, 0) + 1
        self.pool.last[actor] = job.cell

    def events(self) -> list[Any]:
        return list(self.flights) + list(self.starting) + list(self.pool.starting)

    def handle(self, ref: Any) -> Told | None:
        """Act on a ready reference. -> a told batch, when ``ref`` was a tell."""
        import ray

        if ref in self.starting:
            asktell = self.starting.pop(ref)
            ray.get(ref)  # an actor that cannot start is a storage problem: raise it
            self.ready_asktells.add(asktell)
            return None
        if ref in self.pool.starting:
            self.pool.started(ref)
            return None
        flight = self.flights.pop(ref)
        if ref == flight.tell_ref:
            return ray.get(ref)
        if flight.actor in self.load:
            self.load[flight.actor] -= 1
        outcome = self._outcome(flight)
        flight.tell_ref = flight.asktell.tell.remote(flight.ask_ref, outcome)
        self.flights[flight.tell_ref] = flight
        return None

    def _outcome(self, flight: InFlight) -> Outcome:
        """The evaluation's Outcome; a dead evaluator's batch is lost (queued again)."""
        import ray

        try:
            return ray.get(flight.eval_ref)
        except ray.exceptions.RayActorError as err:
            self.pool.lost(flight.actor)
            self.load.pop(flight.actor, None)
            return Outcome(lost=f"{type(err).__name__}")
        except ray.exceptions.RayTaskError:
            ray.get(flight.ask_ref)  # the ask failed: raise the actor's (storage) error
            raise

    def in_flight(self) -> int:
        return len(self.flights)

    def evaluators_gone_for(self) -> float:
        """Seconds since the pool last had an evaluator live or starting (0 if it has)."""
        now = time.monotonic()
        if self.pool.live or self.pool.starting:
            self.seen_evaluator = now
        return now - self.seen_evaluator

    def numbers_in_flight(self) -> dict[str, list[int]]:
        """Trials of the batches in flight whose ask has answered, per cell."""
        import ray

        out: dict[str, list[int]] = {}
        for flight in self.flights.values():
            try:
                batch: Batch = ray.get(flight.ask_ref, timeout=0)
            except Exception:  # not asked yet, or the actor is gone
                continue
            out.setdefault(batch.cell, []).extend(batch.numbers)
        return out

    def shutdown(self) -> None:
        """Stop every actor now: trials still in flight stay RUNNING (a second Ctrl-C,
        whose driver fails and queues them again, or a rerun's recovery)."""
        import ray

        for asktell in set(self.asktell_of.values()):
            ray.kill(asktell)
        self.pool.shutdown()


def start_ray_lanes(spec: Any, cfg: Any, cells: list[str], layers: int,
                    salt: Callable[[str], int]) -> RayLanes:
    """AskTell actors for ``cells`` (one per CPU that can host one) and the evaluator pool,
    on the connected Ray cluster; ``salt(lane)`` seeds each actor's samplers apart."""
    import ray

    from layerlr.study.faults import environment
    from layerlr.study.worker import Pool

    env = environment()
    options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 0,
                               "runtime_env": {"env_vars": env} if env else None}
    if not spec.shared:  # a file storage: on the driver's node, where the file is
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(AskTell).options(**options)
    asktells = {}
    for i, group in enumerate(_groups(spec, cells)):
        handle = actor.remote(spec, cfg, group, salt(f"ray{i}"), layers)
        asktells.update({cell: handle for cell in group})
    pool = Pool(cfg.resources)
    pool.grow()
    return RayLanes(asktells, pool)


def _groups(spec: Any, cells: list[str]) -> list[list[str]]:
    """The cells spread over one AskTell process per CPU that can host one: any node's
    for a storage server, the driver's node's for a file storage."""
    import ray

    from layerlr.study.worker import ray_nodes

    nodes = ray_nodes()
    if spec.shared:
        cpus = sum(n["cpus"] for n in nodes)
    else:
        here = ray.get_runtime_context().get_node_id()
        cpus = sum(n["cpus"] for n in nodes if n["id"] == here)
    count = max(1, min(len(cells), int(cpus)))
    return [cells[i::count] for i in range(count)]
