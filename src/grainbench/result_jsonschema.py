"""The result schema (:mod:`grainbench.result_schema`) as JSON Schema, draft 2020-12.

``docs/result.schema.json`` is :func:`json_schema_text`, written by
``python scripts/export-schema.py`` (a test checks that the committed file is current).
Every object allows more properties than it lists, as :mod:`grainbench.result_schema` does.
JSON has no NaN, so "finite" is not spelled out; the catalogue and cross-field rules of
:func:`grainbench.result_schema.validate_result` are not part of the JSON Schema.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from grainbench.result_schema import Result, field_hints, is_required, optional_of, split_hint

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _doc(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split())


def _json_type(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a type hint; dataclasses go to ``defs`` and are referenced."""
    hint, rules = split_hint(hint)
    inner = optional_of(hint)
    if inner is not None:
        return {"anyOf": [_json_type(inner, defs), {"type": "null"}]}
    origin = typing.get_origin(hint)
    if hint is Any:
        out: dict[str, Any] = {}
    elif dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in defs:
            defs[name] = {}  # reserve the name: $defs lists objects in first-use order
            defs[name] = _object(hint, defs)
        return {"$ref": f"#/$defs/{name}"}
    elif origin is dict:
        out = {"type": "object", "additionalProperties": _json_type(typing.get_args(hint)[1], defs)}
    elif origin is list:
        out = {"type": "array", "items": _json_type(typing.get_args(hint)[0], defs)}
    else:
        out = {str: {"type": "string"}, int: {"type": "integer"}, bool: {"type": "boolean"}}.get(
            hint, {"type": "number"}
        )
    for rule in rules:
        if rule.const is not None:
            out["const"] = rule.const
        if rule.pattern is not None:
            out["pattern"] = rule.pattern
        if rule.non_empty:
            key = {"string": "minLength", "array": "minItems", "object": "minProperties"}
            out[key[out["type"]]] = 1
    return out


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = field_hints(cls)
    fields = dataclasses.fields(cls)
    return {
        "type": "object",
        "description": _doc(cls),
        "properties": {f.name: _json_type(hints[f.name], defs) for f in fields},
        "required": [f.name for f in fields if is_required(f)],
        "additionalProperties": True,
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``result.json``, made from
    :class:`grainbench.result_schema.Result` (its dataclasses under ``$defs``)."""
    defs: dict[str, Any] = {}
    top = _object(Result, defs)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "grainbench result.json",
        **top,
        "$defs": defs,
    }


def json_schema_text() -> str:
    """:func:`json_schema` as the text of ``docs/result.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
