"""The JSON Schema of a study file, for editors (``layerlr schema``).

pydantic's schema of :class:`~.tables.StudyFile`, written with the keywords every JSON
Schema draft from 4 on reads alike (Taplo, the TOML language server behind VS Code's
"Even Better TOML", implements draft 4): no ``null`` (TOML has none), ``enum`` for
``const``, and ``minimum`` with ``not`` for an exclusive minimum.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from layerlr.study.config.tables import StudyFile


class _TomlSchema(GenerateJsonSchema):
    def nullable_schema(self, schema: Any) -> dict[str, Any]:
        return self.generate_inner(schema["schema"])  # TOML has no null: the key is left out


def json_schema() -> dict[str, Any]:
    """The schema of a study file, as a JSON-ready dict."""
    schema = _portable(StudyFile.model_json_schema(schema_generator=_TomlSchema))
    schema["title"] = "layerlr study file"
    return schema


def _portable(node: Any) -> Any:
    if isinstance(node, list):
        return [_portable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _portable(v) for k, v in node.items()
           if not (k == "default" and v is None) and not (k == "title" and isinstance(v, str))}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "exclusiveMinimum" in out:
        bound = out.pop("exclusiveMinimum")
        out.update(minimum=bound, **{"not": {"enum": [bound]}})
    return out
