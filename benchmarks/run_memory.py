"""Memory a `layerlr run` holds per trial, against Optuna's own journal storage.

    python benchmarks/run_memory.py [--trials 4000 20000]

Runs the whole command (`layerlr run STUDY --quiet`, a fresh results directory; random
sampler, one readout cell, h = 8, 2 steps, 5 seeds) at two trial counts and takes the
peak resident memory of each (getrusage of the finished child): the difference divided
by the difference in trials is what the run holds per trial. Baseline, in the same run:
a plain Optuna script that asks and tells the same number of trials on a
`JournalFileBackend` with a user attribute of the same size as layerlr's per-trial
result (what Optuna's replayed trials alone hold). Files go to /dev/shm where there is
one (Optuna's own backend fsyncs every write: on a disk its 20,000 trials take an hour).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from table import print_table

STUDY = """name = "memory"
[model]
depth = 3
width = 8
[train]
steps = 2
seeds = [1, 2, 3, 4, 5]
[search]
sampler = "random"
n_trials = {trials}
[resources]
batch_size = 64
"""

OPTUNA = """
import json, sys
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(storage=JournalStorage(JournalFileBackend(sys.argv[1])))
payload = "x" * int(sys.argv[3])
for i in range(int(sys.argv[2])):
    trial = study.ask()
    trial.suggest_float("alpha_p1", 0, 1); trial.suggest_float("split_p1_l1", 0, 1)
    trial.suggest_float("alpha_p2", 0, 1); trial.suggest_float("split_p2_l1", 0, 1)
    trial.set_user_attr("result", payload)
    study.tell(trial, 0.5)
"""


PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_mib(command: list[str], cwd: str) -> float:
    """Peak resident memory (MiB) of ``command``, run to the end as the only child of a
    fresh process (getrusage's children's peak is over every child so far)."""
    out = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=cwd, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def result_bytes(folder: Path) -> int:
    """The size of one trial's "result" user attribute in a finished layerlr study."""
    import json

    for line in (folder / "optuna.log").open():
        log = json.loads(line)
        if log.get("op_code") == 8 and "result" in log.get("user_attr", {}):  # SET_TRIAL_USER_ATTR
            return len(log["user_attr"]["result"])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs=2, default=[4000, 20000])
    args = parser.parse_args()
    small, large = sorted(args.trials)
    rows = []
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # memory, not disk speed
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        peaks = {}
        for n in (small, large):
            study = Path(tmp) / f"s{n}.toml"
            study.write_text(STUDY.format(trials=n))
            peaks[n] = peak_mib([sys.executable, "-m", "layerlr.cli", "run", str(study),
                                 "--results", f"r{n}", "--quiet"], tmp)
        size = result_bytes(Path(tmp) / f"r{small}")
        per = (peaks[large] - peaks[small]) * 2**20 / (large - small)
        rows.append({"command": "layerlr run", f"peak MiB at {small}": peaks[small],
                     f"peak MiB at {large}": peaks[large], "bytes per trial": per})
        base = {}
        for n in (small, large):
            base[n] = peak_mib([sys.executable, "-c", OPTUNA, f"o{n}.log", str(n), str(size)],
                               tmp)
        per_base = (base[large] - base[small]) * 2**20 / (large - small)
        rows.append({"command": "Optuna alone (baseline)", f"peak MiB at {small}": base[small],
                     f"peak MiB at {large}": base[large], "bytes per trial": per_base})
    print_table(rows, 24, 16)
    print(f"one trial's result attribute: {size} bytes; layerlr holds "
          f"{per / max(per_base, 1):.2f}x what Optuna's replayed trials hold")


if __name__ == "__main__":
    main()
