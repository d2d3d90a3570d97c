"""The records a study file is validated into: plain frozen values (no pydantic, no torch).

They travel to Ray actors, are hashed and compared, and :meth:`StudyConfig.identity`
is what Optuna stores and a resume compares. The study file's keys, defaults and
rules are in :mod:`.tables` and :mod:`.model_tables`; the defaults are these fields'.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from layerlr.families import family
from layerlr.study.config.facts import Setting, default_activation, default_family


@dataclass(frozen=True)
class ModelSpec:
    """[model] (or one [[model]] table): the network and data of its cells (SPEC 1-3, 10)."""

    depths: tuple[int, ...]  # each (activation, depth, width) triple is a cell
    widths: tuple[int, ...]
    family: str | None = None  # None: matrix at depth 2, readout at depth >= 3
    init: str | None = "orthogonal"  # None: a module network's own init (SPEC 13)
    data: str = "whitened"  # or a bundled data set (mlp family): digits, diabetes
    target: str | None = None  # None: the published choice for the family
    n: int | None = None  # None: the width (a real data set: its rows less the test rows)
    d: int | None = None  # None: the width (a real data set: its own)
    noise: float = 0.0  # label-noise variance rho
    test_size: int | None = 500  # m; None (real data): a quarter of the rows
    activation: tuple[str, ...] | None = None  # mlp family: one cell per activation
    # the module family (SPEC 13): the builder and loader ("FILE.py:fn" with an absolute
    # path, or "package.module:fn"), the loss, and (name, regex) rate groups
    module: str | None = None
    loss: str | None = None
    groups: tuple[tuple[str, str], ...] | None = None

    def setting(self, depth: int, width: int, activation: str | None = None,
                train: TrainSpec | None = None) -> Setting:
        """A cell's Setting; the module family takes its optimizer and batch size from
        ``train``."""
        train = train or TrainSpec()
        return Setting(family=self.family or default_family(depth), depth=depth,
                       width=width, d=self.d, n=self.n, init=self.init, data=self.data,
                       target=self.target, noise=self.noise, test_size=self.test_size,
                       activation=activation, module=self.module, loss=self.loss,
                       groups=self.groups, optimizer=train.optimizer,
                       batch_size=train.batch_size)  # each family refuses what it lacks

    def activations(self) -> tuple[str | None, ...]:
        """Each cell's activation: the listed ones, else the family's default (or None)."""
        return self.activation or (default_activation(self.family),)


@dataclass(frozen=True)
class TrainSpec:
    """[train]: how each trial trains (SPEC 4, 9)."""

    steps: int = 2  # GD steps (1 ... MAX_STEPS); losses are recorded after each
    seeds: tuple[int, ...] = (2020, 2021, 2022, 2023, 2024)  # the published seeds
    protocol: str = "native"  # "published" reproduces the paper's draws seed for seed
    dtype: str = "float32"  # what the published experiments used
    measure: bool = True  # False: nothing drawn or trained, only the exact theory (any width)
    optimizer: str | None = None  # module family: "sgd" (default) or "adam" (SPEC 13)
    batch_size: int | None = None  # module family: rows per step (None: full batches)


@dataclass(frozen=True)
class SearchSpec:
    """[search]: the space of schedules and how Optuna searches it."""

    sampler: str = "tpe"
    diagonal: tuple[float, ...] | None = None  # budgets B of the published sweep (SPEC 9)
    # or budgets B = scale h^alpha per width; a list, or pairs (family, list) per family
    diagonal_alpha: tuple[float, ...] | tuple[tuple[str, tuple[float, ...]], ...] | None = None
    diagonal_divisions: int = 20  # s = B/20 as published; finer grids resolve curvature
    diagonal_grid: str = "integer"  # integer: s = max(1, floor(B/divisions)) as published;
    # even: s = B/divisions (fine points at small budgets)
    diagonal_steps: str = "all"  # all: the published sweep; first / rest: only step 1 /
    # only steps >= 2 take the swept split, the others the equal split of the same budget
    n_trials: int = 100  # per cell; a diagonal grid runs each point once instead
    objective: str = "population"  # mean over seeds of this loss (or the theory) ...
    objective_step: int | tuple[int, ...] | None = None  # ... after this step (default:
    # the last); a list makes one cell per step, to compare the winners of each
    phases: str = "first-rest"  # constant | first-rest | per-step
    rates: str = "budget"  # budget: B = scale h^alpha split on the simplex; free: h^e each
    alpha: tuple[float, float] | None = None  # searched exponent range (default by family)
    scale: float = 2.0  # the c in B = c h^alpha (SPEC 8 uses 2)
    exponent: tuple[float, float] | None = None  # free rates: eta = h^e, e in this range
    rate: tuple[float, float] | None = None  # free rates: eta log-uniform in [lo, hi]
    # baselines searched beside each cell (SPEC 13): "single" (one rate for every group
    # and step, 1-D) and "decay" (eta_k = base decay^(K - k), 2-D); each is a cell
    baselines: tuple[str, ...] | None = None
    seed: int = 0  # sampler seed, for reproducible searches
    # a diagonal sweep's subset: per cell name, the indices of its diagonal points to run
    # (``layerlr confirm`` builds it; not a study-file key); None: every point
    only_points: tuple[tuple[str, tuple[int, ...]], ...] | None = None

    @property
    def is_diagonal(self) -> bool:
        return self.diagonal is not None or self.diagonal_alpha is not None

    def budgets(self, width: int, family: str) -> list[float]:
        """The diagonal budgets of a cell (empty for a schedule space)."""
        if self.diagonal_alpha is not None:
            return [self.scale * width**a for a in self.exponents(family)]
        return list(self.diagonal or ())

    def exponents(self, family: str) -> tuple[float, ...]:
        """The alphas of diagonal_alpha that apply to ``family``."""
        alpha = self.diagonal_alpha or ()
        if alpha and isinstance(alpha[0], (list, tuple)):  # per family
            return tuple(dict(alpha).get(family, ()))
        return tuple(alpha)


@dataclass(frozen=True)
class ResourceSpec:
    """[resources]: how trials are spread over Ray workers."""

    workers: int | None = None  # None: fill the cluster
    cpus_per_worker: float | None = None  # None: a whole node (its CPUs as torch threads)
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    batch_size: int | None = None  # trials per batch; None adapts to ~0.5 s batches
    memory_mb: int | None = None  # engine working memory per worker (None: engine default)


@dataclass(frozen=True)
class Cell:
    """One network, data set, depth and width (and objective step): its own Optuna study.

    Named ``L<depth>-h<width>`` for the linear families; an mlp cell's name starts with
    its activation and data (``relu-digits-L3-h128``, ``tanh-gaussian-sphere-L3-h256``),
    and ``-obj<step>`` ends it when the study lists several objective steps.
    """

    depth: int
    width: int
    setting: Setting
    objective_step: int = 2  # the step whose loss the sampler minimises
    listed_step: bool = False  # the study lists several objective steps
    baseline: str | None = None  # a baseline's space (SearchSpec.baselines), not the search

    @property
    def name(self) -> str:
        """``L<depth>-h<width>``, after the family's prefix (an mlp cell's activation and
        data, a module cell's network and data), then ``-obj<step>`` and the baseline."""
        parts = [*family(self.setting.family).cell_prefix(self.setting),
                 f"L{self.depth}", f"h{self.width}"]
        if self.listed_step:
            parts.append(f"obj{self.objective_step}")
        if self.baseline:
            parts.append(self.baseline)
        return "-".join(parts)

    @property
    def searched(self) -> str:
        """The name of the cell whose search this baseline is compared with (its own)."""
        return self.name.removesuffix(f"-{self.baseline}") if self.baseline else self.name


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file: its name, model tables, training, search and resources."""

    name: str
    model: ModelSpec | tuple[ModelSpec, ...]  # one [model] table, or several [[model]]
    train: TrainSpec
    search: SearchSpec
    resources: ResourceSpec = ResourceSpec()

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        return self.model if isinstance(self.model, tuple) else (self.model,)

    def cells(self) -> list[Cell]:
        """Per model table, activation, depth, width and objective step, in that order."""
        steps, baselines = self.objective_steps, (None, *(self.search.baselines or ()))
        listed = len(steps) > 1 or isinstance(self.search.objective_step, tuple)
        return [Cell(d, w, m.setting(d, w, act, self.train), step, listed, baseline)
                for m in self.models for act in m.activations() for d in m.depths
                for w in m.widths for step in steps for baseline in baselines]

    @property
    def objective_steps(self) -> tuple[int, ...]:
        """The steps whose losses the cells minimise (default: the last step)."""
        step = self.search.objective_step or self.train.steps
        return step if isinstance(step, tuple) else (step,)

    @property
    def objective_step(self) -> int:
        """The objective step of a study with one (the last of several)."""
        return self.objective_steps[-1]

    def identity(self) -> dict[str, Any]:
        """What defines the study's trials: everything but n_trials and resources."""
        out = {k: dataclasses.asdict(getattr(self, k)) for k in ("train", "search")}
        models = [dataclasses.asdict(m) for m in self.models]
        out["model"] = models if isinstance(self.model, tuple) else models[0]
        out["search"].pop("n_trials")
        for table, keys in OPTIONAL.items():  # unset, they leave older identities as they
            for part in out[table] if table == "model" and isinstance(out[table], list) \
                    else [out[table]]:  # were (a confirm run's only_points; SPEC 13's keys)
                for key in keys:
                    if part[key] is None:
                        del part[key]
        return _jsonable(out)

    @classmethod
    def from_identity(cls, name: str, identity: dict[str, Any]) -> StudyConfig:
        """The configuration a storage recorded with :meth:`identity`."""

        def build(kind: type, values: dict[str, Any]) -> Any:
            return kind(**{k: _frozen(v) for k, v in values.items()})

        model = identity["model"]
        model = (tuple(build(ModelSpec, m) for m in model) if isinstance(model, list)
                 else build(ModelSpec, model))
        return cls(name, model, build(TrainSpec, identity["train"]),
                   build(SearchSpec, identity["search"]))


# Keys left out of a study's identity when unset (added after studies were stored).
OPTIONAL = {"model": ("module", "loss", "groups"), "train": ("optimizer", "batch_size"),
            "search": ("only_points", "rate", "baselines")}


def _frozen(value: Any) -> Any:
    """JSON lists back to the records' tuples (nested: diagonal_alpha by family)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
