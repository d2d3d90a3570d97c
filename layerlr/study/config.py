"""Study files (``studies/*.toml``) validated into typed, plain configuration.

Every problem found is reported at once, one line each, naming the key and the fix; a
:class:`StudyFileError` carries them. Nothing here imports Ray, Optuna or does maths.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlr.datasets import DATASETS
from layerlr.setting import ACTIVATIONS, DATAS, FAMILIES, INITS, MAX_STEPS, Setting, SettingError

SAMPLERS = ("tpe", "random", "cmaes", "gp", "grid")
PHASES = ("first-rest", "constant", "per-step")
DIAGONAL_STEPS = ("all", "first", "rest")  # which steps of a diagonal sweep take its split
DIAGONAL_GRIDS = ("integer", "even")  # SPEC 9's integer step, or s = B / divisions
RATES = ("budget", "free")
OBJECTIVES = ("population", "empirical", "theory")  # theory: the exact expected surrogate
DTYPES = ("float32", "float64")
PROTOCOLS = ("native", "published")
MAX_FILE_BYTES = 1 << 20  # a study file is a few hundred bytes; refuse anything huge
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # a name is also a folder and a key
MIN_CPUS_PER_WORKER = 0.5
# Budget exponents alpha with B = scale * h^alpha that bracket the SPEC 8 regimes.
DEFAULT_ALPHA = {"matrix": (1.0, 1.6), "readout": (0.0, 0.8), "mlp": (0.0, 0.8)}


class StudyFileError(ValueError):
    """A study file that cannot be run; ``problems`` holds one line per wrong key."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class ModelSpec:
    """[model] (or one [[model]] table): the network and data of its cells (SPEC 1-3, 10)."""

    depths: tuple[int, ...]  # each (activation, depth, width) triple is a cell
    widths: tuple[int, ...]
    family: str | None = None  # None: matrix at depth 2, readout at depth >= 3
    init: str = "orthogonal"
    data: str = "whitened"  # or a bundled data set (mlp family): digits, diabetes
    target: str | None = None  # None: the published choice for the family
    n: int | None = None  # None: the width (a real data set: its rows less the test rows)
    d: int | None = None  # None: the width (a real data set: its own)
    noise: float = 0.0  # label-noise variance rho
    test_size: int | None = 500  # m; None (real data): a quarter of the rows
    activation: tuple[str, ...] | None = None  # mlp family: one cell per activation

    def setting(self, depth: int, width: int, activation: str | None = None) -> Setting:
        family = self.family or ("matrix" if depth == 2 else "readout")
        return Setting(family=family, depth=depth, width=width, d=self.d, n=self.n,
                       init=self.init, data=self.data, target=self.target,
                       noise=self.noise, test_size=self.test_size, activation=activation)

    def activations(self) -> tuple[str | None, ...]:
        """Each cell's activation: the listed ones, "relu" for an mlp without, else None."""
        if self.activation:
            return self.activation
        return ("relu",) if self.family == "mlp" else (None,)


@dataclass(frozen=True)
class TrainSpec:
    """[train]: how each trial trains (SPEC 4, 9)."""

    steps: int = 2  # GD steps (1 ... MAX_STEPS); losses are recorded after each
    seeds: tuple[int, ...] = (2020, 2021, 2022, 2023, 2024)  # the published seeds
    protocol: str = "native"  # "published" reproduces the paper's draws seed for seed
    dtype: str = "float32"  # what the published experiments used
    measure: bool = True  # False: nothing drawn or trained, only the exact theory (any width)


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

    @property
    def name(self) -> str:
        s, parts = self.setting, [f"L{self.depth}", f"h{self.width}"]
        if s.family == "mlp":
            parts[:0] = [s.activation, s.data] + ([] if s.real else [s.target])
        if self.listed_step:
            parts.append(f"obj{self.objective_step}")
        return "-".join(parts)


@dataclass(frozen=True)
class StudyConfig:
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
        steps = self.objective_steps
        return [Cell(d, w, m.setting(d, w, act), step, len(steps) > 1
                     or isinstance(self.search.objective_step, tuple))
                for m in self.models for act in m.activations() for d in m.depths
                for w in m.widths for step in steps]

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
        return _jsonable(out)

    @classmethod
    def from_identity(cls, name: str, identity: dict[str, Any]) -> StudyConfig:
        """The configuration a storage recorded with :meth:`identity`."""

        def build(kind: type, values: dict[str, Any]) -> Any:
            return kind(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in values.items()})

        model = identity["model"]
        model = (tuple(build(ModelSpec, m) for m in model) if isinstance(model, list)
                 else build(ModelSpec, model))
        return cls(name, model, build(TrainSpec, identity["train"]),
                   build(SearchSpec, identity["search"]))


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study file; raises :class:`StudyFileError` listing every problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise StudyFileError(str(path), [f"larger than {MAX_FILE_BYTES >> 20} MiB: not a "
                                             "study file; pass the path of a .toml study file"])
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise StudyFileError(str(path), ["file not found; pass the path of a .toml study file"])
    except IsADirectoryError:
        raise StudyFileError(str(path), ["is a directory; pass the path of a .toml study file"])
    except (OSError, UnicodeDecodeError) as err:
        raise StudyFileError(str(path), [f"cannot read the file: {err}"])
    except tomllib.TOMLDecodeError as err:
        raise StudyFileError(str(path), [f"broken TOML: {err}"])
    return parse_study(raw, str(path))


def parse_study(raw: dict[str, Any], source: str = "<study>") -> StudyConfig:
    """Validate a parsed study file (see the README for every key)."""
    p = _Problems()
    p.unknown(raw, "", ["name", "model", "train", "search", "resources"])
    name = _name(p.string(raw, "name", required=True), p)
    tables = {k: p.table(raw, k) for k in ("train", "search", "resources")}
    train = _train(tables["train"], p)
    search = _search(tables["search"], p, train)
    resources = _resources(tables["resources"], p)
    model = _models(raw.get("model", {}), p)
    if model is not None:
        cfg = StudyConfig(name, model, train, search, resources)
        _check_cells(cfg, p)
        _check_rates(cfg, p)
        _check_theory(cfg, p)
        _check_budgets(cfg, p)
    if p.lines:
        raise StudyFileError(source, p.lines)
    return StudyConfig(name, model, train, search, resources)


def _models(value: Any, p: _Problems) -> ModelSpec | tuple[ModelSpec, ...] | None:
    """[model], or [[model]] tables each giving their own cells."""
    if isinstance(value, dict):
        return _model(value, p, "model")
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        p.add("model: must be a table ([model]) or a list of tables ([[model]])")
        return None
    models = [_model(t, p, f"model[{i + 1}]" if len(value) > 1 else "model")
              for i, t in enumerate(value)]
    return None if None in models else tuple(models)


def _model(t: dict, p: _Problems, where: str = "model") -> ModelSpec | None:
    p.unknown(t, where, [f.name for f in dataclasses.fields(ModelSpec)
                         if f.name not in ("depths", "widths")] + ["depth", "width"])
    depths = p.int_list(t, f"{where}.depth", required=True, minimum=2)
    widths = p.int_list(t, f"{where}.width", required=True, minimum=1)
    family = p.choice(t, f"{where}.family", FAMILIES)
    data = p.choice(t, f"{where}.data", DATAS, "whitened")
    kw = dict(
        family=family, init=p.choice(t, f"{where}.init", INITS, "orthogonal"), data=data,
        target=p.string(t, f"{where}.target"),
        n=p.integer(t, f"{where}.n", minimum=1), d=p.integer(t, f"{where}.d", minimum=1),
        noise=p.number(t, f"{where}.noise", 0.0, minimum=0.0),
        test_size=p.integer(t, f"{where}.test_size", None if data in DATASETS else 500,
                            minimum=1),
        activation=_activation(t, p, where, family),
    )
    if data in DATASETS:  # a bundled data set fixes its own d and n
        fixed = {"d": f"d = {DATASETS[data].d} (its inputs)",
                 "n": f"n (its {DATASETS[data].rows} rows less {where}.test_size)"}
        for key in ("d", "n"):
            if key in t:
                p.add(f"{where}.{key}: the {data} data set fixes {fixed[key]}; remove "
                      f"{where}.{key}")
                kw[key] = None
    if depths is None or widths is None:
        return None
    return ModelSpec(tuple(depths), tuple(widths), **kw)


def _activation(t: dict, p: _Problems, where: str, family: str | None
                ) -> tuple[str, ...] | None:
    """model.activation: one activation or a list (the mlp family's cells)."""
    key = f"{where}.activation"
    value = t.get("activation")
    if value is None:
        return None
    if family != "mlp":
        linear = f" (the {family} family is linear)" if family else ""
        p.add(f"{key}: only family = \"mlp\" takes an activation{linear}; set "
              f"{where}.family = \"mlp\" or remove {key}")
        return None
    values = value if isinstance(value, list) else [value]
    if not values:
        p.add(f"{key}: the list is empty; give at least one of {list(ACTIVATIONS)}")
        return None
    for v in values:
        if v not in ACTIVATIONS:
            near = difflib.get_close_matches(str(v), ACTIVATIONS, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            p.add(f"{key}: {v!r} is not allowed; {hint}choose one of {list(ACTIVATIONS)}")
            return None
    if len(set(values)) != len(values):
        p.add(f"{key}: activations repeat; list each once")
        return None
    return tuple(values)


def _train(t: dict, p: _Problems) -> TrainSpec:
    p.unknown(t, "train", [f.name for f in dataclasses.fields(TrainSpec)])
    seeds = p.int_list(t, "train.seeds", default=list(TrainSpec.seeds), minimum=0)
    if seeds is not None and len(set(seeds)) != len(seeds):
        p.add("train.seeds: seeds repeat; list each seed once")
    return TrainSpec(
        steps=p.integer(t, "train.steps", 2, minimum=1, maximum=MAX_STEPS),
        seeds=tuple(seeds or ()),
        protocol=p.choice(t, "train.protocol", PROTOCOLS, "native"),
        dtype=p.choice(t, "train.dtype", DTYPES, "float32"),
        measure=p.boolean(t, "train.measure", True),
    )


def _search(t: dict, p: _Problems, train: TrainSpec) -> SearchSpec:
    p.unknown(t, "search", [f.name for f in dataclasses.fields(SearchSpec)])
    diagonal = p.number_list(t, "search.diagonal", minimum=2.0)
    diagonal_alpha = _diagonal_alpha(t, p)
    if diagonal is not None and diagonal_alpha is not None:
        p.add("search.diagonal_alpha: give either diagonal (budgets) or diagonal_alpha "
              "(exponents of B = scale h^alpha), not both")
    sampler = p.choice(t, "search.sampler", SAMPLERS, "tpe")
    n_trials = p.integer(t, "search.n_trials", 100, minimum=1)
    step = _objective_step(t, p, train)
    if sampler == "grid" and diagonal is None and diagonal_alpha is None:
        p.add("search.sampler: 'grid' needs search.diagonal or search.diagonal_alpha (the "
              "points to sweep); use 'tpe', 'random', 'cmaes' or 'gp' for a schedule space")
    if (diagonal or diagonal_alpha) and "n_trials" in t and sampler == "grid":
        p.add("search.n_trials: a diagonal grid runs every point once; remove n_trials")
    for key in ("diagonal_steps", "diagonal_grid"):
        if key in t and diagonal is None and diagonal_alpha is None:
            p.add(f"search.{key}: only for diagonal sweeps; add search.diagonal or "
                  "search.diagonal_alpha, or remove it")
    alpha = p.pair(t, "search.alpha")
    exponent = p.pair(t, "search.exponent")
    return SearchSpec(
        sampler=sampler, diagonal=None if diagonal is None else tuple(diagonal),
        diagonal_alpha=diagonal_alpha,
        diagonal_divisions=p.integer(t, "search.diagonal_divisions", 20, minimum=2),
        diagonal_steps=p.choice(t, "search.diagonal_steps", DIAGONAL_STEPS, "all"),
        diagonal_grid=p.choice(t, "search.diagonal_grid", DIAGONAL_GRIDS, "integer"),
        n_trials=n_trials, objective=_objective(t, p, train),
        objective_step=step, phases=p.choice(t, "search.phases", PHASES, "first-rest"),
        rates=p.choice(t, "search.rates", RATES, "budget"), alpha=alpha,
        scale=p.number(t, "search.scale", 2.0, minimum=0.0, strict=True),
        exponent=exponent, seed=p.integer(t, "search.seed", 0, minimum=0),
    )


def _diagonal_alpha(t: dict, p: _Problems) -> tuple | None:
    """search.diagonal_alpha: a list of exponents, or a table of lists by family."""
    value = t.get("diagonal_alpha")
    if not isinstance(value, dict):
        alphas = p.number_list(t, "search.diagonal_alpha", minimum=0.0)
        return None if alphas is None else tuple(alphas)
    out = []
    for family in sorted(value):
        if family not in FAMILIES:
            p.add(f"search.diagonal_alpha.{family}: not a family; use {list(FAMILIES)}")
            continue
        alphas = p.number_list(value, f"search.diagonal_alpha.{family}", minimum=0.0)
        if alphas is not None:
            out.append((family, tuple(alphas)))
    return tuple(out) or None


def _objective(t: dict, p: _Problems, train: TrainSpec) -> str:
    """search.objective: defaults to "theory" when nothing is measured, which needs it."""
    objective = p.choice(t, "search.objective", OBJECTIVES,
                         "population" if train.measure else "theory")
    if not train.measure and objective != "theory":
        p.add(f"search.objective: {objective!r} is a measured loss but train.measure = false; "
              "use objective = 'theory' or measure = true")
    return objective
def _objective_step(t: dict, p: _Problems, train: TrainSpec) -> int | tuple[int, ...] | None:
    """search.objective_step: a step, or a list of steps (one cell each)."""
    value = t.get("objective_step")
    if not isinstance(value, list):
        steps = p.integer(t, "search.objective_step", minimum=1)
        listed = None if steps is None else [steps]
    else:
        listed = p.int_list(t, "search.objective_step", minimum=1)
        if listed is not None and len(set(listed)) != len(listed):
            p.add("search.objective_step: steps repeat; list each once")
            listed = None
    for step in listed or []:
        if step > train.steps:
            p.add(f"search.objective_step: {step} is past the last step ({train.steps}); "
                  "use steps between 1 and train.steps")
            return None
    if listed is None:
        return None
    return tuple(listed) if isinstance(value, list) else listed[0]


def _resources(t: dict, p: _Problems) -> ResourceSpec:
    p.unknown(t, "resources", [f.name for f in dataclasses.fields(ResourceSpec)])
    gpus = p.number(t, "resources.gpus_per_worker", minimum=0.0)
    if gpus is not None and gpus > 1 and gpus != int(gpus):
        p.add(f"resources.gpus_per_worker: {gpus} is neither a fraction of one GPU nor a "
              "whole number of GPUs")
    return ResourceSpec(
        workers=p.integer(t, "resources.workers", minimum=1),
        cpus_per_worker=p.number(t, "resources.cpus_per_worker",
                                 minimum=MIN_CPUS_PER_WORKER),
        gpus_per_worker=gpus,
        batch_size=p.integer(t, "resources.batch_size", minimum=1),
        memory_mb=p.integer(t, "resources.memory_mb", minimum=1),
    )


def _name(name: str | None, p: _Problems) -> str | None:
    """A study name names folders and storage keys: letters, digits, '.', '_', '-'."""
    if name is not None and (not NAME.fullmatch(name) or set(name) == {"."}):
        p.add(f"name: {name[:40]!r}{'...' if len(name) > 40 else ''} is not a valid study "
              "name; use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter "
              "or digit (it names the results folder)")
        return None
    return name


def _settings(cfg: StudyConfig):
    """Yield (depth, width, objective step, Setting) of every cell that builds (the
    others are reported by :func:`_check_cells`)."""
    for model in cfg.models:
        for act in model.activations():
            for depth in model.depths:
                for width in model.widths:
                    try:
                        setting = model.setting(depth, width, act)
                    except SettingError:
                        continue
                    for step in cfg.objective_steps:
                        yield depth, width, step, setting


def _check_rates(cfg: StudyConfig, p: _Problems) -> None:
    """Refuse rate ranges whose largest rate overflows a float in some cell."""
    for _, width, _, setting in _settings(cfg):
        key, top = _largest_rate(cfg.search, width, setting.family)
        if key is not None and (top is None or not math.isfinite(top)):
            p.add(f"search.{key} (width {width}): the largest rate overflows a float "
                  "(about 1.8e308); lower it")
            return


def _largest_rate(search: SearchSpec, width: int, family: str) -> tuple[str | None, float | None]:
    """(the key that sets it, the largest rate a cell's schedules can have)."""
    def power(exponent: float, scale: float = 1.0) -> float | None:
        try:
            return scale * float(width) ** exponent
        except OverflowError:
            return None

    if search.diagonal_alpha is not None:
        alphas = search.exponents(family)
        return "diagonal_alpha", power(max(alphas), search.scale) if alphas else 0.0
    if search.diagonal is not None:
        return None, None
    if search.rates == "free":
        return "exponent", power((search.exponent or (0.0, 1.7))[1])
    return "alpha", power((search.alpha or DEFAULT_ALPHA.get(family, (0.0, 1.6)))[1],
                          search.scale)


def _check_cells(cfg: StudyConfig, p: _Problems) -> None:
    """Build every cell's Setting once, reporting what the engine would refuse; cell names
    must differ (each is an Optuna study); a diagonal sweep needs two trained layers."""
    names: set[str] = set()
    for i, model in enumerate(cfg.models):
        where = f"model[{i + 1}]" if len(cfg.models) > 1 else "model"
        for act in model.activations():
            for depth in model.depths:
                for width in model.widths:
                    try:
                        setting = model.setting(depth, width, act)
                    except SettingError as err:
                        for line in err.problems:
                            field, _, rest = line.partition(": ")
                            p.add(f"{where}.{field} (cell depth={depth}, width={width}): "
                                  f"{rest}")
                        continue
                    if cfg.search.is_diagonal and setting.layers < 2:
                        p.add(f"{where}.depth: a diagonal sweep splits a budget over at "
                              f"least two trained layers; use depth >= 3 (got {depth})")
    for cell in [] if p.lines else cfg.cells():
        if cell.name in names:
            p.add(f"model: two cells are both named {cell.name}; give each [[model]] "
                  "table a different family, activation, data or target")
        names.add(cell.name)


def _check_budgets(cfg: StudyConfig, p: _Problems) -> None:
    """A diagonal_alpha table must give exponents for every family of the study."""
    if cfg.search.diagonal_alpha is None:
        return
    for depth, _, _, setting in _settings(cfg):
        if not cfg.search.exponents(setting.family):
            p.add(f"search.diagonal_alpha (cell depth={depth}): no exponents for the "
                  f"{setting.family} family; add {setting.family} = [...] to the table")


def _check_theory(cfg: StudyConfig, p: _Problems) -> None:
    """Refuse a theory objective or train.measure = false where the theory is absent."""
    from layerlr.theory.scope import absent_reason  # torch-free

    train, search = cfg.train, cfg.search
    if train.measure and search.objective != "theory":
        return
    for depth, width, step, setting in _settings(cfg):
        if not train.measure:
            key, steps = "train.measure", train.steps
            need = f"false needs the exact theory at every step up to {steps}"
        else:
            key, steps = "search.objective", step
            need = f"'theory' needs the exact theory after step {steps}"
        reason = absent_reason(setting, steps)
        if reason:
            p.add(f"{key} (cell depth={depth}, width={width}): {need}, but {reason}")


class _Problems:
    """Collects one line per problem while reading values out of TOML tables."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def unknown(self, table: dict, where: str, known: list[str]) -> None:
        for key in table:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"known keys: {sorted(known)}"
                self.add(f"{where + '.' if where else ''}{key}: unknown key; {hint}")

    def table(self, raw: dict, key: str) -> dict:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.add(f"{key}: must be a table ([{key}]), got {type(value).__name__}")
            return {}
        return value

    def _get(self, table: dict, key: str) -> Any:
        return table.get(key.rsplit(".", 1)[-1])

    def string(self, table: dict, key: str, required: bool = False) -> str | None:
        value = self._get(table, key)
        if value is None:
            if required:
                self.add(f"{key}: missing; add {key} = \"...\"")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(f"{key}: must be a non-empty string, got {value!r}")
            return None
        return value

    def choice(self, table: dict, key: str, allowed: tuple[str, ...],
               default: str | None = None) -> str | None:
        value = self._get(table, key)
        if value is None:
            return default
        if value not in allowed:
            near = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            self.add(f"{key}: {value!r} is not allowed; {hint}choose one of {list(allowed)}")
            return default
        return value

    def boolean(self, table: dict, key: str, default: bool) -> bool:
        value = self._get(table, key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(f"{key}: must be true or false, got {value!r}")
            return default
        return value

    def integer(self, table: dict, key: str, default: int | None = None,
                minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = self._get(table, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{key}: must be an integer, got {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.add(f"{key}: must be >= {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.add(f"{key}: must be <= {maximum}, got {value}")
            return default
        return value

    def number(self, table: dict, key: str, default: float | None = None,
               minimum: float | None = None, strict: bool = False) -> float | None:
        value = self._get(table, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            self.add(f"{key}: must be a finite number, got {value!r}")
            return default
        if minimum is not None and (value <= minimum if strict else value < minimum):
            self.add(f"{key}: must be {'>' if strict else '>='} {minimum}, got {value}")
            return default
        return float(value)

    def int_list(self, table: dict, key: str, required: bool = False,
                 default: list[int] | None = None, minimum: int = 1) -> list[int] | None:
        value = self._get(table, key)
        if value is None:
            if required:
                self.add(f"{key}: missing; give an integer or a list of integers")
            return default
        values = value if isinstance(value, list) else [value]
        if not values:
            self.add(f"{key}: the list is empty; give at least one value")
            return None
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < minimum]
        if bad:
            self.add(f"{key}: every value must be an integer >= {minimum}, got {bad[0]!r}")
            return None
        return values

    def number_list(self, table: dict, key: str, minimum: float) -> list[float] | None:
        value = self._get(table, key)
        if value is None:
            return None
        values = value if isinstance(value, list) else [value]
        if not values:
            self.add(f"{key}: the list is empty; give at least one value")
            return None
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < minimum:
                self.add(f"{key}: every value must be a finite number >= {minimum}, got {v!r}")
                return None
        return [float(v) for v in values]

    def pair(self, table: dict, key: str) -> tuple[float, float] | None:
        value = self._get(table, key)
        if value is None:
            return None
        ok = isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value)
        if not ok or value[0] > value[1]:
            self.add(f"{key}: must be [low, high] with finite low <= high, got {value!r}")
            return None
        return float(value[0]), float(value[1])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
