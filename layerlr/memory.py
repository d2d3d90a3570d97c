"""Memory: what an evaluation needs (to size chunks and refuse cells that cannot fit
before anything runs), and what this machine has. Imports nothing heavy: a fresh run
checks its first cell's draws against it before Optuna, pandas and pyarrow are loaded
(:mod:`layerlr.study.prefetch`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from layerlr.families import family

if TYPE_CHECKING:
    from layerlr.setting import Setting


def footprint(setting: Setting, seeds: int, steps: int, itemsize: int) -> tuple[int, int]:
    """(bytes of the draws and per-seed work, bytes of one schedule) of an evaluation.

    The first part is paid once per cell (drawing the data and the weights, then the
    per-seed work every schedule shares); the second per schedule of a chunk. Used to
    size chunks, and to refuse settings that cannot fit before anything runs. Each
    family estimates its own (:meth:`~layerlr.families.protocol.Family.footprint`).
    """
    return family(setting.family).footprint(setting, seeds, steps, itemsize)


def available_memory() -> float:
    """Bytes of memory available on this machine (MemAvailable, else all of it)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
