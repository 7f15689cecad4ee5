"""The result schema: the typed definition, its JSON Schema (docs/result.schema.json), the
published entries against both, and bad results refused with one line each."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.result_jsonschema import SCHEMA_DIALECT, json_schema, json_schema_text
from grainbench.result_schema import Result, parse, require_valid, validate_result
from test_leaderboard import make_result, write_run

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "result.schema.json"
ENTRY_FILES = sorted((ROOT / "leaderboards" / "entries").glob("[!.]*/result.json"))
KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "$ref",
    "$defs",
    "const",
    "pattern",
    "minLength",
    "minItems",
    "minProperties",
}
JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: dict, root: dict, path: str = "") -> list[str]:
    """A small JSON Schema validator for exactly the keywords of :data:`KEYWORDS` (the test
    below checks that the schema uses no other), independent of grainbench's own checks."""
    if "$ref" in schema:
        return schema_errors(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, path)
    if "anyOf" in schema:
        options = [schema_errors(value, s, root, path) for s in schema["anyOf"]]
        return [] if any(not o for o in options) else [f"{path}: matches no option"]
    if "type" in schema and not JSON_TYPES[schema["type"]](value):
        return [f"{path}: not {schema['type']}"]
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: not {schema['const']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: does not match")
    for key, size in (("minLength", len), ("minItems", len), ("minProperties", len)):
        if key in schema and size(value) < schema[key]:
            errors.append(f"{path}: too short")
    if isinstance(value, dict):
        errors += [f"{path}.{k}: missing" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        for k, v in value.items():
            sub = props.get(k, schema.get("additionalProperties", True))
            if sub is not True:
                errors += schema_errors(v, sub, root, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += schema_errors(v, schema["items"], root, f"{path}[{i}]")
    return errors


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(_keywords(s) for s in schema))
    if not isinstance(schema, dict):
        return set()
    out = set(schema)
    for key, sub in schema.items():
        if key in ("properties", "$defs"):
            out |= set().union(*(_keywords(s) for s in sub.values()))
        elif key in ("items", "anyOf", "additionalProperties"):
            out |= _keywords(sub)
    return out


def test_the_committed_json_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text() == json_schema_text(), "run python scripts/export-schema.py"


def test_the_json_schema_is_draft_2020_12_and_consistent() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == SCHEMA_DIALECT == "https://json-schema.org/draft/2020-12/schema"
    assert _keywords(schema) <= KEYWORDS
    assert list(schema["properties"]) == list(Result.__dataclass_fields__)
    text = json.dumps(schema)
    for ref in re.findall(r'"\$ref": "#/\$defs/(\w+)"', text):
        assert ref in schema["$defs"]
    for obj in [schema, *schema["$defs"].values()]:
        assert set(obj["required"]) <= set(obj["properties"])
        assert obj["description"]
    for field in ("schema", "code_hash", "dataset", "tasks", "seed", "machine"):
        assert field in schema["required"]


@pytest.mark.parametrize("path", ENTRY_FILES, ids=lambda p: p.parent.name)
def test_every_published_entry_validates(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert validate_result(raw, path.parent) == []
    assert schema_errors(raw, json_schema(), json_schema()) == []
    typed = parse(raw)
    assert typed.dataset.fingerprint == raw["dataset"]["fingerprint"]
    for task, body in raw["tasks"].items():
        assert [m.value for m in typed.tasks[task].metrics] == [m["value"] for m in body["metrics"]]
        assert typed.tasks[task].wall_s == body["wall_s"]


def test_the_board_has_entries_to_validate() -> None:
    assert len(ENTRY_FILES) >= 10


def _nan_value(r: dict) -> None:
    r["tasks"]["roundtrip"]["metrics"][0]["value"] = math.nan


def _inf_wall(r: dict) -> None:
    r["tasks"]["roundtrip"]["wall_s"] = math.inf


BAD = [
    (lambda r: r.pop("dataset"), "dataset: missing", True),
    (lambda r: r["representation"].pop("name"), "representation.name: missing", True),
    (lambda r: r.update(seed="0"), "seed: not an integer", True),
    (lambda r: r.update(seed=True), "seed: not an integer", True),
    (lambda r: r["dataset"].update(n_test=2.0), "dataset.n_test: not an integer", True),
    (lambda r: r["machine"].update(cpu=""), "machine.cpu: empty", True),
    (lambda r: r.update(generator="gmm"), "generator: not an object", True),
    (lambda r: r["tasks"]["roundtrip"].update(metrics={}), "metrics: not a list", True),
    (lambda r: r["tasks"]["roundtrip"]["metrics"][1].pop("unit"), "metrics[1].unit: missing", True),
    (
        lambda r: r["tasks"]["roundtrip"]["metrics"][0].update(low="1"),
        "metrics[0].low: not a number",
        True,
    ),
    (_nan_value, "metrics[0].value: not a finite number", False),
    (_inf_wall, "tasks.roundtrip.wall_s: not a finite number", False),
    (lambda r: r.update(schema=2), "schema: expected 1, got 2", True),
]


@pytest.mark.parametrize(("edit", "message", "in_json_schema"), BAD)
def test_a_bad_result_is_one_line_user_error(edit, message: str, in_json_schema: bool) -> None:
    result = make_result("dct-square", 37.0, 1.0)
    assert validate_result(result) == []
    edit(result)
    assert message in validate_result(result)[0]
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        require_valid(result, None, "run/result.json")
    assert "\n" not in str(caught.value)
    # the exported JSON Schema refuses the same (JSON itself has no NaN or infinity)
    schema = json_schema()
    assert bool(schema_errors(result, schema, schema)) == in_json_schema


def test_submit_refuses_a_nan_metric_in_one_line(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", make_result("dct-square", 37.0, 1.0))
    result = json.loads((run / "result.json").read_text())
    _nan_value(result)
    (run / "result.json").write_text(json.dumps(result))  # Python writes the NaN literal
    assert main(["submit", str(run), "--entries", str(tmp_path / "entries")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a finite number" in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "entries").exists() or not list((tmp_path / "entries").iterdir())
