"""Check what we send to LINE against LINE's own OpenAPI description (../shared/line-openapi),
plus the documented limits the description does not encode (text length, label length, ...).

``LineSpec(shared_dir).request_errors(...)`` lists every problem with one request to the Messaging
API; ``webhook_errors(body)`` does the same for a webhook body a test built.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml
from openapi_core import OpenAPI
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from handlers.line.messages import line_length

LINE_HOST = "https://api.line.me"
DATA_HOST = "https://api-data.line.me"  # the blob endpoints (rich menu images, content)
WEBHOOK_HOST = "https://example.com"
# LINE limits documented at developers.line.biz but not in messaging-api.yml.
TEXT_MAX = 5000
QUICK_REPLY_LABEL_MAX = 20
DISPLAY_TEXT_MAX = 300


@dataclass
class SpecRequest:
    """A request in the shape openapi-core reads (``openapi_core.protocols.Request``)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


@lru_cache(maxsize=4)
def _load(path: str) -> OpenAPI:
    return OpenAPI.from_file_path(path)


@lru_cache(maxsize=4)
def _components(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["components"]


class _Discriminated:
    """Validates one object against the subschema its ``type`` names (openapi-core checks only the
    base schema of a discriminated union, so a text message without text would slip through)."""

    def __init__(self, path: str):
        self.components = _components(path)

    def errors(self, base: str, value: Any, where: str) -> list[str]:
        schemas = self.components["schemas"]
        mapping = schemas[base]["discriminator"]["mapping"]
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in mapping:
            return [f"{where}: type {kind!r} is not one of {sorted(mapping)}"]
        name = mapping[kind].rsplit("/", 1)[1]
        validator = OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": self.components},
                                   format_checker=oas30_format_checker)
        return [f"{where}{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}"
                for e in validator.iter_errors(value)]


class LineSpec:
    """LINE's OpenAPI files, loaded once per process."""

    def __init__(self, shared_dir: Path):
        root = Path(shared_dir) / "line-openapi"
        self.messaging = _load(str(root / "messaging-api.yml"))
        self.webhook = _load(str(root / "webhook.yml"))
        self._messages = _Discriminated(str(root / "messaging-api.yml"))
        self._events = _Discriminated(str(root / "webhook.yml"))

    def request_errors(self, *, method: str, path: str, headers: Mapping[str, str], body: bytes | None,
                       query: Mapping[str, str] | None = None) -> list[str]:
        """Everything wrong with one request to the Messaging API (empty when LINE would accept it)."""
        hdrs = Headers(list(headers.items()))
        host = DATA_HOST if path.endswith("/content") else LINE_HOST
        request = SpecRequest(host_url=host, path=path, method=method.lower(), body=body,
                              content_type=(hdrs.get("Content-Type") or "").lower(),
                              parameters=RequestParameters(query=ImmutableMultiDict(list((query or {}).items())),
                                                           header=hdrs))
        errors = [_describe(e) for e in self.messaging.iter_request_errors(request)]
        auth = hdrs.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            errors.append("missing Authorization: Bearer <channel access token>")
        retry_key = hdrs.get("X-Line-Retry-Key")
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                errors.append(f"X-Line-Retry-Key {retry_key!r} is not a UUID")
        if body and method.upper() == "POST" and path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
            data = json.loads(body)
            for i, message in enumerate(data.get("messages") or []):
                errors.extend(self._messages.errors("Message", message, f"messages[{i}]"))
                if isinstance(message, dict) and message.get("type") == "flex":
                    errors.extend(self._flex_errors("FlexContainer", message.get("contents"), f"messages[{i}].contents"))
                items = ((message.get("quickReply") or {}).get("items")) or [] if isinstance(message, dict) else []
                for j, item in enumerate(items):
                    errors.extend(self._messages.errors("Action", (item or {}).get("action"),
                                                        f"messages[{i}].quickReply.items[{j}].action"))
            if not errors:
                errors.extend(_message_limits(data))
        if body and method.upper() == "POST" and path == "/v2/bot/richmenu":
            data = json.loads(body)
            for i, area in enumerate(data.get("areas") or []):
                action = (area or {}).get("action")
                errors.extend(self._messages.errors("Action", action, f"areas[{i}].action"))
                label = (action or {}).get("label") or ""
                if line_length(label) > QUICK_REPLY_LABEL_MAX:
                    errors.append(f"areas[{i}].action.label {label!r} is longer than 20 characters")
                bounds = (area or {}).get("bounds") or {}
                size = data.get("size") or {}
                if bounds.get("x", 0) + bounds.get("width", 0) > size.get("width", 0) or \
                        bounds.get("y", 0) + bounds.get("height", 0) > size.get("height", 0):
                    errors.append(f"areas[{i}].bounds fall outside the {size} image")
        return errors

    def _flex_errors(self, base: str, value: Any, where: str) -> list[str]:
        """A Flex container or component checked against the schema its ``type`` names, all the way
        down (the discriminator is not followed inside a message by the plain schema check)."""
        errors = self._messages.errors(base, value, where)
        if errors or not isinstance(value, dict):
            return errors
        kind = value.get("type")
        if kind == "carousel":
            for j, bubble in enumerate(value.get("contents") or []):
                errors.extend(self._flex_errors("FlexContainer", bubble, f"{where}.contents[{j}]"))
        elif kind == "bubble":
            for part in ("header", "hero", "body", "footer"):
                if part in value:
                    errors.extend(self._flex_errors("FlexComponent", value[part], f"{where}.{part}"))
        elif kind == "box":
            for j, child in enumerate(value.get("contents") or []):
                errors.extend(self._flex_errors("FlexComponent", child, f"{where}.contents[{j}]"))
        return errors

    def webhook_errors(self, body: bytes) -> list[str]:
        """Everything wrong with a webhook body against webhook.yml's CallbackRequest."""
        request = SpecRequest(host_url=WEBHOOK_HOST, path="/callback", method="post", body=body,
                              content_type="application/json",
                              parameters=RequestParameters(header=Headers([("Content-Type", "application/json")])))
        errors = [_describe(e) for e in self.webhook.iter_request_errors(request)]
        if not errors:
            for i, event in enumerate(json.loads(body)["events"]):
                errors.extend(self._events.errors("Event", event, f"events[{i}]"))
                if isinstance(event, dict) and isinstance(event.get("source"), dict):
                    errors.extend(self._events.errors("Source", event["source"], f"events[{i}].source"))
                if isinstance(event, dict) and event.get("type") == "message":
                    errors.extend(self._events.errors("MessageContent", event.get("message"), f"events[{i}].message"))
        return errors


def _describe(error: Exception) -> str:
    parts = [str(error)]
    for sub in getattr(error, "schema_errors", None) or []:
        parts.append(f"  {list(getattr(sub, 'path', []))}: {getattr(sub, 'message', sub)}")
    cause = error.__cause__
    for sub in getattr(cause, "schema_errors", None) or []:
        parts.append(f"  {list(getattr(sub, 'path', []))}: {getattr(sub, 'message', sub)}")
    return "\n".join(parts)


def _message_limits(data: Any) -> list[str]:
    errors = []
    for i, message in enumerate(data.get("messages") or []):
        if message.get("type") == "text":
            text = message.get("text") or ""
            if not text:
                errors.append(f"messages[{i}].text is empty")
            if line_length(text) > TEXT_MAX:
                errors.append(f"messages[{i}].text is {line_length(text)} characters (max {TEXT_MAX})")
        items = ((message.get("quickReply") or {}).get("items")) or []
        for j, item in enumerate(items):
            action = item.get("action") or {}
            label = action.get("label") or ""
            if not label or line_length(label) > QUICK_REPLY_LABEL_MAX:
                errors.append(f"messages[{i}].quickReply.items[{j}].action.label {label!r} must be 1-20 characters")
            data = action.get("data") or ""
            if line_length(data) > 300:
                errors.append(f"messages[{i}].quickReply.items[{j}].action.data longer than 300")
            display = action.get("displayText")
            if display is not None and line_length(display) > DISPLAY_TEXT_MAX:
                errors.append(f"messages[{i}].quickReply.items[{j}].action.displayText longer than 300")
    return errors
