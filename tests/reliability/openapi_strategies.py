"""Hypothesis strategies that build LINE webhook events from the components of LINE's own
``webhook.yml``: every event type its discriminator maps, every message and source type, with
random values of the declared types (and, in ``mutated_events``, values of the wrong type).

Only what the schema declares is used: ``$ref``, ``allOf``, ``discriminator`` mappings, ``enum``,
``pattern``, ``format``, ``minimum``/``maximum``, ``required``. Optional properties come and go.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

JSON_LEAVES = st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=30)
ANY_JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


@lru_cache(maxsize=2)
def load_schemas(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["components"]["schemas"]


class SchemaStrategies:
    """Strategies for the schemas of one OpenAPI file."""

    def __init__(self, webhook_yml: Path):
        self.schemas = load_schemas(str(webhook_yml))

    def _resolve(self, schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        ref = schema.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[1]
            return name, self.schemas[name]
        return None, schema

    def _flatten(self, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """Merge an object schema with its allOf parts: (properties, required)."""
        _, schema = self._resolve(schema)
        props: dict[str, Any] = dict(schema.get("properties", {}))
        required: set[str] = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            p, r = self._flatten(part)
            props.update(p)
            required |= r
        return props, required

    def named(self, name: str) -> st.SearchStrategy:
        return self.schema({"$ref": f"#/components/schemas/{name}"})

    def variants(self, name: str) -> dict[str, st.SearchStrategy]:
        """One strategy per value of the schema's discriminator (e.g. every LINE event type)."""
        _, resolved = self._resolve({"$ref": f"#/components/schemas/{name}"})
        disc = resolved["discriminator"]
        return {value: self._object({"$ref": ref}, 1, fixed={disc["propertyName"]: value})
                for value, ref in sorted(disc["mapping"].items())}

    def schema(self, schema: dict[str, Any], *, depth: int = 0, use_discriminator: bool = True) -> st.SearchStrategy:
        name, resolved = self._resolve(schema)
        if depth > 8:
            return st.none()
        disc = resolved.get("discriminator")
        if disc and use_discriminator:
            prop = disc["propertyName"]
            return st.sampled_from(sorted(disc["mapping"].items())).flatmap(
                lambda kv: self._object({"$ref": kv[1]}, depth + 1, fixed={prop: kv[0]}))
        if "allOf" in resolved or resolved.get("type") == "object" or "properties" in resolved:
            return self._object(schema, depth + 1)
        if "enum" in resolved:
            return st.sampled_from(resolved["enum"])
        kind = resolved.get("type")
        if kind == "string":
            if "pattern" in resolved:
                return st.from_regex(resolved["pattern"], fullmatch=True)
            if resolved.get("format") == "uri":
                return st.builds(lambda s: "https://example.com/" + s, st.text("abcxyz019", max_size=12))
            return st.text(min_size=resolved.get("minLength", 0), max_size=min(resolved.get("maxLength", 40), 40))
        if kind == "integer":
            lo = resolved.get("minimum", -2**63 if resolved.get("format") == "int64" else -2**31)
            hi = resolved.get("maximum", 2**63 - 1 if resolved.get("format") == "int64" else 2**31 - 1)
            return st.integers(int(lo), int(hi))
        if kind == "number":
            return st.floats(resolved.get("minimum"), resolved.get("maximum"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "array":
            return st.lists(self.schema(resolved.get("items", {}), depth=depth + 1),
                            min_size=resolved.get("minItems", 0), max_size=min(resolved.get("maxItems", 3), 3))
        return ANY_JSON

    def _object(self, schema: dict[str, Any], depth: int, fixed: dict[str, Any] | None = None) -> st.SearchStrategy:
        props, required = self._flatten(schema)
        fixed = fixed or {}
        # A property that is itself discriminated (source, message, ...) picks its own subtype;
        # the base a subtype extends (allOf: Event) does not re-pick.
        parts: dict[str, st.SearchStrategy] = {}
        optional: dict[str, st.SearchStrategy] = {}
        for key, sub in props.items():
            if key in fixed:
                parts[key] = st.just(fixed[key])
                continue
            strat = self.schema(sub, depth=depth)
            (parts if key in required else optional)[key] = strat
        return st.fixed_dictionaries(parts, optional=optional)


def signed_ready_body(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"destination": "U" + "0" * 32, "events": events}


def mutated(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Events from ``strategy`` with one field (at any depth) replaced by a value of any JSON type."""

    def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
        out = [prefix] if prefix else []
        if isinstance(value, dict):
            for k, v in value.items():
                out += paths(v, prefix + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                out += paths(v, prefix + (i,))
        return out

    def replace(value: Any, path: tuple, new: Any) -> Any:
        if not path:
            return new
        head, rest = path[0], path[1:]
        if isinstance(value, dict):
            return {**value, head: replace(value[head], rest, new)}
        copy = list(value)
        copy[head] = replace(copy[head], rest, new)
        return copy

    @st.composite
    def build(draw):
        event = draw(strategy)
        candidates = paths(event)
        if not candidates:
            return event
        path = draw(st.sampled_from(candidates))
        return replace(event, path, draw(ANY_JSON))

    return build()
