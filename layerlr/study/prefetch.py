"""A cell's draws made ahead of time in the driver's process: start-up overlapped.

``layerlr run`` on a fresh results directory starts drawing its first cell (seconds at
h = 1000: QR factorisations) in a thread as soon as the study file is read, while the
rest of the command imports Optuna, pandas and pyarrow and opens the storage; the
driver's local evaluator then takes the draws (:func:`take`) instead of making them.
Ray workers, in processes of their own, always draw for themselves.

Draws under the published protocol use torch's global RNG (SPEC 9), so no two may run
at once: :func:`take` waits for every pending prefetch before the caller draws.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import torch

from layerlr.families import family
from layerlr.memory import available_memory, footprint
from layerlr.setting import Setting

_pending: dict[tuple, Future] = {}
_lock = threading.Lock()


def draw_key(setting: dict[str, Any], train: dict[str, Any]) -> tuple:
    """What identifies a cell's draws: its setting, seeds, protocol and dtype."""
    return (tuple(sorted(setting.items())), tuple(train["seeds"]), train["protocol"],
            train["dtype"])


def local_device() -> str:
    """Where the driver's own evaluator runs: the first CUDA GPU if there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def start(setting: dict[str, Any], train: dict[str, Any]) -> None:
    """Draw ``setting``'s cell for ``train`` (seeds, steps, protocol, dtype) in a daemon
    thread; nothing for a study of the theory alone, or draws that would take more than
    half the memory available (the run's own check then names the problem)."""
    if not train.get("measure", True):
        return
    itemsize = 4 if train["dtype"] == "float32" else 8
    try:  # a user's network (SPEC 13) is built to size its draws: it may raise
        need = footprint(Setting(**setting), len(train["seeds"]), train["steps"], itemsize)[0]
    except Exception:  # the run's own checks name the problem, before anything is written
        return
    if need > available_memory() / 2:
        return
    future: Future = Future()
    with _lock:
        _pending[draw_key(setting, train)] = future

    def work() -> None:
        try:
            cell = Setting(**setting)
            future.set_result(family(cell.family).draw(
                cell, list(train["seeds"]), train["protocol"], local_device(),
                getattr(torch, train["dtype"])))
        except BaseException as err:  # the evaluator draws again and meets the error
            future.set_exception(err)

    threading.Thread(target=work, name="layerlr-prefetch", daemon=True).start()


def take(key: tuple) -> Any | None:
    """The draws prefetched for ``key``, or None (then the caller draws). Waits for
    every pending prefetch first: none may draw beside the caller."""
    with _lock:
        pending = dict(_pending)
        _pending.pop(key, None)
    for other, future in pending.items():
        if other != key:
            future.exception()  # finished (its draws stay for their own take)
    future = pending.get(key)
    if future is None or future.exception() is not None:
        return None
    return future.result()
