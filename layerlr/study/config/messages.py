"""pydantic's validation errors as a study file's lines: the key path, the bad value, the fix.

``model.widht: unknown key; did you mean 'width'?``; ``search.sampler: 'bayes' is not
allowed; choose one of [...]``; ``model[2].depth: every value must be an integer >= 2,
got 1``. Union tags (:data:`~.fields.TAGS`) and a value list's indices are left out of
the path; a [[model]] table's index is written ``model[i]`` (from 1).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from layerlr.study.config.facts import FAMILIES
from layerlr.study.config.fields import TAGS
from layerlr.study.config.model_tables import TABLES
from layerlr.study.config.problems import shown
from layerlr.study.config.tables import StudyFile

MISSING = {"name": 'add name = "..."', "model": "add a [model] table with depth and width",
           "depth": "give an integer or a list of integers",
           "width": "give an integer or a list of integers"}
_TYPES = {"int_type": "an integer", "int_from_float": "an integer", "float_type":
          "a finite number", "finite_number": "a finite number", "bool_type": "true or false",
          "string_type": "a non-empty string", "list_type": "a list"}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}


def lines(err: ValidationError, raw: Any, prefix: tuple = (), only: str | None = None
          ) -> list[str]:
    """One line per problem of ``err`` (raised validating ``raw``, the file, or what is at
    ``prefix`` in it), in the file's order; ``only``: the problems of that type."""
    out: list[str] = []
    for error in err.errors(include_url=False):
        if only in (None, error["type"]):
            out += _lines(dict(error, loc=prefix + error["loc"]), raw)
    return out


def choice_line(value: Any, allowed: tuple[str, ...] | list[str]) -> str:
    near = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return f"{shown(value)} is not allowed; {hint}choose one of {list(allowed)}"


def _lines(error: Any, raw: Any) -> list[str]:
    loc = [k for k in error["loc"] if k not in TAGS]
    kind, value, ctx = error["type"], error["input"], error.get("ctx") or {}
    where, listed = _path(loc, raw)
    if kind == "rules":  # a table's rules: (key, message) pairs
        return [f"{where}{'.' + key if key else ''}: {message.replace('{table}', where)}"
                for key, message in ctx["problems"]]
    if kind == "rule":
        return [f"{where}: {error['msg'].replace('{table}', where.rpartition('.')[0])}"]
    if kind == "extra_forbidden":
        return [f"{where}: unknown key; {_near(str(loc[-1]), _known(error['loc']))}"]
    if kind == "family":  # a [model] entry the family tables cannot take
        if isinstance(value, dict):
            return [f"{where}.family: {choice_line(value.get('family'), FAMILIES)}"]
        return [f"{where}: must be a table ([model]) or a list of tables ([[model]])"]
    return [f"{where}: {_message(kind, value, ctx, listed, str(loc[-1]) if loc else '')}"]


def _message(kind: str, value: Any, ctx: dict, listed: bool, key: str) -> str:
    every = "every value must be" if listed else "must be"
    if kind == "missing":
        return f"missing; {MISSING.get(key, f'add {key} = ...')}"
    if kind == "literal_error":
        return choice_line(value, re.findall(r"'([^']*)'", ctx.get("expected", "")))
    if kind in ("model_type", "dict_type"):
        return f"must be a table ([{key}]), got {type(value).__name__}"
    if kind == "too_short":
        return ("the table is empty; give at least one key" if isinstance(value, dict)
                else "the list is empty; give at least one value")
    if kind in _BOUNDS:
        sign, name = _BOUNDS[kind]
        bound = ctx[name]
        what = ("a finite number " if isinstance(bound, float) else "an integer ") if listed \
            else ""
        return f"{every} {what}{sign} {bound}, got {shown(value)}"
    if kind in _TYPES:
        return f"{every} {_TYPES[kind]}, got {shown(value)}"
    return f"{every} valid: {shown(value)} ({kind})"


def _path(loc: list, raw: Any) -> tuple[str, bool]:
    """(the key path of ``loc``, whether it ends inside a list of values)."""
    parts: list[str] = []
    listed = False
    for key in loc:
        if isinstance(key, int) and parts == ["model"]:  # the i-th [[model]] table
            several = isinstance(raw, dict) and len(raw.get("model") or ()) > 1
            parts[0] = f"model[{key + 1}]" if several else "model"
        elif isinstance(key, int):
            listed = True
        elif key != "[key]":  # a table's key that is itself wrong: its path says it
            parts.append(key)
    return ".".join(parts), listed


def _known(loc: tuple) -> list[str]:
    """The keys of the table at ``loc`` (which ends with the unknown key)."""
    kinds = {f"<{kind.__name__}>": kind for kind in TABLES.values()}
    table: type[BaseModel] = next((kinds[k] for k in reversed(loc) if k in kinds), StudyFile)
    if table is StudyFile and len(loc) > 1:
        section = StudyFile.model_fields.get(str(loc[0]))
        if section is not None and isinstance(section.annotation, type):
            table = section.annotation
    return list(table.model_fields)


def _near(key: str, known: list[str]) -> str:
    near = difflib.get_close_matches(key, known, n=1)
    return f"did you mean '{near[0]}'?" if near else f"known keys: {sorted(known)}"
