"""The module family's memory estimate bounds the memory an evaluation takes: the
growth of the resident set, measured in a subprocess (tests/families/peak_memory.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# each case with the least share of the estimate the measured peak must reach: the
# full-batch gradient pass dominates the first; in the second, the estimate counts the
# held-out pass once per schedule, as on a GPU, where the CPU runs it network by network
CASES = {
    "cnn-full-batch": {"setting": {"module": "layerlr.zoo.mnist1d_cnn:build",
                                   "data": "mnist1d", "width": 8, "depth": 3},
                       "seeds": [1, 2], "schedules": 4, "steps": 2, "least": 0.4},
    "transformer-adam-batch": {"setting": {"module": "layerlr.zoo.transformer:build",
                                           "data": "modular-addition", "width": 16,
                                           "depth": 2, "optimizer": "adam",
                                           "batch_size": 256},
                               "seeds": [1], "schedules": 6, "steps": 2, "least": 0.1},
}


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("name", list(CASES))
def test_the_estimate_bounds_the_measured_peak(name):
    case = CASES[name]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MALLOC_MMAP_THRESHOLD_="65536",
               MALLOC_TRIM_THRESHOLD_="0")
    out = subprocess.run([sys.executable, str(ROOT / "tests/families/peak_memory.py"),
                          json.dumps(case)], capture_output=True, text=True, env=env,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    estimate = got["shared"] + case["schedules"] * got["per_schedule"]
    assert got["measured"] <= estimate, got
    assert got["measured"] >= case["least"] * estimate, got  # a bound, not a blanket
