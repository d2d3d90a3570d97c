"""The live progress lines: trials done of the target, best value, rate, ETA."""

from __future__ import annotations

import time
from types import SimpleNamespace

from layerlr.study.progress import Progress


def test_progress_lines_show_counts_best_rate_and_eta():
    run = SimpleNamespace(cell=SimpleNamespace(name="L2-h64"), complete=30, target=40, told=20,
                          started=time.monotonic() - 10.0, failed=2, best=0.125)
    line = Progress([run], print).lines()[0]
    fields = line.split()
    assert fields[0] == "L2-h64" and fields[1] == "30/40"
    assert fields[3] == "0.125"
    rate = float(fields[4])
    assert 1.9 < rate < 2.01  # 20 trials told in ~10 s
    eta = float(line.split("ETA")[1].split()[0])
    assert 4.5 < eta < 5.5  # 10 left at 2 per second
    assert "failed 2" in line
