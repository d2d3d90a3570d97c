"""Evaluators: the engine, run on whole batches of trials, in the driver or in Ray actors.

An :class:`Evaluator` keeps the per-seed draws of the cells it has seen and the per-seed
work shared by all schedules of its last cell (seconds per batch at h = 1000), so a
cell's shared work is made once per evaluator, not once per batch. The :class:`Pool`
starts one evaluator per GPU, and one per CPU node using all of the node's CPUs as torch
threads: a node then makes each cell's shared work once, not once per worker (set
``resources.cpus_per_worker`` for several smaller workers). Evaluators never talk to
Optuna; :mod:`layerlr.study.asktell` asks and tells.
"""

from __future__ import annotations

import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from layerlr.memory import available_memory
from layerlr.study import prefetch
from layerlr.study.config import ResourceSpec
from layerlr.study.faults import environment, fault
from layerlr.study.records import Batch, Outcome

DRAW_CACHE = 4  # cells whose draws an evaluator keeps


class Evaluator:
    """Evaluates batches with the engine; the body of a Ray actor, or used in-process."""

    def __init__(self, threads: int, memory_mb: int | None, in_ray: bool = True) -> None:
        self.threads = max(1, threads)
        # in Ray, a GPU only where Ray gave one
        self.device = prefetch.local_device() if not in_ray or _ray_gpus() else "cpu"
        self.memory = None if memory_mb is None else memory_mb * 2**20
        self.in_ray = in_ray
        self.node, self.node_ip = _node(in_ray)
        self.cache: OrderedDict[tuple, Any] = OrderedDict()
        # the engine's per-seed step-1 work for the last cell only: as large as a chunk
        self.prepared: tuple[tuple | None, dict] = (None, {})

    def ready(self) -> str:
        """Answers once the actor runs: the pool hands it work only then."""
        return self.node

    def evaluate(self, setting: dict[str, Any], train: dict[str, Any], batch: Batch) -> Outcome:
        """Evaluate ``batch`` (one cell's schedules). An error becomes the Outcome's."""
        start = time.perf_counter()
        try:
            fault("worker-raise")
            if self.in_ray:  # in the driver's own lane it would end the driver
                fault("worker-exit")
            results = self._evaluate(setting, train, batch.schedules)
        except Exception as err:  # the batch's trials fail with this message; run goes on
            return Outcome(error=f"{type(err).__name__}: {err}", worker=self._where(start))
        return Outcome(results=results, worker=self._where(start))

    def _evaluate(self, setting: dict[str, Any], train: dict[str, Any],
                  schedules: list) -> list[dict]:
        import torch

        from layerlr.engine import draw, evaluate
        from layerlr.families import family
        from layerlr.setting import Setting

        cell = Setting(**setting)
        if not train.get("measure", True):  # the theory alone: nothing to draw or train
            return evaluate(cell, schedules, list(train["seeds"]), measure=False).per_schedule()
        # small products run on one thread: idle threads spinning at each product's end
        # would cost more than they save
        torch.set_num_threads(self.threads if family(cell.family).threaded(cell) else 1)
        dtype = getattr(torch, train["dtype"])
        key = prefetch.draw_key(setting, train)
        if key not in self.cache:
            if self.prepared[0] is not None:
                self.prepared = (None, {})  # dropped before the new cell's draws are made
            made = None if self.in_ray else prefetch.take(key)
            self.cache[key] = made if made is not None else draw(
                cell, list(train["seeds"]), train["protocol"], self.device, dtype)
            if len(self.cache) > DRAW_CACHE:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        if self.prepared[0] != key:
            self.prepared = (key, {})
        ev = evaluate(cell, schedules, list(train["seeds"]), draws=self.cache[key],
                      memory_budget=self.memory, prepared=self.prepared[1])
        return ev.per_schedule()

    def _where(self, start: float) -> dict[str, Any]:
        return {"node": self.node, "node_ip": self.node_ip, "device": self.device,
                "seconds": time.perf_counter() - start}


def _ray_gpus() -> bool:
    import ray

    return bool(ray.get_gpu_ids())


def _node(in_ray: bool) -> tuple[str, str]:
    if in_ray:
        import ray

        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    return f"local:{socket.gethostname()}", "127.0.0.1"


@dataclass(frozen=True)
class Slot:
    """One planned evaluator: where it runs and what it takes."""

    node: str  # Ray node id
    cpus: float
    gpus: float
    threads: int


class PlanError(ValueError):
    """Resources the cluster cannot provide (a bad [resources] table for this cluster)."""


def plan(resources: ResourceSpec, nodes: list[dict]) -> list[Slot]:
    """The evaluators for ``nodes`` (each {"id", "cpus", "gpus", "memory"}).

    One evaluator per GPU where the cluster has GPUs (or ``gpus_per_worker`` of them
    each); otherwise one per CPU node with all its CPUs, or one per ``cpus_per_worker``
    CPUs. ``resources.workers`` caps the count. Raises :class:`PlanError` when nothing
    can be placed.
    """
    gpus = resources.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if any(n["gpus"] >= 1 for n in nodes) else 0.0
    total = sum(n["cpus"] for n in nodes)
    slots = []
    for node in nodes:
        if gpus > 0:
            count = int(node["gpus"] / gpus + 1e-9)
            cpus = min(resources.cpus_per_worker or 1.0, node["cpus"] / max(count, 1))
        else:
            cpus = resources.cpus_per_worker or node["cpus"]
            if resources.cpus_per_worker is None and resources.workers:
                cpus = max(1.0, float(int(total / resources.workers)))
            count = int(node["cpus"] / cpus + 1e-9) if cpus > 0 else 0
        slots += [Slot(node["id"], cpus, gpus, max(1, int(cpus)))] * count
    if not slots:
        raise PlanError(_why_no_slot(resources, gpus, nodes))
    return slots[:resources.workers] if resources.workers else slots


def _why_no_slot(resources: ResourceSpec, gpus: float, nodes: list[dict]) -> str:
    if gpus > 0:
        have = max((n["gpus"] for n in nodes), default=0)
        return (f"resources.gpus_per_worker: {gpus:g} GPUs per worker, but the largest node "
                f"has {have:g}; set gpus_per_worker = 0 (or remove it) to run on CPUs")
    have = max((n["cpus"] for n in nodes), default=0)
    return (f"resources.cpus_per_worker: {resources.cpus_per_worker:g} CPUs per worker, but "
            f"the largest node has {have:g}; lower it or remove it (default: a whole node)")


def local_node() -> dict:
    """This machine as :func:`plan` sees a node, without starting Ray."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count()
    except ImportError:
        pass
    return {"id": "local", "cpus": float(cpus or 1), "gpus": float(gpus),
            "memory": available_memory()}


def ray_nodes() -> list[dict]:
    """The alive nodes of the connected Ray cluster, as :func:`plan` takes them."""
    import ray

    return [{"id": n["NodeID"], "cpus": n["Resources"].get("CPU", 0.0),
             "gpus": n["Resources"].get("GPU", 0.0), "memory": n["Resources"].get("memory", 0.0)}
            for n in ray.nodes() if n.get("Alive")]


class Pool:
    """The Ray actors evaluating batches, kept at the size the cluster allows.

    An actor gets work only after it answered :meth:`Evaluator.ready`, so an actor Ray
    cannot place (a node went away, the cluster is full) never holds a batch. Each
    planned slot is pinned to its node. The pool grows again when the cluster does,
    and shrinks when a node dies.
    """

    def __init__(self, resources: ResourceSpec) -> None:
        import ray

        self.resources = resources
        self.live: dict[Any, Slot] = {}
        self.starting: dict[Any, tuple[Any, Slot]] = {}  # ready() reference -> (actor, slot)
        self.last: dict[Any, str] = {}  # actor -> the cell of its last batch
        env = environment()
        self.actor = ray.remote(Evaluator)
        self.options = {"max_restarts": 0, "runtime_env": {"env_vars": env} if env else None}

    def grow(self) -> int:
        """Start actors for the planned slots not yet filled. -> how many were started."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            wanted = plan(self.resources, ray_nodes())
        except PlanError:  # no node can take a worker now; maybe later
            return 0
        have = [s for s in self.live.values()] + [s for _, s in self.starting.values()]
        started = 0
        for slot in wanted:
            if slot in have:
                have.remove(slot)
                continue
            actor = self.actor.options(
                **self.options, num_cpus=slot.cpus, num_gpus=slot.gpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node, soft=False),
            ).remote(slot.threads, self.resources.memory_mb)
            self.starting[actor.ready.remote()] = (actor, slot)
            started += 1
        return started

    def started(self, ref: Any) -> None:
        """An actor's ready() answered (or failed)."""
        import ray

        actor, slot = self.starting.pop(ref)
        try:
            ray.get(ref)
        except ray.exceptions.RayError:
            ray.kill(actor)
            return
        self.live[actor] = slot

    def lost(self, actor: Any) -> None:
        import ray

        self.live.pop(actor, None)
        self.last.pop(actor, None)
        ray.kill(actor)

    def shutdown(self) -> None:
        import ray

        for actor in list(self.live) + [a for a, _ in self.starting.values()]:
            ray.kill(actor)
