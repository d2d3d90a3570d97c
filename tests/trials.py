"""A finished Optuna trial as the driver leaves it in the storage, for results tests."""

from __future__ import annotations

import datetime
import json

import optuna


def finished_trial(number: int, value: float = 0.5,
                   state=optuna.trial.TrialState.COMPLETE, **attrs):
    result = {f"loss_{n}{se}": [value, value / 2] for n in ("train", "population",
                                                          "empirical", "surrogate")
              for se in ("", "_se")}
    result.update({f"loss_{n}_seeds": [[value, value + 0.25], [value / 2, float("nan")]]
                   for n in ("train", "population", "empirical", "surrogate")})
    result.update(loss_theory=[float("nan"), 0.5], theory=["absent", "exact"],
                  diverged_at=None, node="n1", node_ip="127.0.0.1", device="cpu",
                  schedule=[[1.0, 2.0], [3.0, 4.0]])
    t = optuna.trial.create_trial(state=state, value=value if state.name == "COMPLETE" else None,
                                  user_attrs={"result": json.dumps(result), **attrs})
    t.number = number
    t.datetime_complete = datetime.datetime(2026, 1, 1)
    return t
