"""Reading a study file: the file, its TOML, its tables, then the rules across them.

Every problem found is reported at once, one line each (a :class:`StudyFileError`),
before anything is written; rules across tables and cells run on the tables that are
valid. Nothing here imports torch, Ray or Optuna.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from layerlr.study.config.checks import across_cells, across_tables
from layerlr.study.config.fields import TAGS
from layerlr.study.config.messages import lines
from layerlr.study.config.model_tables import ModelTables, OneTable
from layerlr.study.config.problems import Problems, StudyFileError
from layerlr.study.config.records import StudyConfig
from layerlr.study.config.tables import (
    ResourcesTable,
    SearchTable,
    StudyFile,
    TrainTable,
    resource_spec,
    search_spec,
    train_spec,
)

MAX_FILE_BYTES = 1 << 20  # a study file is a few hundred bytes; refuse anything huge


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study file; raises :class:`StudyFileError` listing every problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise StudyFileError(str(path), [(f"larger than {MAX_FILE_BYTES >> 20} MiB: not a "
                                             "study file; pass the path of a .toml study file")])
        text = data.decode("utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise StudyFileError(str(path), ["file not found; pass the path of a .toml study "
                                         "file"]) from None
    except IsADirectoryError:
        raise StudyFileError(str(path), ["is a directory; pass the path of a .toml study "
                                         "file"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise StudyFileError(str(path), [f"cannot read the file: {err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise StudyFileError(str(path), [f"broken TOML: {err}"]) from None
    except RecursionError:  # tomllib recurses once per level of arrays or inline tables
        raise StudyFileError(str(path), [_too_deep(text)]) from None
    return parse_study(raw, str(path))


def parse_study(raw: dict[str, Any], source: str = "<study>") -> StudyConfig:
    """Validate a parsed study file (see the README for every key)."""
    problems = Problems()
    tables = _tables(raw, problems)
    if "train" in tables and "search" in tables:
        crossing = across_tables(tables["train"], tables["search"])
        problems.extend(crossing)
        if crossing:  # the cells of the last step, as without objective_step
            tables["search"] = tables["search"].model_copy(update={"objective_step": None})
    config = None
    if {"model", "train", "search"} <= tables.keys():
        config = _config(tables, Path(source).parent if source != "<study>" else Path.cwd())
        problems.extend(across_cells(config, earlier=bool(problems)))
    if problems or config is None:
        raise StudyFileError(source, problems.lines)
    return config


def _tables(raw: Any, problems: Problems) -> dict[str, Any]:
    """The tables of ``raw`` by key: all of them, or where the file is wrong, each table
    that validates with its wrong keys left at their defaults (for the rules across)."""
    try:
        study = StudyFile.model_validate(raw)
        return {key: getattr(study, key) for key in StudyFile.model_fields}
    except ValidationError as err:
        problems.extend(lines(err, raw))
    raw = raw if isinstance(raw, dict) else {}
    kinds = _adapters()
    tables = {key: _lenient(kinds[key], raw.get(key, {}), problems, (key,), raw)
              for key in ("train", "search", "resources")}
    model = raw.get("model")
    if isinstance(model, list):
        tables["model"] = [_lenient(kinds["table"], t, problems, ("model", i), raw)
                           for i, t in enumerate(model)]
        tables["model"] = tables["model"] if all(tables["model"]) else None
    elif model is not None:
        tables["model"] = _lenient(kinds["model"], model, problems, ("model",), raw)
    return {key: table for key, table in tables.items() if table}


def _lenient(kind: TypeAdapter, value: Any, problems: Problems, where: tuple,
             raw: Any) -> Any:
    """``value`` (what is at ``where`` in ``raw``) validated, less its keys that are wrong;
    None if that does not help. The problems its rules find among the rest are added."""
    for attempt in range(3):
        try:
            return kind.validate_python(value)
        except ValidationError as err:
            if attempt:  # only the rules are new: the rest were found at first
                problems.extend(lines(err, raw, where, only="rules"))
            wrong = {_key(e["loc"]) for e in err.errors()}
            if not isinstance(value, dict) or not wrong & value.keys() or None in wrong:
                return None
            value = {key: v for key, v in value.items() if key not in wrong}
    return None


def _key(loc: tuple) -> Any:
    """The table key an error is about (None: the table itself, or a [[model]] entry)."""
    keys = [k for k in loc if k not in TAGS and not isinstance(k, int)]
    return keys[0] if keys else None


@cache
def _adapters() -> dict[str, TypeAdapter]:
    return {"model": TypeAdapter(ModelTables), "table": TypeAdapter(OneTable),
            "train": TypeAdapter(TrainTable),
            "search": TypeAdapter(SearchTable), "resources": TypeAdapter(ResourcesTable)}


def _config(tables: dict[str, Any], base: Path) -> StudyConfig:
    """The records of valid tables (a name that is not valid is reported, not used);
    file paths in them are relative to ``base``."""
    model = tables["model"]
    specs = (tuple(m.spec(base) for m in model) if isinstance(model, list)
             else model.spec(base))
    train = train_spec(tables["train"])
    resources = tables.get("resources") or ResourcesTable()
    return StudyConfig(tables.get("name", ""), specs, train,
                       search_spec(tables["search"], train), resource_spec(resources))


def _too_deep(text: str) -> str:
    """The line for a value nested past what TOML's reader can follow: its key and line."""
    depth, deepest, at = 0, 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        for char in line.split("#", 1)[0]:
            depth += (char in "[{") - (char in "]}")
            if depth > deepest:
                deepest, at = depth, number
    table, key = "", "?"
    for line in text.splitlines()[:at]:
        header = re.match(r"\s*\[+\s*([^\]\s]+)\s*\]+\s*(#.*)?$", line)
        assignment = re.match(r"\s*([A-Za-z0-9_.\"'-]+)\s*=", line)
        if header:
            table, key = header.group(1), "?"
        elif assignment:
            key = assignment.group(1).strip("\"'")
    where = f"{table}.{key}" if table else key
    return (f"{where}: arrays or tables nested about {deepest} levels deep (line {at}); a "
            "study file's values nest at most two levels: remove or flatten it")
