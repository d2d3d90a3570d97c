"""A cell in a running study: its Optuna study and this run's bookkeeping of it."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import optuna

from layerlr.study.config import Cell
from layerlr.study.records import Told

TARGET_BATCH_S = 0.5  # batches grow until one takes about this long, ask and tell included
FAIL_STREAK = 3  # a cell whose batches fail this many times in a row with one error stops


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

    def count(self, told: Told) -> None:
        """Take a told batch into the counts (the caller holds the run's lock)."""
        n = len(told.numbers)
        self.in_flight -= told.asked or n
        self.queued += told.requeued
        if told.queued:  # the queued trials an ask cut short left waiting
            self.queued += max(0, told.asked - n)
        self.complete += told.complete
        self.told += told.complete
        self.failed += told.failed
        self.diverged += len(told.diverged)
        if told.best is not None:
            self.best = min(told.best, self.best if self.best is not None else math.inf)

    def adapt(self, told: Told, fixed: int | None, cap: int | None) -> None:
        """The next batch's size: about TARGET_BATCH_S of ask, evaluation and tell per
        batch (``fixed``: resources.batch_size; ``cap``: the storage's limit). A cell
        whose batches failed FAIL_STREAK times in a row with one error stops asking."""
        n = len(told.numbers)
        self.cost = (told.ask_s + told.tell_s + told.worker_s) / max(n, 1)
        self.batches += 1
        if not fixed:
            self.batch = max(1, min(4 * self.batch, int(TARGET_BATCH_S / max(self.cost, 1e-6))))
            self.batch = min(self.batch, cap or self.batch)
        if told.error is None:
            self.streak = (None, 0)
            return
        reason = re.sub(r"\d+", "#", told.error)  # "tried to allocate 912 MiB" and the like
        count = self.streak[1] + 1 if self.streak[0] == reason else 1
        self.streak = (reason, count)
        if count >= FAIL_STREAK:
            self.stopped = told.error
