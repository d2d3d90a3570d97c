"""The published figures on one CUDA GPU: called by ``benchmarks/gpu.sh``.

Each shipped paper study (matrix with orthogonal and Gaussian targets, readout depths 3,
4 and 8) runs as the command a user types, `layerlr run STUDY --results DIR --quiet`,
timed whole; then the engine benchmark runs on ``device="cuda"`` against the published
method on the CPU. Prints one table.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time

import torch
from engine import run as engine_run
from table import print_table
from throughput import LAYERLR, timed

from layerlr import Setting

STUDIES = ["paper-matrix", "paper-matrix-gaussian", "paper-readout3", "paper-readout4",
           "paper-readout8"]


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU; see benchmarks/gpu.sh")
    rows = []
    for study in STUDIES:
        with tempfile.TemporaryDirectory() as tmp:
            wall, out = timed([*LAYERLR, "run", f"studies/{study}.toml", "--results", tmp,
                               "--quiet"])
        told = int(re.search(r"this run told (\d+) trials", out).group(1))
        rows.append({"what": f"layerlr run studies/{study}.toml", "trials": told,
                     "seconds": wall, "trials/s": told / wall, "engine s": float("nan"),
                     "speed-up": float("nan")})
    seeds = list(range(2020, 2025))
    for name, setting, budget in (
            ("matrix h=1000 B=40000", Setting(family="matrix", width=1000), 40000),
            ("readout L=3 h=1000 B=80", Setting(family="readout", depth=3, width=1000), 80)):
        start = time.perf_counter()
        r = engine_run(name, setting, budget, seeds, 2, "cuda")
        rows.append({"what": f"engine {r['sweep']} vs CPU naive", "trials": r["schedules"],
                     "seconds": time.perf_counter() - start,
                     "trials/s": r["schedules"] / r["engine s"], "engine s": r["engine s"],
                     "speed-up": r["speed-up"]})
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"python {sys.version.split()[0]}")
    print_table(rows, 46, 12)


if __name__ == "__main__":
    main()
