"""Where batches run: a lane in the driver's own process, and lanes on Ray.

- :class:`LocalLane` asks, evaluates and tells batches in a thread of the driver, with
  no Ray at all. It starts at once, so a local run works while Ray starts (or without
  Ray, when Ray would not pay for its start-up), and retires when Ray's lanes are up.
- :class:`RayLanes`: one :class:`~layerlr.study.sampler.CellSampler` actor per group of
  cells (their ask and tell run in parallel, on the driver's node for a file storage,
  anywhere for a server), and the evaluator :class:`~layerlr.study.worker.Pool`. A batch
  is asked by its cell's sampler, evaluated by an evaluator that receives the asked
  batch straight from Ray's object store, and told by the same sampler; each evaluator
  holds up to ``DEPTH`` batches so that it never waits for an ask.

Both hand the driver :class:`~layerlr.study.sampler.Told` batches to record.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerlr.study.faults import fault
from layerlr.study.sampler import Batch, CellSampler, Outcome, Told

DEPTH = 2  # batches an evaluator holds: one running, one queued behind it
READY_S = 15.0  # Ray's lanes wait this long for every planned evaluator before work starts
WAIT_S = 0.2  # longest wait for any one event before the driver checks on its run


@dataclass
class Job:
    """A batch to ask: its cell, its size and what the evaluator needs of the cell."""

    cell: str
    size: int
    setting: dict[str, Any]
    train: dict[str, Any]
    queued: bool = True  # the cell may have queued (WAITING) trials to ask first


class LocalLane(threading.Thread):
    """Batches asked, evaluated and told in the driver's process, one at a time.

    ``next_job`` (called from this thread) hands out work; told batches and errors go
    to :attr:`out`. After :meth:`retire` the lane finishes its batch and stops.
    """

    def __init__(self, make_sampler: Callable[[], CellSampler], threads: int,
                 memory_mb: int | None, next_job: Callable[[], Job | None]) -> None:
        super().__init__(name="layerlr-local-lane", daemon=True)
        self.make_sampler, self.threads, self.memory_mb = make_sampler, threads, memory_mb
        self.next_job = next_job
        self.out: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.current: Batch | None = None  # asked, not yet told
        self.sampler: CellSampler | None = None

    def run(self) -> None:
        from layerlr.study.worker import Evaluator

        try:
            self.sampler = self.make_sampler()
            evaluator = Evaluator(self.threads, self.memory_mb, in_ray=False)
            while not self.stopping.is_set():
                job = self.next_job()
                if job is None:
                    break
                self.current = self.sampler.ask(job.cell, job.size, job.queued)
                fault("asked")
                outcome = evaluator.evaluate(job.setting, job.train, self.current)
                told = self.sampler.tell(self.current, outcome)
                self.current = None
                self.out.put(told)
        except BaseException as err:  # a storage error: the driver stops the run with it
            self.out.put(err)
        finally:
            self.out.put(None)

    def retire(self) -> None:
        self.stopping.set()

    def abandon(self) -> int:
        """After the thread stopped: fail and queue again a batch it left asked."""
        if self.current is None or self.sampler is None:
            return 0
        done, self.current = self.sampler.abandon(self.current), None
        return done


@dataclass
class InFlight:
    """A batch submitted to Ray: asked (ask_ref), then evaluated (eval_ref), then told."""

    job: Job
    sampler: Any
    actor: Any
    ask_ref: Any
    eval_ref: Any = None
    tell_ref: Any = None


class RayLanes:
    """Sampler actors per group of cells and the evaluator pool, driven by the driver."""

    def __init__(self, samplers: dict[str, Any], pool: Any) -> None:
        import time

        self.began = time.monotonic()
        self.sampler_of = samplers  # cell -> sampler actor
        self.pool = pool
        self.ready_samplers: set[Any] = set()
        self.starting = {s.ready.remote(): s for s in set(samplers.values())}
        self.load: dict[Any, int] = {}  # evaluator -> batches it holds
        self.flights: dict[Any, InFlight] = {}  # eval_ref or tell_ref -> batch

    @property
    def ready(self) -> bool:
        """Whether work can go to Ray: some cell's sampler is up, and every planned
        evaluator (or, after READY_S, at least one): work then spreads over the nodes."""
        import time

        if not (self.pool.live and self.ready_samplers):
            return False
        return not self.pool.starting or time.monotonic() - self.began > READY_S

    def serves(self, cell: str) -> bool:
        return self.sampler_of[cell] in self.ready_samplers

    def free(self) -> list[Any]:
        """Evaluators that can take another batch, least loaded first."""
        return sorted((a for a in self.pool.live if self.load.get(a, 0) < DEPTH),
                      key=lambda a: self.load.get(a, 0))

    def submit(self, job: Job, actor: Any) -> None:
        sampler = self.sampler_of[job.cell]
        ask_ref = sampler.ask.remote(job.cell, job.size, job.queued)
        flight = InFlight(job, sampler, actor, ask_ref)
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
            sampler = self.starting.pop(ref)
            ray.get(ref)  # a sampler that cannot start is a storage problem: raise it
            self.ready_samplers.add(sampler)
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
        flight.tell_ref = flight.sampler.tell.remote(flight.ask_ref, outcome)
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
            ray.get(flight.ask_ref)  # the ask failed: raise the sampler's (storage) error
            raise

    def in_flight(self) -> int:
        return len(self.flights)

    def abandon(self) -> None:
        """Stop every actor at once (a second Ctrl-C): in-flight trials stay RUNNING and
        the driver fails and queues them again."""
        import ray

        for sampler in set(self.sampler_of.values()):
            ray.kill(sampler)
        self.pool.shutdown()

    def numbers_in_flight(self) -> dict[str, list[int]]:
        """Trials of the batches in flight whose ask has answered, per cell."""
        import ray

        out: dict[str, list[int]] = {}
        for flight in self.flights.values():
            try:
                batch: Batch = ray.get(flight.ask_ref, timeout=0)
            except Exception:  # not asked yet, or the sampler is gone
                continue
            out.setdefault(batch.cell, []).extend(batch.numbers)
        return out

    def shutdown(self) -> None:
        import ray

        for sampler in set(self.sampler_of.values()):
            ray.kill(sampler)
        self.pool.shutdown()
