"""The value types of a study file's keys: each declares its range, its JSON Schema and,
where pydantic's own check cannot say it well, the line that refuses a wrong value.

TOML has no null and writes "one or several" as a value or an array, so the types here
are what a TOML reader gives: ``ints(2)`` takes ``3`` or ``[2, 3]`` (and yields a list).
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from layerlr.study.config.problems import shown

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # a name is also a folder and a key
TAGS: set[str] = set()  # the union tags pydantic puts in an error's location (not keys)


def refuse(message: str) -> PydanticCustomError:
    """The error of one value: ``message`` follows the key in its line."""
    return PydanticCustomError("rule", "{message}", {"message": message})


def refuse_keys(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """The errors of a table's rules, each (key, message); ``{table}`` in a message is
    replaced by the table's path (``model``, ``model[2]``)."""
    return PydanticCustomError("rules", "{count} problems", {"count": len(problems),
                                                            "problems": problems})


def tag(name: str) -> Tag:
    """A union member's tag, remembered so that messages leave it out of key paths."""
    TAGS.add(name)
    return Tag(name)


def choice(values: tuple[str, ...]) -> Any:
    """One of ``values`` (a JSON Schema enum)."""
    return Literal[values]


def integer(minimum: int, maximum: int | None = None) -> Any:
    return Annotated[int, Field(ge=minimum, le=maximum)]


def finite(minimum: float) -> Any:
    return Annotated[float, Field(ge=minimum, allow_inf_nan=False)]


def ints(minimum: int, maximum: int | None = None, repeat: str | None = None) -> Any:
    """An integer or a non-empty list of them, each in [minimum, maximum]; ``repeat``
    refuses repeated values with that message."""
    schema = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return _one_or_many(integer(minimum, maximum), schema, repeat)


def numbers(minimum: float) -> Any:
    """A finite number or a non-empty list of them, each >= minimum."""
    return _one_or_many(finite(minimum), {"type": "number", "minimum": minimum})


def choices(values: tuple[str, ...], repeat: str) -> Any:
    """One of ``values`` or a non-empty list of distinct ones."""
    return _one_or_many(choice(values), {"type": "string", "enum": list(values)}, repeat)


def _one_or_many(item: Any, schema: dict, repeat: str | None = None) -> Any:
    many: dict[str, Any] = {"type": "array", "items": schema, "minItems": 1}
    checks: list[Any] = []
    if repeat is not None:
        many["uniqueItems"] = True
        checks.append(AfterValidator(_distinct(repeat)))
    return Annotated[list[item], BeforeValidator(_listed), Field(min_length=1), *checks,
                     WithJsonSchema({"anyOf": [schema, many]})]


def _listed(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _distinct(message: str) -> Callable[[list], list]:
    def check(values: list) -> list:
        if len(set(values)) != len(values):
            raise refuse(message)
        return values

    return check


def either(members: dict[str, Any], pick: Callable[[Any], str | None],
           schema: dict | None = None, error: str | None = None) -> Any:
    """One of ``members`` (tag -> type), the one ``pick`` names for the value; where it
    names none, an error of type ``error``. ``schema``: the JSON Schema (default:
    pydantic's ``oneOf`` of the members)."""
    union = functools.reduce(operator.or_, (Annotated[kind, tag(name)]
                                            for name, kind in members.items()))
    pick = Discriminator(pick, custom_error_type=error, custom_error_message=error)
    return Annotated[union, pick, *([WithJsonSchema(schema)] if schema else [])]


def schema_of(kind: Any) -> dict:
    """The JSON Schema a type of this module declares for itself."""
    return next(m.json_schema for m in get_args(kind)[1:] if isinstance(m, WithJsonSchema))


def is_list(value: Any) -> str:
    return "<list>" if isinstance(value, list) else "<one>"


def _pair(value: Any) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in value)
    if not ok or value[0] > value[1]:
        raise refuse(f"must be [low, high] with finite low <= high, got {shown(value)}")
    return float(value[0]), float(value[1])


Pair = Annotated[tuple[float, float], PlainValidator(_pair), WithJsonSchema(
    {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})]


def _name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise refuse(f"{value[:40]!r}{'...' if len(value) > 40 else ''} is not a valid study "
                     "name; use 1 to 100 letters, digits, '.', '_' or '-', starting with a "
                     "letter or digit (it names the results folder)")
    return value


StudyName = Annotated[str, AfterValidator(_name),
                      WithJsonSchema({"type": "string", "pattern": f"^{NAME.pattern}$"})]
