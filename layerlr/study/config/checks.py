"""Rules across tables and cells: what no single key shows (SPEC 4, 6, 8, 9, 11, 12).

Every cell's Setting is built once (what the engine would refuse is reported against the
[model] key), the theory must exist where the study relies on it, rates and diagonal
grids must be finite and of a size a study can run. Torch-free.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

from layerlr.families import family
from layerlr.schedules import diagonal_count
from layerlr.study.config.facts import Setting, SettingError
from layerlr.study.config.records import SearchSpec, StudyConfig
from layerlr.study.config.tables import SearchTable, TrainTable

# A diagonal point is a trial (a grid runs each once) and every ask rebuilds the cell's
# points (study/space.py), so a sweep's cost grows with its square.
MAX_GRID_POINTS = 10_000
MAX_CELLS = 10_000  # each cell is an Optuna study, opened, claimed and sampled on its own


def across_tables(train: TrainTable, search: SearchTable) -> list[str]:
    """The objective against [train]: a measured loss needs measure; steps that exist."""
    out = []
    if not train.measure and search.objective not in (None, "theory"):
        out.append(f"search.objective: {search.objective!r} is a measured loss but "
                   "train.measure = false; use objective = 'theory' or measure = true")
    steps = search.objective_step
    for step in steps if isinstance(steps, list) else [] if steps is None else [steps]:
        if step > train.steps:
            out.append(f"search.objective_step: {step} is past the last step ({train.steps}); "
                       "use steps between 1 and train.steps")
            break
    return out


def across_cells(cfg: StudyConfig, earlier: bool) -> list[str]:
    """Every cell's problems; cell names are compared only in a file without ``earlier``
    problems (a cell that cannot be built has no name)."""
    count = len(cfg.objective_steps) * sum(
        len(m.activations()) * len(m.depths) * len(m.widths) for m in cfg.models)
    if count > MAX_CELLS:
        return [(f"model: the study has {count:,} cells (each its own Optuna study), more "
                f"than {MAX_CELLS:,}; list fewer depths, widths, activations or objective "
                "steps, or split the study")]
    out = _cells(cfg) + _rates(cfg) + _theory(cfg) + _families(cfg)
    for check in (_small_budgets, _grids) if not out else ():  # finite budgets only
        out += check(cfg)
    if not out and not earlier:
        out += _names(cfg)
    return out


TRAIN_FIELDS = ("optimizer", "batch_size")  # a Setting's fields from [train] (SPEC 13)


def _where(cfg: StudyConfig, i: int) -> str:
    return f"model[{i + 1}]" if len(cfg.models) > 1 else "model"


def _settings(cfg: StudyConfig) -> Iterator[tuple[int, int, int, Setting]]:
    """(depth, width, objective step, Setting) of every cell that builds."""
    for model in cfg.models:
        for act in model.activations():
            for depth in model.depths:
                for width in model.widths:
                    try:
                        setting = model.setting(depth, width, act, cfg.train)
                    except SettingError:
                        continue
                    for step in cfg.objective_steps:
                        yield depth, width, step, setting


def _cells(cfg: StudyConfig) -> list[str]:
    """What the engine refuses in a cell; a diagonal sweep needs two trained layers."""
    out = []
    for i, model in enumerate(cfg.models):
        for act in model.activations():
            for depth in model.depths:
                for width in model.widths:
                    try:
                        setting = model.setting(depth, width, act, cfg.train)
                    except SettingError as err:
                        for line in err.problems:
                            field, _, rest = line.partition(": ")
                            table = "train" if field in TRAIN_FIELDS else _where(cfg, i)
                            out.append(f"{table}.{field} (cell depth={depth}, "
                                       f"width={width}): {rest}")
                        continue
                    most = family(setting.family).max_steps
                    if cfg.train.steps > most:
                        out.append(f"train.steps: the {setting.family} family takes at most "
                                   f"{most} steps (got {cfg.train.steps}); lower it")
                    if cfg.search.is_diagonal and setting.layers < 2:
                        out.append(f"{_where(cfg, i)}.depth: a diagonal sweep splits a budget "
                                   "over at least two trained layers; use depth >= 3 (got "
                                   f"{depth})")
    return list(dict.fromkeys(out))


def _names(cfg: StudyConfig) -> list[str]:
    counts = Counter(cell.name for cell in cfg.cells())
    return [f"model: two cells are both named {name}; give each [[model]] table a "
            "different family, activation, data or target"
            for name, count in counts.items() if count > 1]


def _rates(cfg: StudyConfig) -> list[str]:
    """Rate ranges whose largest rate overflows a float in some cell."""
    for _, width, _, setting in _settings(cfg):
        key, top = _largest_rate(cfg.search, width, setting.family)
        if key is not None and (top is None or not math.isfinite(top)):
            return [(f"search.{key} (width {width}): the largest rate overflows a float "
                    "(about 1.8e308); lower it")]
    return []


def _largest_rate(search: SearchSpec, width: int, name: str) -> tuple[str | None, float | None]:
    """(the key that sets it, the largest rate a cell's schedules can have)."""
    def power(exponent: float, scale: float = 1.0) -> float | None:
        try:
            return scale * float(width) ** exponent
        except OverflowError:
            return None

    if search.diagonal_alpha is not None:
        alphas = search.exponents(name)
        return "diagonal_alpha", power(max(alphas), search.scale) if alphas else 0.0
    if search.diagonal is not None:
        return None, None
    if search.rate is not None and search.rates == "free":
        return "rate", search.rate[1]
    if search.rates == "free":
        return "exponent", power((search.exponent or family(name).default_exponent)[1])
    return "alpha", power((search.alpha or family(name).default_alpha)[1], search.scale)


def _families(cfg: StudyConfig) -> list[str]:
    """A diagonal_alpha table gives exponents for every family of the study."""
    if cfg.search.diagonal_alpha is None:
        return []
    return list(dict.fromkeys(
        f"search.diagonal_alpha (cell depth={depth}): no exponents for the "
        f"{setting.family} family; add {setting.family} = [...] to the table"
        for depth, _, _, setting in _settings(cfg) if not cfg.search.exponents(setting.family)))


def _small_budgets(cfg: StudyConfig) -> list[str]:
    """Every budget B = scale h^alpha is at least 2, as SPEC 9's integer grid needs."""
    if cfg.search.diagonal_alpha is None or cfg.search.diagonal_grid == "even":
        return []
    for _, width, _, setting in _settings(cfg):
        low = min(cfg.search.budgets(width, setting.family))
        if low < 2:
            return [(f"search.diagonal_alpha (width {width}): a budget B = scale * h^alpha is "
                    f"{low:.3g}, below 2; raise search.scale or the exponents")]
    return []


def _grids(cfg: StudyConfig) -> list[str]:
    """Diagonal sweeps of at most MAX_GRID_POINTS points (trials) per cell."""
    search = cfg.search
    if not search.is_diagonal:
        return []
    for _, width, _, setting in _settings(cfg):
        counts = [diagonal_count(b, search.diagonal_divisions, search.diagonal_grid == "even")
                  for b in search.budgets(width, setting.family)]
        if sum(counts) > MAX_GRID_POINTS:
            key = ("diagonal_divisions" if max(counts) > MAX_GRID_POINTS else
                   "diagonal_alpha" if search.diagonal_alpha is not None else "diagonal")
            return [(f"search.{key} (width {width}): the sweep has {sum(counts):,} points "
                    f"(a trial each), more than {MAX_GRID_POINTS:,}; lower "
                    "search.diagonal_divisions or list fewer budgets")]
    return []


def _theory(cfg: StudyConfig) -> list[str]:
    """A theory objective or train.measure = false needs the theory in every cell."""
    from layerlr.theory.scope import absent_reason  # torch-free

    train, search = cfg.train, cfg.search
    if train.measure and search.objective != "theory":
        return []
    out = []
    for depth, width, step, setting in _settings(cfg):
        if not train.measure:
            key, steps = "train.measure", train.steps
            need = f"false needs the exact theory at every step up to {steps}"
        else:
            key, steps = "search.objective", step
            need = f"'theory' needs the exact theory after step {steps}"
        reason = absent_reason(setting, steps)
        if reason:
            out.append(f"{key} (cell depth={depth}, width={width}): {need}, but {reason}")
    return list(dict.fromkeys(out))
