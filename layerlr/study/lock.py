"""One driver per study: a lock kept in the study's user attributes.

The lock names its driver (host, pid) and carries a heartbeat. It is live while that
process exists (same host) or, seen from another host, while the heartbeat is younger
than STALE_S; a driver that was killed therefore never blocks the rerun on its machine.
"""

from __future__ import annotations

import os
import socket
import time

import optuna

STALE_S = 60  # a lock not refreshed for this long belongs to a dead driver
BEAT_S = STALE_S / 4  # how often a running driver refreshes its locks


class StudyLocked(RuntimeError):
    """Another live driver is running this study."""


def claim(study: optuna.Study, owner: str) -> None:
    """Take the study for ``owner``, unless another live driver holds it."""
    held = study.user_attrs.get("driver")
    if held and held["owner"] != owner and alive(held):
        raise StudyLocked(f"study '{study.study_name}' is being run by another driver "
                          f"(pid {held['pid']} on {held['host']}, last seen "
                          f"{time.time() - held['beat']:.0f} s ago); wait for it to finish, "
                          "or stop it, then run again")
    beat_lock(study, owner)


def beat_lock(study: optuna.Study, owner: str) -> None:
    study.set_user_attr("driver", {"owner": owner, "beat": time.time(),
                                   "host": socket.gethostname(), "pid": os.getpid()})


def release(study: optuna.Study, owner: str) -> None:
    held = study.user_attrs.get("driver")
    if held and held["owner"] == owner:
        study.set_user_attr("driver", None)


def alive(held: dict) -> bool:
    """Whether the driver a lock names still runs (pid on this host, else heartbeat)."""
    if held.get("host") == socket.gethostname():
        try:
            os.kill(held["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True
    return time.time() - held["beat"] < STALE_S
