"""Whole `layerlr run` commands against their baselines, and how a study scales.

    python benchmarks/throughput.py [--quick] [--only ROWS]

Every figure is the wall time of the command a user types (`layerlr run STUDY
--results DIR --quiet`, a fresh results directory, imports and start-up included),
measured here, on this machine, in this run:

1. random sampler, readout h = 32, 2 steps, 5 seeds, depths [3, 4] x 2,000 trials,
   default resources; baseline: the same command on a SQLite storage (the old default)
   at a quarter of the trials (its cost per trial grows with the study: this favours it);
2. TPE, one cell (depth 3), 1,000 trials, same setting; baseline likewise;
3. the published matrix sweep (h = 1000, B = 40000, 5 seeds, float32, published draws)
   against ``benchmarks/published_script.py``, a plain per-schedule autograd script;
4. the published readout depth-3 sweep (h = 1000, B = 80), same.
   Both sweeps: the fastest of ``--repeats`` runs of each side, taken in turn (wall times
   on a shared machine vary by about 10% from run to run).

Then trials/s against Ray evaluators (1 and 2, measured on study 1 at 1,000 trials per
cell, Ray started up front), and a model of where the driver and the storage saturate
at 8, 64 and 512 GPU evaluators, from costs measured in this run (printed with it).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table

HERE = Path(__file__).resolve().parent
LAYERLR = [sys.executable, "-m", "layerlr.cli"]

RANDOM = """name = "tput-random"
[model]
depth = {depths}
width = 32
[train]
steps = 2
seeds = [2020, 2021, 2022, 2023, 2024]
[search]
sampler = "{sampler}"
n_trials = {trials}
{resources}"""

SWEEP = """name = "tput-{family}"
[model]
family = "{family}"
depth = {depth}
width = 1000
[train]
steps = 2
seeds = [2020, 2021, 2022, 2023, 2024]
protocol = "published"
dtype = "float32"
[search]
sampler = "grid"
diagonal = [{budget}]
objective = "empirical"
"""


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, str]:
    """(wall seconds, stdout) of a command, which must succeed."""
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{out.stderr[-2000:]}")
    return wall, out.stdout


def run_study(text: str, storage: str | None = None) -> tuple[float, int, str]:
    """(wall s, trials told, stdout) of `layerlr run` on a study file, fresh results."""
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study.toml"
        study.write_text(text)
        extra = ["--storage", f"sqlite:///{tmp}/res/optuna.db"] if storage == "sqlite" else []
        wall, out = timed([*LAYERLR, "run", str(study), "--results", f"{tmp}/res", "--quiet",
                           *extra])
    told = int(re.search(r"this run told (\d+) trials", out).group(1))
    return wall, told, out


def search_rows(trials: int, quick: bool) -> list[dict]:
    rows = []
    for label, depths, sampler, n, target in (
            ("random, depths [3, 4]", "[3, 4]", "random", trials, 200.0),
            ("TPE, depth 3", "3", "tpe", trials // 2, 40.0)):
        text = RANDOM.format(depths=depths, sampler=sampler, trials=n, resources="")
        wall, told, _ = run_study(text)
        # the baseline at a quarter of the trials: its cost per trial grows with the
        # study, so this favours it, and keeps the benchmark within minutes
        base_n = max(100, n // 4)
        base_wall, base_told, _ = run_study(RANDOM.format(depths=depths, sampler=sampler,
                                                          trials=base_n, resources=""),
                                            "sqlite")
        rows.append({"whole `layerlr run`": f"{label} x {n}", "trials": told, "s": wall,
                     "trials/s": told / wall,
                     "baseline": f"SQLite storage, x {base_n}",
                     "baseline trials/s": base_told / base_wall,
                     "target": f">= {target:g} trials/s",
                     "met": "yes" if told / wall >= target else "NO"})
    return rows


def sweep_rows(repeats: int) -> list[dict]:
    rows = []
    for family, depth, budget, target in (("matrix", 2, 40000, 2.0), ("readout", 3, 80, 2.5)):
        walls, naives = [], []
        for _ in range(repeats):  # in turn, so that both sides meet the same noise
            wall, told, _ = run_study(SWEEP.format(family=family, depth=depth, budget=budget))
            naive, _ = timed([sys.executable, str(HERE / "published_script.py"), family,
                              "1000", str(budget)])
            walls.append(wall)
            naives.append(naive)
        wall, naive = min(walls), min(naives)
        rows.append({"whole `layerlr run`": f"published {family} sweep h=1000 B={budget}",
                     "trials": told, "s": wall, "trials/s": told / wall,
                     "baseline": "published_script.py", "baseline trials/s": told / naive,
                     "target": f">= {target:g}x", "met": "yes" if naive / wall >= target
                     else "NO", "speed-up": naive / wall})
    return rows


def scaling_rows(trials: int) -> tuple[list[dict], dict]:
    """Trials/s against Ray evaluators, and the costs the model needs."""
    rows, costs = [], {}
    for workers in (1, 2):
        text = RANDOM.format(depths="[3, 4]", sampler="random", trials=trials,
                             resources=f"[resources]\nworkers = {workers}\n")
        wall, told, out = run_study(text)
        rows.append({"Ray evaluators": workers, "trials": told, "s": wall,
                     "trials/s": told / wall})
        costs = _costs(out, told)
    return rows, costs


def _costs(out: str, told: int) -> dict:
    found = re.search(r"per trial: (.*)", out)
    if not found:
        return {}
    return {k: float(v) / 1e3 for k, v in re.findall(r"(\w+) ([\d.]+) ms", found.group(1))}


def journal_append_s(n: int = 2000) -> float:
    """Seconds per journal append (lock, write) on this disk, one process."""
    from layerlr.study.storage import JournalFile

    with tempfile.TemporaryDirectory() as tmp:
        backend = JournalFile(Path(tmp) / "optuna.log")
        log = {"op_code": 5, "worker_id": "w", "trial_id": 1, "param_name": "alpha_p1",
               "param_value_internal": 0.5, "distribution": "{}"}
        start = time.perf_counter()
        for _ in range(n):
            backend.append_logs([log])
        return (time.perf_counter() - start) / n


def model_rows(costs: dict, cells: int = 64) -> list[dict]:
    """Trials/s at W GPU evaluators: the least of what evaluators, samplers, the storage
    and the driver can each sustain (assumptions printed by main)."""
    append = journal_append_s()
    ops = 9  # journal operations per trial: create, 4-6 params, result, state
    sampler = costs.get("ask", 2e-3) + costs.get("tell", 1e-3)
    driver = costs.get("driver", 2e-4) + costs.get("parquet", 1e-4)  # the driver writes Parquet
    gpu_eval = 1 / 2e-5  # trials/s of one GPU evaluator on tiny trials (assumed)
    rows = []
    for workers in (8, 64, 512):
        samplers = min(cells, workers // 2)  # sampler processes on the CPUs beside the GPUs
        limits = {"evaluators": workers * gpu_eval, "samplers": samplers / sampler,
                  "journal file": 1 / (ops * append), "Redis journal": 50_000 / ops,
                  "driver": 1 / driver}
        file_bound = min(v for k, v in limits.items() if k != "Redis journal")
        redis_bound = min(v for k, v in limits.items() if k != "journal file")
        rows.append({"GPU evaluators": workers, "samplers": samplers,
                     **{f"{k} trials/s": v for k, v in limits.items()},
                     "file storage: bound by": min(
                         (k for k in limits if k != "Redis journal"), key=limits.get),
                     "file trials/s": file_bound,
                     "Redis: bound by": min((k for k in limits if k != "journal file"),
                                            key=limits.get),
                     "Redis trials/s": redis_bound})
    return rows, append


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller studies (not targets)")
    parser.add_argument("--only", default="search,sweep,scaling",
                        help="which tables: search, sweep, scaling")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each side of a sweep row (the fastest counts)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    trials = 500 if args.quick else 2000
    rows: list[dict] = []
    if "search" in only:
        rows += search_rows(trials, args.quick)
    if "sweep" in only:
        rows += sweep_rows(args.repeats)
    if rows:
        for row in rows:
            row.setdefault("speed-up", row["trials/s"] / row["baseline trials/s"])
        print_table(rows, 42, 14)
    if "scaling" in only:
        scaling, costs = scaling_rows(trials // 2)
        print()
        print_table(scaling, 16, 10)
        model, append = model_rows(costs)
        print()
        print("Model (assumptions): a GPU evaluator runs a tiny trial in 20 us; one sampler "
              "process per two GPUs, up to one per cell (64 cells); a sampler's ask + tell "
              f"costs {1e3 * (costs.get('ask', 0) + costs.get('tell', 0)):.2f} ms per trial "
              f"(measured above); a journal append costs {1e6 * append:.0f} us (measured "
              "here, one process; appends are serialised by the file lock) and a trial "
              "takes 9; a Redis server takes ~50,000 appends/s; the driver costs "
              f"{1e3 * (costs.get('driver', 2e-4) + costs.get('parquet', 1e-4)):.3f} ms "
              "per trial with its Parquet writes (measured above, Ray's start-up left out).")
        print_table(model, 16, 12)


if __name__ == "__main__":
    main()
