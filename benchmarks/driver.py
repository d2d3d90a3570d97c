"""Tiny trials through the full stack (Optuna + Ray + Parquet) against Ray Tune.

    pip install "ray[tune]"   # for the baseline only
    python benchmarks/driver.py [--trials 300] [--tune-trials 40]

The same study (readout depth 3, h = 32, 2 steps, 5 seeds, TPE over first-rest
schedules) runs through ``layerlr`` with 1 and 2 Ray workers, and through Ray Tune with
OptunaSearch, one trial per Tune trial (the one-actor-per-trial model), on the same
local Ray (layerlr's runs set ``resources.workers``, so they start Ray's samplers and
evaluators at once). Every per-trial figure counts its whole part of the loop: ask and
tell are the samplers' time with their storage reads and writes, Parquet and driver the
driver's; "wall ms/trial" is the run's wall time divided by its trials.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna
import ray
from table import print_table

from layerlr.study import parse_study, run_study

STUDY = {"name": "bench", "model": {"depth": 3, "width": 32},
         "train": {"steps": 2, "seeds": [0, 1, 2, 3, 4]},
         "search": {"sampler": "tpe", "phases": "first-rest"}}


def layerlr_run(trials: int, workers: int) -> dict:
    raw = {**STUDY, "search": {**STUDY["search"], "n_trials": trials},
           "resources": {"workers": workers}}
    cfg = parse_study(raw)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_study(cfg, Path(tmp), echo=lambda _: None, progress=False)
        wall = time.perf_counter() - start
    cost = summary.per_trial()
    return {"system": f"layerlr, {workers} worker{'s' if workers > 1 else ''}",
            "trials": summary.complete, "wall s": wall, "trials/s": summary.complete / wall,
            "wall ms/trial": 1e3 * wall / summary.complete,
            **{f"{k} ms/trial": 1e3 * cost[k] for k in ("ask", "tell", "parquet", "driver")}}


def tune_run(trials: int, workers: int) -> dict:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    cfg = parse_study(STUDY)
    cell = cfg.cells()[0]

    def objective(config: dict) -> dict:
        import torch

        from layerlr import evaluate
        from layerlr.study.space import phase_of_step, simplex

        h, rows = cell.width, []
        for j in (1, 2):
            budget = cfg.search.scale * h ** config[f"alpha_p{j}"]
            rows.append([budget * f for f in simplex([config[f"split_p{j}_l1"]])])
        schedule = torch.tensor([[rows[p] for p in phase_of_step(cfg)]], dtype=torch.float64)
        ev = evaluate(cell.setting, schedule, list(cfg.train.seeds),
                      dtype=getattr(torch, cfg.train.dtype))
        return {"loss": ev.losses["population"][:, 0, -1].mean().item()}

    search = OptunaSearch(tune_space, metric="loss", mode="min",
                          sampler=optuna.samplers.TPESampler(seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        tuner = tune.Tuner(
            tune.with_resources(objective, {"cpu": 1}),
            tune_config=tune.TuneConfig(search_alg=search, num_samples=trials,
                                        max_concurrent_trials=workers),
            run_config=tune.RunConfig(storage_path=tmp, verbose=0))
        start = time.perf_counter()
        grid = tuner.fit()
        wall = time.perf_counter() - start
    done = len([r for r in grid if r.error is None])
    return {"system": f"Ray Tune + OptunaSearch, {workers} concurrent", "trials": done,
            "wall s": wall, "trials/s": done / wall, "wall ms/trial": 1e3 * wall / done,
            **{f"{k} ms/trial": float("nan") for k in ("ask", "tell", "parquet", "driver")}}


def tune_space(trial: optuna.Trial) -> None:
    """The parameters layerlr asks for (module level: Tune pickles its searcher)."""
    from layerlr.study.space import suggest

    cfg = parse_study(STUDY)
    suggest(trial, cfg, cfg.cells()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--tune-trials", type=int, default=40)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, configure_logging=False)
    rows = [layerlr_run(args.trials, 1), layerlr_run(args.trials, 2)]
    try:
        if args.tune_trials:
            rows += [tune_run(args.tune_trials, 1), tune_run(args.tune_trials, 2)]
    except ImportError as err:
        print(f"(Ray Tune baseline skipped: {err}; pip install 'ray[tune]')")
    print_table(rows, 36, 16)

if __name__ == "__main__":
    main()
