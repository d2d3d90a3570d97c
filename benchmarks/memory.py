"""Peak memory of many schedules at once: chunked by a memory budget, against one chunk.

    python benchmarks/memory.py [--schedules 10000] [--seeds 5]

Readout depth 8 at h = 1000 (the paper's deepest network), 2 steps, the surrogate
included. Each row runs in a fresh process and reports its peak resident memory. The
baseline gives the whole batch to the engine as one chunk; run on a tenth of the
schedules and on ten, its memory per schedule is extrapolated to the full count in the
last column.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from table import print_table

CHILD = """
import json, resource, sys, time, torch
from layerlr import Setting, evaluate
from layerlr.engine import chunk_size
torch.manual_seed(0)
b, seeds, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
setting = Setting(family="readout", depth=8, width=1000)
rates = 0.5 + 4 * torch.rand(b, 2, setting.layers, dtype=torch.float64)
start = time.perf_counter()
ev = evaluate(setting, rates, list(range(seeds)), dtype=torch.float32, memory_budget=budget)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "chunk": chunk_size(setting, seeds, 2, 4, budget, torch.device("cpu")),
                  "finite": bool(torch.isfinite(ev.losses["population"]).any())}))
"""


def child(schedules: int, seeds: int, budget: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(schedules), str(seeds), str(budget)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    tenth, few = args.schedules // 10, 10
    base = child(few, args.seeds, 2**50)["peak_mb"]
    for label, b, budget in (("one chunk (baseline, 1/10 of the schedules)", tenth, 2**50),
                             ("budget 256 MiB", args.schedules, 2**28),
                             ("budget 1 GiB", args.schedules, 2**30),
                             ("default budget (2 GiB)", args.schedules, 2 * 2**30)):
        r = child(b, args.seeds, budget)
        full = r["peak_mb"]
        if b < args.schedules:  # one chunk: memory grows by the same amount per schedule
            full = base + (r["peak_mb"] - base) * (args.schedules - few) / (b - few)
        rows.append({"run": label, "schedules": b, "chunk": min(r["chunk"], b),
                     "seconds": r["seconds"], "peak MiB": r["peak_mb"],
                     f"MiB at {args.schedules}": full})
    print(f"readout depth 8, h = 1000, 2 steps, {args.seeds} seed(s), float32, CPU")
    print_table(rows, 44, 14)


if __name__ == "__main__":
    main()
