"""Fault injection for the reliability tests; does nothing unless LAYERLR_FAULT is set.

``LAYERLR_FAULT=<point>:<n>`` acts the n-th time a process passes ``point`` (``*``:
every time):

- driver points ``asked``, ``told``, ``exported``: SIGKILL the driver;
- ``worker-raise``: the worker's batch raises :class:`InjectedFault`;
- ``worker-exit``: the worker process exits at once, as if its node died; one worker of a
  run does (its replacements live on, as they would after a real node death).

Workers get these two variables (only) from the driver through Ray's runtime_env.
"""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
from pathlib import Path

_COUNT: dict[str, int] = {}
FORWARDED = ("LAYERLR_FAULT", "LAYERLR_FAULT_RUN")  # the only variables workers receive


class InjectedFault(RuntimeError):
    """The error a ``worker-raise`` fault raises."""


def fault(point: str) -> None:
    point_set, _, nth = os.environ.get("LAYERLR_FAULT", "").partition(":")
    if point_set != point:
        return
    _COUNT[point] = _COUNT.get(point, 0) + 1
    if nth != "*" and _COUNT[point] != int(nth or 1):
        return
    if point == "worker-raise":
        raise InjectedFault(f"injected fault in batch {_COUNT[point]} of this worker")
    if point == "worker-exit":
        if _first_of_the_run():
            os._exit(1)
        return
    os.kill(os.getpid(), signal.SIGKILL)


def environment() -> dict[str, str]:
    """The fault-injection variables to hand to Ray workers (with a token naming this
    run), and nothing else: Ray writes a runtime_env to its session logs in clear, so no
    other variable travels this way ($LAYERLR_STORAGE may hold a password; the samplers
    get the storage as an actor argument, the evaluators need none)."""
    if os.environ.get("LAYERLR_FAULT"):
        os.environ.setdefault("LAYERLR_FAULT_RUN", f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    return {k: os.environ[k] for k in FORWARDED if os.environ.get(k)}


def _first_of_the_run() -> bool:
    """True for the first process of the run that asks (a marker file decides)."""
    marker = Path(tempfile.gettempdir()) / f"layerlr-fault-{os.environ.get('LAYERLR_FAULT_RUN')}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True
