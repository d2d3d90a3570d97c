"""The [model] table of a study file, one class per family (SPEC 1-3, 10).

A table's ``family`` picks its class (no family: matrix or readout by depth); each class
holds its family's keys and rules, so a new family is one class and one line in
``TABLES``. Keys and defaults are the README's "Study files"; the defaults are
:class:`~layerlr.study.config.records.ModelSpec`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from layerlr.study.config.facts import (
    ACTIVATIONS,
    DATAS,
    DATASETS,
    INITS,
    LINEAR_FAMILIES,
    LINEAR_TARGETS,
    LOSSES,
    TARGETS,
)
from layerlr.study.config.fields import (
    choice,
    choices,
    either,
    finite,
    integer,
    ints,
    refuse,
    refuse_keys,
)
from layerlr.study.config.records import ModelSpec

MAX_DEPTH = 1000  # every trained layer is a searched rate per phase and a Parquet column
STRICT = ConfigDict(strict=True, extra="forbid")  # TOML's own types; no unknown keys


class ModelTable(BaseModel):
    """The keys every family's table has."""

    model_config = STRICT

    depth: ints(2, MAX_DEPTH, repeat="depths repeat; list each once") = Field(description=(
        "Depth L (the readout vector a counted), or a list: every (depth, width) pair is a "
        f"cell; at most {MAX_DEPTH}"))
    width: ints(1, repeat="widths repeat; list each once") = Field(
        description="Width h, or a list")
    init: choice(INITS) = Field(ModelSpec.init, description="SPEC 3")
    data: choice(DATAS) = Field(ModelSpec.data, description=(
        "Drawn inputs (SPEC 2), or a bundled data set (mlp family)"))
    n: integer(1) | None = Field(None, description=(
        "Training samples (default: the width; a data set: its rows less test_size)"))
    d: integer(1) | None = Field(None, description=(
        "Input dimension (default: the width; a data set fixes its own)"))
    noise: finite(0.0) = Field(ModelSpec.noise, description="Label-noise variance rho")
    test_size: integer(1) | None = Field(None, description=(
        f"m, the empirical test inputs (default {ModelSpec.test_size}; a data set: held-out "
        "rows, a quarter of its rows)"))

    def spec(self, base: Path) -> ModelSpec:
        """The record of this validated table (``base``: the study file's folder)."""
        values = self.model_dump(exclude={"depth", "width"})
        if values["test_size"] is None and self.data not in DATASETS:
            values["test_size"] = ModelSpec.test_size
        if values.get("activation") is not None:
            values["activation"] = tuple(values["activation"])
        return ModelSpec(depths=tuple(self.depth), widths=tuple(self.width), **values)


class LinearTable(ModelTable):
    """The deep linear networks: matrix (depth 2) and readout (depth >= 3), SPEC 1."""

    family: choice(LINEAR_FAMILIES) | None = Field(None, description=(
        "Default: matrix at depth 2, readout at depth >= 3"))
    target: Annotated[str, WithJsonSchema({"type": "string", "enum": list(LINEAR_TARGETS)})] \
        | None = Field(None, description=(  # each cell's Setting says which its family takes
            "matrix: orthogonal (default) or gaussian; readout: gaussian (default) or sphere"))
    activation: Annotated[Any, WithJsonSchema({"not": {}})] = Field(None, description=(
        'Only family = "mlp" takes an activation'))

    @field_validator("activation")
    @classmethod
    def _linear(cls, value: Any, info: ValidationInfo) -> None:
        family = info.data.get("family")
        linear = f" (the {family} family is linear)" if family else ""
        raise refuse(f'only family = "mlp" takes an activation{linear}; set '
                     '{table}.family = "mlp" or remove {table}.activation')


class MlpTable(ModelTable):
    """Nonlinear networks on drawn or real data (SPEC 10)."""

    family: Literal["mlp"] = Field(description="Nonlinear networks (SPEC 10)")
    target: choice(TARGETS["mlp"]) | None = Field(None, description=(
        "gaussian (default), sphere or teacher; none for a bundled data set"))
    activation: choices(ACTIVATIONS, "activations repeat; list each once") | None = Field(
        None, description="sigma, or a list: a cell per activation (default relu)")

    @model_validator(mode="after")
    def _real_data(self) -> MlpTable:
        """A bundled data set fixes its own d and n."""
        real = DATASETS.get(self.data)
        if real is None:
            return self
        fixed = {"d": f"d = {real.d} (its inputs)",
                 "n": f"n (its {real.rows} rows less {{table}}.test_size)"}
        problems = [(key, (f"the {self.data} data set fixes {fixed[key]}; remove "
                          f"{{table}}.{key}")) for key in ("d", "n")
                    if key in self.model_fields_set]
        if problems:
            raise refuse_keys(problems)
        return self


class ModuleTable(BaseModel):
    """Any torch network on any data (SPEC 13): the user's builder and loader."""

    model_config = STRICT

    family: Literal["module"] = Field(description="Any torch network (SPEC 13)")
    depth: ints(1, MAX_DEPTH, repeat="depths repeat; list each once") = Field(description=(
        "Passed to build(width=, depth=); a list makes a cell per value"))
    width: ints(1, repeat="widths repeat; list each once") = Field(description=(
        "Passed to build(width=, depth=); a list makes a cell per value"))
    module: str = Field(description=(
        '"FILE.py:build" (relative to the study file, or absolute) or '
        '"package.module:build": build(width=h, depth=L) returns an nn.Module'))
    data: str = Field(description=(
        '"mnist1d", "digits", "modular-addition", or "FILE.py:load" / '
        '"package.module:load": load(seed=s) returns (X_train, y_train, X_test, y_test)'))
    loss: choice(LOSSES) | None = Field(None, description=(
        "mse or cross_entropy (default for the built-in data: cross_entropy)"))
    groups: dict[str, str] | None = Field(None, description=(
        "Rate groups, name = regex over named_parameters() names, first match wins "
        "(default: one group per direct child module that holds parameters)"))

    def spec(self, base: Path) -> ModelSpec:
        """The record of this validated table, its file paths resolved against ``base``
        (the study file's folder)."""
        groups = None if self.groups is None else tuple(self.groups.items())
        return ModelSpec(depths=tuple(self.depth), widths=tuple(self.width),
                         family="module", init=None, data=_absolute(self.data, base),
                         test_size=None, module=_absolute(self.module, base),
                         loss=self.loss, groups=groups)


# The table class of each family (None: a table that names no family).
TABLES: dict[str | None, type[BaseModel]] = {
    None: LinearTable, **dict.fromkeys(LINEAR_FAMILIES, LinearTable), "mlp": MlpTable,
    "module": ModuleTable}


def _family(value: Any) -> str | None:
    family = value.get("family") if isinstance(value, dict) else ...
    if not (family is None or isinstance(family, str)) or family not in TABLES:
        return None
    return f"<{TABLES[family].__name__}>"


OneTable = either({f"<{kind.__name__}>": kind for kind in TABLES.values()}, _family,
                  error="family")
ModelTables = either({"<table>": OneTable,
                      "<tables>": Annotated[list[OneTable], Field(min_length=1)]},
                     lambda v: "<tables>" if isinstance(v, list) else "<table>")


def _absolute(text: str, base: Path) -> str:
    """``"FILE.py:fn"`` with FILE made absolute against ``base``; anything else as is."""
    where, colon, function = text.rpartition(":")
    if not colon or not where.endswith(".py") or Path(where).is_absolute():
        return text
    return f"{(base / where).resolve()}:{function}"
