"""Read-only views of a storage: per-cell status and the best schedules."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from layerlr.results import trial_result
from layerlr.study.storage import open_storage, resolve, split_name


def _studies(url: str, study: str | None) -> list[optuna.Study]:
    """``url``: a journal path, Redis or SQLAlchemy URL."""
    store = open_storage(resolve(".", url), create=False)
    names = sorted(n for n in optuna.get_all_study_names(store)
                   if study is None or split_name(n)[0] == study)
    return [optuna.load_study(study_name=n, storage=store) for n in names]


def status_table(url: str, study: str | None = None) -> str:
    """One line per cell: counts by state and the best value."""
    studies = _studies(url, study)
    width = max([14] + [len(split_name(s.study_name)[1]) for s in studies])  # cell names
    rows = [f"{'study':<24} {'cell':<{width}} {'complete':>8} {'failed':>6} {'running':>7} "
            f"{'queued':>6}  best"]
    for s in studies:
        trials = s.get_trials(deepcopy=False)
        count = {state: sum(t.state == state for t in trials) for state in TrialState}
        best = min((t.value for t in trials if t.state == TrialState.COMPLETE), default=None)
        name, cell = split_name(s.study_name)
        rows.append(f"{name:<24} {cell:<{width}} {count[TrialState.COMPLETE]:>8} "
                    f"{count[TrialState.FAIL]:>6} {count[TrialState.RUNNING]:>7} "
                    f"{count[TrialState.WAITING]:>6}  {'-' if best is None else f'{best:.6g}'}")
    if len(rows) == 1:
        return "no studies in this storage"
    return "\n".join(rows)


def best_table(url: str, study: str | None = None, top: int = 3) -> str:
    """The ``top`` best COMPLETE trials of each cell with their rates per step."""
    out = []
    for s in _studies(url, study):
        done = sorted((t for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
                      key=lambda t: t.value)[:top]
        out.append(f"{s.study_name}")
        groups = s.user_attrs.get("groups")
        if groups:  # the rates' order, eta1 ... etaK (stored by the run)
            out.append("  rates of: " + "  ".join(groups))
        for t in done:
            out.append(f"  trial {t.number:>5}  value {t.value:.6g}")
            out += _schedule_lines(trial_result(t)["schedule"])
    return "\n".join(out) if out else "no studies in this storage"


def _schedule_lines(schedule: list[list[float]]) -> list[str]:
    """One line per run of steps with the same rates ("steps 2-50: ...")."""
    out, start = [], 0
    for end in range(1, len(schedule) + 1):
        if end == len(schedule) or schedule[end] != schedule[start]:
            steps = f"step {start + 1}" if end == start + 1 else f"steps {start + 1}-{end}"
            out.append(f"      {steps}: " + "  ".join(f"{r:.6g}" for r in schedule[start]))
            start = end
    return out
