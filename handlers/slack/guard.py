"""A shape check in front of Bolt: Slack's own bodies always pass it; anything else gets a 400 with
the reason, instead of reaching Bolt (whose parsing and listeners assume Slack's shapes and answer
a malformed body with a 500, which Slack would retry). Pure; found needed by the fuzzer."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from bot import jsonwire

_STR_FIELDS = ("user", "text", "channel", "channel_type", "ts", "event_ts", "thread_ts", "tab", "bot_id", "subtype")


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "'event' must be an object"
    for key in _STR_FIELDS:
        if key in event and event[key] is not None and not isinstance(event[key], str):
            return f"event.{key} must be a string"
    return None


def _payload_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "'payload' must be a JSON object with a 'type'"
    user = data.get("user")
    if user is not None and not (isinstance(user, dict) and isinstance(user.get("id"), str)):
        return "payload.user must be an object with an 'id'"
    for key in ("api_app_id", "trigger_id", "response_url", "token"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"payload.{key} must be a string"
    for key in ("team", "channel", "container", "view", "message", "enterprise"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"payload.{key} must be an object"
    # Ids and timestamps the intake copies into the stored event: an id of another type would reach
    # the processor (as a cache key, a column, an API argument) and fail there, after the 200.
    for outer, inner in (("team", "id"), ("enterprise", "id"), ("channel", "id"), ("container", "type"),
                         ("container", "thread_ts"), ("message", "thread_ts")):
        value = (data.get(outer) or {}).get(inner)
        if value is not None and not isinstance(value, str):
            return f"payload.{outer}.{inner} must be a string"
    actions = data.get("actions")
    if data["type"] == "block_actions" and not actions:
        return "payload.actions must not be empty"
    if actions is not None:
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            return "payload.actions must be a list of objects"
        for a in actions:
            if not isinstance(a.get("action_id"), str):
                return "payload.actions[].action_id must be a string"
            for key in ("action_id", "value", "block_id", "type", "action_ts"):
                if a.get(key) is not None and not isinstance(a[key], str):
                    return f"payload.actions[].{key} must be a string"
    return None


def slack_body_problem(content_type: str | None, body: bytes) -> str | None:
    """Why ``body`` cannot be a Slack request, or None when its shape is plausible."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            data = jsonwire.loads(text)
        except (ValueError, RecursionError):
            return "the body is not valid JSON"
        if not isinstance(data, dict):
            return "the body must be a JSON object"
        for key in ("type", "team_id", "enterprise_id", "api_app_id", "event_id", "token", "context_team_id"):
            if data.get(key) is not None and not isinstance(data[key], str):
                return f"{key} must be a string"
        auths = data.get("authorizations")
        if auths is not None and not (isinstance(auths, list) and all(isinstance(a, dict) for a in auths)):
            return "authorizations must be a list of objects"
        if data.get("type") == "event_callback":
            return _event_problem(data.get("event"))
        if "challenge" in data and not isinstance(data["challenge"], str):
            return "challenge must be a string"
        return None
    try:
        form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict"))
    except (ValueError, UnicodeDecodeError):
        return "the form is malformed"
    if "payload" in form:
        try:
            payload = jsonwire.loads(form["payload"])
        except (ValueError, RecursionError):
            return "'payload' is not valid JSON"
        return _payload_problem(payload)
    if "command" in form:
        for key in ("user_id", "channel_id"):
            if not form.get(key):
                return f"a slash command needs {key}"
    return None


def signed_by_slack(secret: str, body: bytes, headers, *, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw bytes (works for bodies that are not UTF-8, unlike the SDK's);
    False for a missing, malformed or stale timestamp (never an exception)."""
    import hashlib
    import hmac
    import time

    ts = headers.get("x-slack-request-timestamp") or ""
    given = headers.get("x-slack-signature") or ""
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12) or abs((now or time.time()) - int(ts)) > 300:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
