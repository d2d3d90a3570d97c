"""Ray workers: each evaluates whole batches of trials with the engine.

A worker keeps the per-seed draws of the cells it has seen, so a cell's data are drawn
once per worker, not once per batch, and the per-seed work shared by all schedules of
its last cell (seconds per batch at h = 1000). The pool sends a cell's batches to a
worker that ran that cell last where it can. The driver alone talks to Optuna.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Any

import ray
import torch

from layerlr.draws import draw
from layerlr.engine import evaluate
from layerlr.setting import Setting
from layerlr.study.config import ResourceSpec
from layerlr.study.faults import environment, fault

DRAW_CACHE = 4  # cells whose draws a worker keeps


class Evaluator:
    """The body of a Ray actor (wrapped by :func:`start_workers`)."""

    def __init__(self, threads: int, memory_mb: int | None) -> None:
        torch.set_num_threads(max(1, threads))
        self.device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
        self.memory = None if memory_mb is None else memory_mb * 2**20
        self.node = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        self.cache: OrderedDict[tuple, Any] = OrderedDict()
        # the engine's per-seed step-1 work for the last cell only: as large as a chunk
        self.prepared: tuple[tuple | None, dict] = (None, {})

    def ready(self) -> str:
        """Answers once the actor runs: the pool hands it work only then."""
        return self.node

    def evaluate(self, setting: dict[str, Any], train: dict[str, Any],
                 schedules: list[list[list[float]]]) -> dict[str, Any]:
        """Evaluate a batch: ``schedules`` (B, T, K) for one cell. -> per-schedule summaries."""
        start = time.perf_counter()
        fault("worker-raise")
        fault("worker-exit")
        cell = Setting(**setting)
        if not train.get("measure", True):  # the theory alone: nothing to draw or train
            ev = evaluate(cell, schedules, list(train["seeds"]), measure=False)
            return {"results": ev.per_schedule(), "node": self.node, "node_ip": self.node_ip,
                    "device": "cpu", "seconds": time.perf_counter() - start}
        dtype = getattr(torch, train["dtype"])
        key = (tuple(sorted(setting.items())), tuple(train["seeds"]), train["protocol"],
               train["dtype"])
        if key not in self.cache:
            self.cache[key] = draw(cell, list(train["seeds"]), train["protocol"], self.device,
                                   dtype)
            if len(self.cache) > DRAW_CACHE:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        if self.prepared[0] != key:
            self.prepared = (key, {})  # dropped before the new cell's is made
        ev = evaluate(cell, schedules, list(train["seeds"]), draws=self.cache[key],
                      memory_budget=self.memory, prepared=self.prepared[1])
        return {"results": ev.per_schedule(), "node": self.node, "node_ip": self.node_ip,
                "device": self.device, "seconds": time.perf_counter() - start}


def plan(resources: ResourceSpec) -> tuple[int, float, float]:
    """(workers, CPUs each, GPUs each) for the connected cluster.

    With GPUs in the cluster and no ``gpus_per_worker`` given, one worker per GPU, so
    every GPU of every node is used; otherwise one worker per ``cpus_per_worker`` CPUs.
    """
    total = ray.cluster_resources()
    gpus = resources.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if total.get("GPU", 0) >= 1 else 0.0
    if gpus > 0:
        workers = resources.workers or int(total.get("GPU", 0) / gpus)
        if workers < 1:
            raise RuntimeError(f"resources.gpus_per_worker = {gpus} but the cluster has "
                               f"{total.get('GPU', 0)} GPUs; set gpus_per_worker = 0")
    else:
        cpus = total.get("CPU", 1)
        workers = resources.workers or max(1, int(cpus // resources.cpus_per_worker))
    return workers, resources.cpus_per_worker, gpus


class Pool:
    """The Ray actors evaluating batches, kept at the size the cluster allows.

    An actor gets work only after it answered :meth:`Evaluator.ready`, so an actor Ray
    cannot place (a node went away, the cluster is full) never holds a batch. The pool
    grows again when the cluster does, and shrinks when a node dies.
    """

    def __init__(self, resources: ResourceSpec) -> None:
        self.resources = resources
        self.idle: deque[Any] = deque()  # first in, first out: work spreads over nodes
        self.live: set[Any] = set()
        self.starting: dict[Any, Any] = {}  # ready() reference -> actor
        self.last: dict[Any, str] = {}  # actor -> the cell of its last batch
        env = environment()
        _, cpus, gpus = plan(resources)
        self.actor = ray.remote(Evaluator).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=0,
            runtime_env={"env_vars": env} if env else None)
        self.threads = max(1, int(cpus))

    def grow(self) -> int:
        """Start actors up to the planned count. -> how many were started."""
        missing = plan(self.resources)[0] - len(self.live) - len(self.starting)
        for _ in range(max(0, missing)):
            actor = self.actor.remote(self.threads, self.resources.memory_mb)
            self.starting[actor.ready.remote()] = actor
        return max(0, missing)

    def started(self, ref: Any) -> None:
        """An actor's ready() answered (or failed)."""
        actor = self.starting.pop(ref)
        try:
            ray.get(ref)
        except ray.exceptions.RayError:
            ray.kill(actor)
            return
        self.live.add(actor)
        self.idle.append(actor)

    def take(self, cell: str) -> Any:
        """An idle actor for a batch of ``cell``: one that ran the cell last if any is
        idle (its step-1 work is kept), else the longest idle."""
        actor = next((a for a in self.idle if self.last.get(a) == cell), self.idle[0])
        self.idle.remove(actor)
        self.last[actor] = cell
        return actor

    def lost(self, actor: Any) -> None:
        self.live.discard(actor)
        self.last.pop(actor, None)
        ray.kill(actor)

    def shutdown(self) -> None:
        for actor in list(self.live) + list(self.starting.values()):
            ray.kill(actor)
