"""The JSON Schema for editors (content/schema/) is generated from the content models and agrees with them."""
from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from bot.content_models import json_schemas
from bot.yamlfile import load_yaml
from tests.transcript import CONTENT_DIR

SCHEMA_DIR = CONTENT_DIR / "schema"
FILES = {
    "flow.schema.json": "flows/*.yaml",
    "messages.schema.json": "messages/*/*.yaml",
    "nudges.schema.json": "nudges/*.yaml",
    "commands.schema.json": "commands.yaml",
    "signals.schema.json": "signals.yaml",
    "reminders.schema.json": "reminders.yaml",
    "understanding.schema.json": "understanding/*.yaml",
    "crisis-care.schema.json": "crisis/care.yaml",
    "crisis-resources.schema.json": "crisis/resources.yaml",
}


def test_committed_schemas_are_the_models_schemas():
    expected = json_schemas()
    committed = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_DIR.glob("*.schema.json")}
    assert sorted(committed) == sorted(expected), "run scripts/content-schema"
    for name, schema in expected.items():
        assert committed[name] == schema, f"{name} is stale: run scripts/content-schema"


@pytest.mark.parametrize("schema_name, pattern", sorted(FILES.items()))
def test_every_shipped_file_validates_against_its_schema(schema_name, pattern):
    schema = json_schemas()[schema_name]
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    paths = sorted(CONTENT_DIR.glob(pattern))
    assert paths
    for path in paths:
        # as an editor sees it: YAML dates are strings in JSON
        data = json.loads(json.dumps(load_yaml(path.read_text(encoding="utf-8")), default=str))
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], path


def test_the_schema_refuses_what_the_loader_refuses():
    validator = Draft202012Validator(json_schemas()["flow.schema.json"])
    flow = {"id": "x", "start": "a", "states": {"a": {"say": "m", "next": "end", "actions": ["fly"]}}}
    assert not validator.is_valid(flow)
    flow["states"]["a"]["actions"] = [{"set_language": "fr"}]
    assert not validator.is_valid(flow)
    flow["states"]["a"]["actions"] = [{"set_language": "en"}, "save_checkin"]
    assert validator.is_valid(flow)
    flow["states"]["a"]["colour"] = "red"
    assert not validator.is_valid(flow)
