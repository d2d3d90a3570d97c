"""SIGKILL at random moments, then resume: does every round finish exactly?

    python benchmarks/resume.py [--rounds 30] [--kills 3] [--ray]

Each round starts a fresh study (TPE, 2 cells x 300 trials, readout h = 32, 3 steps,
batch size 4), SIGKILLs its `layerlr run` command at ``--kills`` random moments (uniform
over 1-8 s after the start, imports included), then runs it to the end and checks that
the resume was exact: every cell exactly n_trials COMPLETE in the storage, no trial left
RUNNING, and exactly their rows in Parquet, each (cell, trial, step) once. ``--ray``
runs on a local Ray of 2 CPUs (``--address``) instead of the driver's own lane. Prints
one row per round and the count of exact rounds (the test suite runs four kills of one
study: tests/study/test_execution.py).
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
from table import print_table

LAYERLR = [sys.executable, "-m", "layerlr.cli"]
STUDY = """name = "resume"
[model]
depth = [3, 4]
width = 32
[train]
steps = 3
seeds = [1, 2, 3]
[search]
sampler = "tpe"
n_trials = 300
[resources]
batch_size = 4
"""


def exact(results: Path) -> str:
    """"exact", or what is wrong with the resumed study."""
    from layerlr.study.storage import open_storage, resolve

    storage = open_storage(resolve(results))
    frame = pd.read_parquet(results / "trials")
    if frame.duplicated(["cell", "trial", "step"]).any():
        return "duplicate rows"
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        complete = {t.number for t in study.trials if t.state.name == "COMPLETE"}
        rows = frame[frame.cell == name.split("/")[1]]
        if len(complete) != 300 or any(t.state.name == "RUNNING" for t in study.trials):
            return f"{name}: {len(complete)} complete"
        if set(rows.trial) != complete or len(rows) != 3 * len(complete):
            return f"{name}: Parquet differs from the storage"
    return "exact"


def round_(folder: Path, kills: int, rng: random.Random, address: list[str]) -> dict:
    study = folder / "study.toml"
    study.write_text(STUDY)
    run = [*LAYERLR, "run", str(study), "--results", str(folder / "res"), "--quiet", *address]
    moments = []
    for _ in range(kills):
        proc = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moments.append(rng.uniform(1.0, 8.0))
        try:
            proc.wait(moments[-1])  # finished before the kill: nothing to kill
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    start = time.perf_counter()
    done = subprocess.run(run, capture_output=True, text=True, timeout=600)
    verdict = exact(folder / "res") if done.returncode == 0 else f"exit {done.returncode}"
    return {"kills at s": " ".join(f"{m:.1f}" for m in moments),
            "resume s": time.perf_counter() - start, "verdict": verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray", action="store_true")
    args = parser.parse_args()
    rng, address, ray = random.Random(args.seed), [], None
    if args.ray:
        import ray

        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
        address = ["--address", ray.get_runtime_context().gcs_address]
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            rows.append({"round": i + 1, **round_(Path(folder), args.kills, rng, address)})
        print(rows[-1], flush=True)
    print_table(rows, 6, 18)
    good = sum(r["verdict"] == "exact" for r in rows)
    print(f"{good} of {len(rows)} rounds resumed exactly")


if __name__ == "__main__":
    main()
