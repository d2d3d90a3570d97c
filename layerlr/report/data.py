"""What a report reads: each study's Parquet rows, and its configuration and state.

The numbers all come from the Parquet dataset (``RESULTS/trials``). The Optuna storage,
when it can be opened, adds what Parquet does not hold: the study's configuration (its
objective and the c of B = c h^alpha) and whether a driver is running it right now.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from layerlr import families
from layerlr.results import read_results
from layerlr.schedules import diagonal_sum
from layerlr.study.config import SearchSpec, StudyConfig


@dataclass(frozen=True)
class StudyState:
    """A study as its storage sees it: trial counts and whether a driver holds it."""

    counts: dict[str, int]  # trials by Optuna state name, all cells
    running: bool  # a live driver holds at least one cell
    driver: str | None  # "pid 123 on host" of that driver


@dataclass
class StudyResults:
    """One study's rows (one per trial and step) with what the storage knows of it."""

    name: str
    frame: pd.DataFrame
    config: StudyConfig | None = None
    state: StudyState | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read, and why
    groups: dict[str, list[str]] = field(default_factory=dict)  # cell -> its rates' names

    @property
    def objective(self) -> str:
        """What the study minimised: "population", "empirical" or "theory"."""
        return self.config.search.objective if self.config else SearchSpec.objective

    @property
    def measured(self) -> bool:
        """Whether the study trained anything (train.measure), or only has the theory."""
        if self.config is not None:
            return self.config.train.measure
        return bool(self.frame["loss_surrogate"].notna().any())

    @property
    def gd_loss(self) -> str:
        """The measured GD loss the report tests: the objective, or the population loss
        when the objective is the theory."""
        return self.objective if self.objective != "theory" else "population"

    @property
    def scale(self) -> float:
        """The c of B = c h^alpha that budget exponents are quoted against."""
        return self.config.search.scale if self.config else SearchSpec.scale

    def nominal_budget(self, width: int, family: str, realized: float) -> float:
        """The configured diagonal budget B whose points' rates sum to ``realized``
        (N s <= B, SPEC 9), or ``realized`` itself outside diagonal studies."""
        search = self.config.search if self.config else None
        if search is None or not search.is_diagonal:
            return realized
        for budget in search.budgets(width, family):
            total = diagonal_sum(budget, search.diagonal_divisions,
                                 search.diagonal_grid == "even")
            if abs(total - realized) <= 1e-9 * budget:
                return budget
        return realized

    def at_edge(self, width: int, family: str, budget: float, alpha: float) -> bool:
        """Whether a best schedule sits at the edge of the budgets the study searched
        (its smallest or largest diagonal budget; within 2% of the ends of the alpha
        range), where the optimum may lie beyond. False when that is unknown."""
        search = self.config.search if self.config else None
        if search is None:
            return False
        if search.is_diagonal:
            budgets = search.budgets(width, family)
            return len(budgets) > 1 and budget in (min(budgets), max(budgets))
        if search.rates != "budget":
            return False
        lo, hi = search.alpha or families.family(family).default_alpha
        return not lo + 0.02 * (hi - lo) <= alpha <= hi - 0.02 * (hi - lo)

    def cells(self) -> list[tuple[str, pd.DataFrame]]:
        """(cell, its usable rows): COMPLETE, not diverged; by network (see
        :func:`network`), then depth, then width."""
        ok = self.frame[(self.frame["state"] == "COMPLETE") & ~self.frame["diverged"]]
        first = ok.drop_duplicates("cell")
        order = first.assign(network=first["cell"].map(network)).sort_values(
            ["network", "depth", "width", "cell"])["cell"]
        return [(c, ok[ok["cell"] == c]) for c in order]

    @property
    def objective_steps(self) -> tuple[int, ...] | None:
        """The steps the cells minimise, where the storage says."""
        return self.config.objective_steps if self.config else None


def accuracy(row: pd.Series) -> float:
    """A Parquet row's held-out accuracy, mean over seeds; NaN where it has none
    (regression, the linear families, a dataset written before the column)."""
    value = row.get("accuracy")
    return float(value) if pd.notna(value) else math.nan


def network(cell: str) -> str:
    """A cell's name without its depth and width: the mlp's activation and data and an
    objective step (``relu-digits-obj2``); "" for the linear families (``L3-h128``)."""
    return re.sub(r"-?L\d+-h\d+", "", cell).strip("-")


def load(results: str | Path, storage: str | None = None) -> list[StudyResults]:
    """Every study in ``results``, in name order, with its storage data where available."""
    if not any((Path(results) / "trials").glob("*/*/part-*.parquet")):
        return []
    frame = read_results(results)
    frame["study"] = frame["study"].astype(str)
    frame["cell"] = frame["cell"].astype(str)
    studies = [StudyResults(name, rows.reset_index(drop=True))
               for name, rows in frame.groupby("study", sort=True)]
    url = storage or default_storage(results)
    if url is None:
        for s in studies:
            s.notes.append(f"no storage found ({Path(results) / 'optuna.log'}): objective "
                           f"and budget scale assumed ({s.objective}, c = {s.scale:g})")
        return studies
    for s in studies:
        _attach_storage(s, url)
    return studies


def seed_values(rows: pd.DataFrame, column: str) -> np.ndarray:
    """The per-seed values of ``column`` (e.g. "loss_surrogate") -> (rows, seeds)."""
    values = rows[f"{column}_seeds"].tolist()
    if any(v is None for v in values):
        raise ValueError(f"rows without per-seed values of {column}: the dataset predates "
                         "them; rebuild it with: layerlr rebuild --results RESULTS")
    return np.array([np.asarray(v, dtype=float) for v in values]).reshape(len(values), -1)


def default_storage(results: str | Path) -> str | None:
    """The results directory's own storage (journal or an older SQLite file), if any."""
    from layerlr.study.storage import resolve

    spec = resolve(results)
    if not spec.path.is_file():
        return None
    return str(spec.path) if spec.kind == "journal" else spec.url


def _attach_storage(s: StudyResults, url: str) -> None:
    import optuna

    from layerlr.study.lock import alive
    from layerlr.study.storage import open_storage, redact, resolve, split_name

    try:
        store = open_storage(resolve(".", url), create=False)
        names = [n for n in optuna.get_all_study_names(store) if split_name(n)[0] == s.name]
    except Exception as err:
        s.notes.append(f"storage {redact(url)} not readable ({type(err).__name__}): "
                       "trial states unknown, objective and budget scale assumed")
        return
    counts: dict[str, int] = {}
    running, driver = False, None
    for name in names:
        study = optuna.load_study(study_name=name, storage=store)
        if s.config is None and study.user_attrs.get("config"):
            s.config = StudyConfig.from_identity(s.name, study.user_attrs["config"])
        if study.user_attrs.get("groups"):
            s.groups[split_name(name)[1]] = list(study.user_attrs["groups"])
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        held = study.user_attrs.get("driver")
        if held and alive(held):
            running, driver = True, f"pid {held['pid']} on {held['host']}"
    s.state = StudyState(counts, running, driver)
    if not names:
        s.notes.append(f"study not in storage {redact(url)}: objective and budget scale "
                       "assumed")
