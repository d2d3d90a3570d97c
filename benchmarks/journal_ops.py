"""Cost of one journal operation on this disk: layerlr's file backends against Optuna's.

    python benchmarks/journal_ops.py [--n 3000] [--repeats 5]

Prints microseconds per operation (the best of ``repeats`` runs, one process: the least
disturbed by other work on the machine): a bare
append (lock, write, unlock), an Optuna write with its read-back (a trial user attribute
through ``JournalStorage``), and a whole trial (ask, three parameters, tell), for a results
directory's own journal (``own``), a journal named by ``--storage`` (``shared``: read and
appended as Optuna does) and Optuna's ``JournalFileBackend`` (fsync per append). Timings
are meaningless on a loaded machine: compare figures taken in one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from layerlr.study.storage import JournalFile, flush

LOG = {"op_code": 5, "worker_id": "w", "trial_id": 1, "param_name": "alpha_p1",
       "param_value_internal": 0.5, "distribution": "{}"}


def backend(kind: str, path: Path):
    if kind == "optuna":
        return JournalFileBackend(str(path))
    return JournalFile(path, local=kind == "own")


def appends(kind: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        journal = backend(kind, Path(tmp) / "optuna.log")
        start = time.perf_counter()
        for _ in range(n):
            journal.append_logs([LOG])
        return (time.perf_counter() - start) / n


def writes(kind: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = JournalStorage(backend(kind, Path(tmp) / "optuna.log"))
        study = optuna.create_study(storage=store, study_name="s/c")
        trial = study.ask()
        start = time.perf_counter()
        for i in range(n):
            trial.set_user_attr("k", i)
        flush(store)
        return (time.perf_counter() - start) / n


def trials(kind: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = JournalStorage(backend(kind, Path(tmp) / "optuna.log"))
        study = optuna.create_study(storage=store, study_name="s/c",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        for _ in range(n):
            trial = study.ask()
            value = sum(trial.suggest_float(f"x{j}", 0.0, 1.0) for j in range(3))
            study.tell(trial, value)
        flush(store)
        return (time.perf_counter() - start) / n


def best_us(measure: Callable[[str, int], float], kind: str, n: int, repeats: int) -> float:
    return 1e6 * min(measure(kind, n) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="operations per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("| backend | append (us) | write + read-back (us) | trial: ask, 3 params, tell (us) |")
    print("| --- | --- | --- | --- |")
    for kind in ("own", "shared", "optuna"):
        n = args.n if kind != "optuna" else max(args.n // 10, 50)  # fsync per append
        cells = [best_us(m, kind, n, args.repeats) for m in (appends, writes)]
        cells.append(best_us(trials, kind, max(n // 10, 20), args.repeats))
        print(f"| {kind} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
