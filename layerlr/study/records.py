"""The records a run passes between its parts: plain values, no Optuna, no torch.

An evaluator (:mod:`.worker`, in the driver or a Ray actor) receives a :class:`Batch` and
returns an :class:`Outcome`; the process that asked the batch tells it and hands the
driver a :class:`Told`; the driver asks for work as :class:`Job`\\ s and sums a run up in
a :class:`RunSummary`. They pickle, so they travel through Ray's object store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERRORS_KEPT = 20  # failure lines a run keeps for its summary; the rest are counted

@dataclass
class Job:
    """A batch to ask: its cell, its size and what the evaluator needs of the cell."""

    cell: str
    size: int
    setting: dict[str, Any]  # Setting.to_dict()
    train: dict[str, Any]  # train_of(cfg)
    queued: bool = True  # the cell may have queued (WAITING) trials to ask first


@dataclass
class Batch:
    """Trials asked together for one cell, with their schedules (B, T, K) as lists."""

    cell: str
    numbers: list[int]
    schedules: list[list[list[float]]]
    ask_s: float = 0.0  # time spent asking
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


@dataclass
class RunSummary:
    """What a run did: counts, errors, where it ran and where its time went."""

    results: Path
    storage: str  # redacted
    complete: int = 0
    told: int = 0  # trials told by this run
    failed: int = 0
    diverged: int = 0
    errors: list[str] = field(default_factory=list)  # the first ERRORS_KEPT, then counted
    more_errors: int = 0  # failures past those kept (a study of millions can fail often)
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

    def error(self, line: str) -> None:
        """Keep ``line`` among the run's first ERRORS_KEPT failures, else count it."""
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(line)
        else:
            self.more_errors += 1

    def add(self, activity: str, seconds: float) -> None:
        self.seconds[activity] = self.seconds.get(activity, 0.0) + seconds

    @contextmanager
    def timed(self, activity: str) -> Iterator[None]:
        """Add the wall time of the block to ``seconds[activity]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(activity, time.perf_counter() - start)


def train_of(cfg: Any) -> dict[str, Any]:
    """What a worker and the Parquet rows need of a StudyConfig's [train], as plain values."""
    return {"seeds": list(cfg.train.seeds), "protocol": cfg.train.protocol,
            "dtype": cfg.train.dtype, "measure": cfg.train.measure}
