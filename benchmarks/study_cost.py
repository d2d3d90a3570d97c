"""The engine's CPU time for a finished study: every trial replayed, one thread.

    python benchmarks/study_cost.py RESULTS [--batch 8] [--every 1]

On a shared machine a study's wall time says little; this replays every trial's
schedule of each cell through the engine as a worker does (one torch thread, batches of
``--batch`` trials, the cell's draws made once), and prints the CPU seconds per cell
(``time.process_time``) and in total. On a quiet machine with two cores, two workers
take about half the total, plus Ray's start and Optuna's bookkeeping. ``--every N``
replays every N-th trial of each cell and scales its time by N.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from table import print_table

from layerlr import Setting, evaluate
from layerlr.engine import draw
from layerlr.results import read_results

SETTING_COLUMNS = ("family", "depth", "width", "d", "n", "init", "data", "target", "noise",
                   "activation")


def cell_setting(row) -> Setting:
    values = {k: row[k] for k in SETTING_COLUMNS}
    values = {k: (None if isinstance(v, float) and np.isnan(v) else v)
              for k, v in values.items()}
    if values["family"] != "mlp":
        values["activation"] = None
    if values["data"] in ("digits", "diabetes"):
        values["target"] = None
    values["noise"] = float(values["noise"])
    for k in ("depth", "width", "d", "n"):
        values[k] = int(values[k])
    return Setting(**values)


def replay(rows, batch: int, every: int) -> tuple[float, int]:
    """CPU seconds to evaluate every trial of one cell's rows (every ``every``-th, the
    time scaled up), and the trial count."""
    first = rows.iloc[0]
    setting = cell_setting(first)
    seeds = list(range(int(first["seeds"])))  # the study's seed values do not change the cost
    dtype = getattr(torch, first["dtype"])
    rates = [c for c in rows.columns if c.startswith("eta") and rows[c].notna().all()]
    schedules = torch.tensor(np.stack([g.sort_values("step")[rates].to_numpy()
                                       for _, g in rows.groupby("trial")]))
    start = time.process_time()
    draws, kept = draw(setting, seeds, "native", "cpu", dtype), {}
    chosen = schedules[::every]
    for i in range(0, len(chosen), batch):
        evaluate(setting, chosen[i:i + batch], seeds, draws=draws, prepared=kept)
    return (time.process_time() - start) * len(schedules) / len(chosen), len(schedules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = read_results(args.results)
    frame = frame[frame["state"] == "COMPLETE"]
    out = []
    for cell, rows in frame.groupby(frame["cell"].astype(str), sort=True):
        seconds, trials = replay(rows, args.batch, args.every)
        out.append({"cell": cell, "trials": trials, "CPU s": seconds})
    out.append({"cell": "total", "trials": sum(r["trials"] for r in out),
                "CPU s": sum(r["CPU s"] for r in out)})
    print_table(out, 36, 10)
    print(f"two quiet cores: about {out[-1]['CPU s'] / 2:.0f} s of engine work per core")


if __name__ == "__main__":
    main()
