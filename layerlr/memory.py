"""Memory: what an evaluation needs (to size chunks and refuse cells that cannot fit
before anything runs), and what this machine has. Imports nothing heavy: a fresh run
checks its first cell's draws against it before Optuna, pandas and pyarrow are loaded
(:mod:`layerlr.study.prefetch`)."""

from __future__ import annotations

import os

from layerlr.setting import Setting


def footprint(setting: Setting, seeds: int, steps: int, itemsize: int) -> tuple[int, int]:
    """(bytes of the draws and per-seed work, bytes of one schedule) of an evaluation.

    The first part is paid once per cell (drawing X, x_test and the weights, then the
    per-seed products every schedule shares); the second per schedule of a chunk. Used
    to size chunks, and to refuse settings that cannot fit before anything runs.
    """
    if setting.family == "mlp":
        from layerlr.mlp import memory as mlp_memory

        return mlp_memory(setting, seeds, steps, itemsize)
    h, d, n, m, o, k = (setting.width, setting.d, setting.n, setting.test_size,
                        setting.outputs, setting.layers)
    raw = n * d + m * d + d * h + (k - 1) * h * h + n * o + d * o  # a seed's raw draws
    kept = d * d + 2 * d * o + min(m, d) * d + d * h + (k - 1) * h * h + h
    shared = 40 * d * h if setting.family == "matrix" else 4 * (d + h)
    draws = seeds * (raw + kept + shared) * itemsize  # every seed's raw draws coexist
    return draws, _schedule_floats(setting, steps) * itemsize * seeds


def _schedule_floats(setting: Setting, steps: int) -> int:
    """Floats one schedule of one seed needs in a chunk (the linear families)."""
    h, d, k = setting.width, setting.d, setting.layers
    if setting.family == "matrix":
        # W1, W2 (step 2's combinations, or a later step's products and temporaries),
        # M, Sigma M, Z M and the losses' buffer of differences, with room to spare
        return 8 * (d * h + h * h) + d * h
    # U, V columns of two runs, the chains and the matvec temporaries
    return 4 * k * steps * (d + h) + 8 * k * h + 8 * d


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
