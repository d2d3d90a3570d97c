"""A study file's tables as pydantic models: its keys, types, ranges, defaults and rules.

``StudyFile`` is the whole file; its JSON Schema is what ``layerlr schema`` prints. The
defaults are the records' (:mod:`.records`), the [model] tables are in
:mod:`.model_tables`, and rules that join tables or cells are in :mod:`.checks`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from layerlr.study.config.facts import BASELINES, FAMILIES, OPTIMIZERS, PROTOCOLS, STEPS_ANY
from layerlr.study.config.fields import (
    Pair,
    StudyName,
    choice,
    choices,
    either,
    finite,
    integer,
    ints,
    is_list,
    numbers,
    refuse,
    refuse_keys,
    schema_of,
)
from layerlr.study.config.model_tables import STRICT, ModelTables
from layerlr.study.config.records import ResourceSpec, SearchSpec, TrainSpec

SAMPLERS = ("tpe", "random", "cmaes", "gp", "grid")
PHASES = ("first-rest", "constant", "per-step")
DIAGONAL_STEPS = ("all", "first", "rest")  # which steps of a diagonal sweep take its split
DIAGONAL_GRIDS = ("integer", "even")  # SPEC 9's integer step, or s = B / divisions
RATES = ("budget", "free")
OBJECTIVES = ("population", "empirical", "theory")  # theory: the exact expected surrogate
DTYPES = ("float32", "float64")
MIN_CPUS_PER_WORKER = 0.5
MAX_SEED = 2**64 - 1  # what torch's generators take (TOML itself reads larger integers)
# Ray's tested scale is about 10k actors in one cluster (its "scalability envelope").
MAX_WORKERS = 10_000
# A batch's trials are asked together and held (RUNNING, and in the driver's memory, some
# 13 KB each) until the whole batch is told.
MAX_BATCH = 100_000


class TrainTable(BaseModel):
    """[train]: how each trial trains (SPEC 4, 9)."""

    model_config = STRICT

    steps: integer(1, STEPS_ANY) = Field(TrainSpec.steps, description=(
        "GD steps; losses are recorded after every one (at most 100; the module family "
        f"{STEPS_ANY})"))
    seeds: ints(0, MAX_SEED, repeat="seeds repeat; list each seed once") = Field(
        list(TrainSpec.seeds), description="Seeds of the draws; a trial's loss is their mean")
    protocol: choice(PROTOCOLS) = Field(TrainSpec.protocol, description=(
        "published: the paper's draws seed for seed (SPEC 9)"))
    dtype: choice(DTYPES) = Field(TrainSpec.dtype)
    measure: bool = Field(TrainSpec.measure, description=(
        "false: draw and train nothing, only the exact theory (needs it in every cell)"))
    optimizer: choice(OPTIMIZERS) | None = Field(None, description=(
        "Module family: sgd (default) or adam, one parameter group per rate group"))
    batch_size: integer(1) | None = Field(None, description=(
        "Module family: training rows per step, a fixed sequence per seed (default: all)"))


def _family_key(name: str) -> str:
    if name not in FAMILIES:
        raise refuse(f"not a family; use {list(FAMILIES)}")
    return name


EXPONENTS = numbers(0.0)
DiagonalAlpha = either(  # exponents, or a table of lists of them by family
    {"<by family>": Annotated[dict[Annotated[str, AfterValidator(_family_key)], EXPONENTS],
                              Field(min_length=1)],
     "<list>": EXPONENTS},
    lambda v: "<by family>" if isinstance(v, dict) else "<list>",
    {"anyOf": [schema_of(EXPONENTS), {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "properties": {family: schema_of(EXPONENTS) for family in FAMILIES}}]})
STEPS = ints(1, repeat="steps repeat; list each once")
ObjectiveStep = either({"<one>": integer(1), "<list>": STEPS}, is_list, schema_of(STEPS))


class SearchTable(BaseModel):
    """[search]: the schedules searched and how (a diagonal sweep, SPEC 9, or a space)."""

    model_config = STRICT

    sampler: choice(SAMPLERS) = Field(SearchSpec.sampler, description=(
        "grid: every diagonal point once"))
    n_trials: integer(1) = Field(SearchSpec.n_trials, description="COMPLETE trials per cell")
    objective: choice(OBJECTIVES) | None = Field(None, description=(
        "Mean over seeds of this loss (default population; theory when train.measure = "
        "false)"))
    objective_step: ObjectiveStep | None = Field(None, description=(
        "The step whose loss is minimised (default: the last); a list: cells per step"))
    seed: integer(0) = Field(SearchSpec.seed, description="Sampler seed")
    diagonal: numbers(0.0) | None = Field(None, description=(
        "Budgets B of the published sweep along eta1 + (rest) = B (SPEC 9): >= 2, or > 0 "
        "with diagonal_grid = 'even'"))
    diagonal_alpha: DiagonalAlpha | None = Field(None, description=(
        "Or budgets B = scale * h^alpha per cell's width; or a table of lists by family"))
    diagonal_divisions: integer(2) = Field(SearchSpec.diagonal_divisions, description=(
        "eta1 = i s with s = floor(B / divisions), as published"))
    diagonal_grid: choice(DIAGONAL_GRIDS) = Field(SearchSpec.diagonal_grid, description=(
        "integer: s >= 1 as published; even: s = B / divisions exactly"))
    diagonal_steps: choice(DIAGONAL_STEPS) = Field(SearchSpec.diagonal_steps, description=(
        "Steps that take the swept split (the others the equal split)"))
    phases: choice(PHASES) = Field(SearchSpec.phases, description=(
        "Groups of steps that share rates"))
    rates: choice(RATES) = Field(SearchSpec.rates, description=(
        "budget: B = scale h^alpha per phase split over the layers; free: eta = h^e each"))
    alpha: Pair | None = Field(None, description=(
        "[low, high] of alpha (default: matrix 1.0-1.6, readout and mlp 0-0.8)"))
    scale: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(
        SearchSpec.scale, description="The c of B = c h^alpha")
    exponent: Pair | None = Field(None, description="[low, high] of e for rates = free")
    rate: Pair | None = Field(None, description=(
        "[low, high] > 0: rates = free draws each rate log-uniform in it (for networks "
        "whose scale is unknown; baselines too)"))
    baselines: choices(BASELINES, "baselines repeat; list each once") | None = Field(
        None, description=(
            "Searched beside each cell: single (one rate for all groups), decay "
            "(eta_k = base decay^(K - k), decay in [0.1, 1]); each its own cell"))

    @model_validator(mode="after")
    def _keys_that_go_together(self) -> SearchTable:
        given, diagonal = self.model_fields_set, self.diagonal is not None
        swept = diagonal or self.diagonal_alpha is not None
        problems = []
        if diagonal and self.diagonal_alpha is not None:
            problems.append(("diagonal_alpha", ("give either diagonal (budgets) or "
                             "diagonal_alpha (exponents of B = scale h^alpha), not both")))
        if self.sampler == "grid" and not swept:
            problems.append(("sampler", ("'grid' needs search.diagonal or search.diagonal_alpha "
                             "(the points to sweep); use 'tpe', 'random', 'cmaes' or 'gp' "
                             "for a schedule space")))
        if swept and "n_trials" in given and self.sampler == "grid":
            problems.append(("n_trials", ("a diagonal grid runs every point once; remove "
                             "n_trials")))
        problems += [(key, ("only for diagonal sweeps; add search.diagonal or "
                      "search.diagonal_alpha, or remove it"))
                     for key in ("diagonal_steps", "diagonal_grid")
                     if key in given and not swept]
        problems += self._rate_keys(swept)
        small = [b for b in ([self.diagonal] if isinstance(self.diagonal, float)
                             else self.diagonal or []) if b < 2]
        if small and (self.diagonal_grid != "even" or min(small) <= 0):
            problems.append(("diagonal", (f"a budget of {min(small):g}: the published grid "
                             "needs B >= 2 (s = floor(B / divisions) >= 1); set diagonal_grid "
                             "= 'even' for smaller budgets (any B > 0)")))
        if problems:
            raise refuse_keys(problems)
        return self


    def _rate_keys(self, swept: bool) -> list[tuple[str, str]]:
        """search.rate: positive, for free rates, not beside exponent; baselines: not
        in a diagonal sweep."""
        problems = []
        if self.rate is not None:
            if self.rate[0] <= 0:
                problems.append(("rate", f"rates are positive; got low = {self.rate[0]:g}, "
                                 "use e.g. [1e-4, 1.0]"))
            elif self.rates != "free" and not self.baselines:
                problems.append(("rate", "only rates = 'free' (or baselines) draw rates "
                                 "from search.rate; set rates = 'free' or remove rate"))
            if self.exponent is not None:
                problems.append(("exponent", "give either rate (eta log-uniform in [low, "
                                 "high]) or exponent (eta = h^e), not both"))
        if self.baselines and (self.diagonal is not None or self.diagonal_alpha is not None):
            problems.append(("baselines", "a diagonal sweep runs fixed points, not a "
                             "search; remove baselines or the diagonal"))
        return problems


class ResourcesTable(BaseModel):
    """[resources]: how trials are spread over Ray workers."""

    model_config = STRICT

    workers: integer(1, MAX_WORKERS) | None = Field(None, description=(
        "Ray evaluators (default: one per GPU, else one per CPU node); starts Ray at once"))
    cpus_per_worker: finite(MIN_CPUS_PER_WORKER) | None = Field(None, description=(
        "Also its torch threads (default: the whole node)"))
    gpus_per_worker: finite(0.0) | None = Field(None, description=(
        "A fraction of one GPU or whole GPUs (default: 1 when the cluster has GPUs)"))
    batch_size: integer(1, MAX_BATCH) | None = Field(None, description=(
        "Trials per batch (default: adapts to ~0.5 s)"))
    memory_mb: integer(1) | None = Field(None, description=(
        "Engine working memory per worker"))

    @field_validator("gpus_per_worker")
    @classmethod
    def _whole_or_fraction(cls, gpus: float | None) -> float | None:
        if gpus is not None and gpus > 1 and gpus != int(gpus):
            raise refuse(f"{gpus} is neither a fraction of one GPU nor a whole number of GPUs")
        return gpus


class StudyFile(BaseModel):
    """A study file (``studies/*.toml``): see the README's "Study files"."""

    model_config = STRICT

    name: StudyName = Field(description="Names the Optuna studies and the results folder")
    model: ModelTables = Field(description=(
        "[model], or several [[model]] tables each with its own cells"))
    train: TrainTable = Field(default_factory=TrainTable)
    search: SearchTable = Field(default_factory=SearchTable)
    resources: ResourcesTable = Field(default_factory=ResourcesTable)


def train_spec(table: TrainTable) -> TrainSpec:
    return TrainSpec(**table.model_dump(exclude={"seeds"}), seeds=tuple(table.seeds))


def search_spec(table: SearchTable, train: TrainSpec) -> SearchSpec:
    """The record; the objective defaults to the theory when nothing is measured."""
    values = table.model_dump()
    values["objective"] = table.objective or ("population" if train.measure else "theory")
    if isinstance(values["baselines"], str):
        values["baselines"] = [values["baselines"]]
    for key in ("diagonal", "objective_step", "baselines"):
        if isinstance(values[key], list):
            values[key] = tuple(values[key])
    alpha = values["diagonal_alpha"]
    if isinstance(alpha, dict):  # pairs (family, exponents), sorted by family
        values["diagonal_alpha"] = tuple((f, tuple(alpha[f])) for f in sorted(alpha))
    elif alpha is not None:
        values["diagonal_alpha"] = tuple(alpha)
    return SearchSpec(**values)


def resource_spec(table: ResourcesTable) -> ResourceSpec:
    return ResourceSpec(**table.model_dump())
