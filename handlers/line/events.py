"""LINE webhook bodies (pure): signature check, which events we keep, and event → ``Inbound``.

Routing keys: a one-to-one user is ``line:<userId>``; a group or a multi-person chat is
``line:group:<groupId>`` / ``line:room:<roomId>`` (they only ever get the one-to-one notice).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import jsonwire
from bot.inbox import IncomingEvent
from bot.types import Inbound, UserKey

PLATFORM = "line"
# Message types we cannot read; the engine answers them with a short note and keeps the flow.
UNSUPPORTED_MESSAGES = frozenset({"sticker", "image", "video", "audio", "file", "location"})
# Event types we act on, per source.
USER_EVENTS = frozenset({"message", "postback", "follow", "unfollow", "unsend"})
GROUP_EVENTS = frozenset({"message", "join"})


def sign(body: bytes, secret: str) -> str:
    """The X-Line-Signature LINE sends: base64 of HMAC-SHA256 over the raw body, keyed by the channel secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(body: bytes, signature: str | None, secret: str) -> bool:
    """Constant-time check of ``signature`` against the body."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode())


class BadWebhook(ValueError):
    """The body is not a LINE webhook; ``reason`` is short and safe to send back."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_callback(body: bytes) -> list[dict[str, Any]]:
    """The events in a webhook body; raises BadWebhook for malformed JSON or the wrong shape."""
    try:
        data = jsonwire.loads(body)
    except (ValueError, RecursionError):  # bad JSON/UTF-8, >4300-digit ints, absurdly deep nesting
        raise BadWebhook("malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise BadWebhook("expected a JSON object with an 'events' array")
    if not all(isinstance(e, dict) for e in data["events"]):
        raise BadWebhook("every event must be a JSON object")
    return data["events"]


def route_key(event: dict[str, Any]) -> str | None:
    """Whose inbox queue the event joins, or None when it has no usable source."""
    source = event.get("source")
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "user" and _usable_id(source.get("userId")):
        return f"{PLATFORM}:{source['userId']}"
    if kind == "group" and _usable_id(source.get("groupId")):
        return f"{PLATFORM}:group:{source['groupId']}"
    if kind == "room" and _usable_id(source.get("roomId")):
        return f"{PLATFORM}:room:{source['roomId']}"
    return None


def _usable_id(value: Any, *, longest: int = 128) -> bool:
    """A LINE id or webhookEventId we can store: a non-empty string that fits the inbox's columns and
    holds no NUL (PostgreSQL text cannot)."""
    return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value


def is_group(event: dict[str, Any]) -> bool:
    source = event.get("source")
    return isinstance(source, dict) and source.get("type") in ("group", "room")


def push_target(event: dict[str, Any]) -> str:
    """The ``to`` of a push answering this event: the user, group or room id, by the source's type
    (the same id ``route_key`` queued it under)."""
    source = event["source"]
    field = {"group": "groupId", "room": "roomId"}.get(source.get("type"), "userId")
    return source[field]


def reply_token(event: dict[str, Any]) -> str | None:
    """The event's reply token when it is one LINE could have issued (a non-empty string); else None,
    and the answer goes by push rather than a request LINE would refuse as malformed."""
    token = event.get("replyToken")
    return token if _usable_id(token, longest=256) else None


def event_id(event: dict[str, Any]) -> str:
    """``webhookEventId``, or (for a body without one) a digest of the event, stable across redeliveries."""
    wid = event.get("webhookEventId")
    if _usable_id(wid):
        return wid
    canonical = json.dumps({k: v for k, v in event.items() if k != "deliveryContext"}, sort_keys=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Sorted:
    """A webhook's events: the ones to store, and the types of those left aside (for the log)."""

    keep: list[IncomingEvent]
    skipped: list[str]


def sort_events(events: Iterable[dict[str, Any]]) -> Sorted:
    """Pick the events we act on: user messages, postbacks, follows, unfollows and unsends; group and room
    messages and joins (for the one-to-one notice). Standby-mode events belong to another module."""
    keep, skipped = [], []
    for event in events:
        etype = str(event.get("type", "?"))[:32]
        key = route_key(event)
        wanted = GROUP_EVENTS if is_group(event) else USER_EVENTS
        if key is None or etype not in wanted or event.get("mode") == "standby":
            skipped.append(etype)
            continue
        keep.append(IncomingEvent(platform=PLATFORM, event_id=event_id(event), user_key=key, payload=event))
    return Sorted(keep=keep, skipped=skipped)


def to_inbound(event: dict[str, Any], *, received_at: datetime, event_id: str | None = None,
               lang_hint: str | None = None) -> Inbound | None:
    """The core's view of a one-to-one event, or None for one we don't act on."""
    key = route_key(event)
    if key is None or is_group(event):
        return None
    user = UserKey(PLATFORM, key.split(":", 1)[1])
    etype = event.get("type")
    common = dict(user=user, received_at=received_at, event_id=event_id)
    if etype == "message":
        message = _object(event.get("message"))
        if message.get("type") == "text" and isinstance(message.get("text"), str):
            mid = message.get("id")
            return Inbound(kind="text", text=message["text"], platform_message_id=mid if _usable_id(mid, longest=64) else None,
                           **common)
        return Inbound(kind="unsupported", **common)
    if etype == "postback":
        data = _object(event.get("postback")).get("data")
        if not isinstance(data, str) or not data:
            return None
        return Inbound(kind="choice", choice=data, **common)
    if etype == "follow":
        return Inbound(kind="follow", lang_hint=lang_hint, **common)
    if etype == "unfollow":
        return Inbound(kind="unfollow", **common)
    return None


def unsent_message_id(event: dict[str, Any]) -> str | None:
    """The id of the message an ``unsend`` event takes back, or None."""
    mid = _object(event.get("unsend")).get("messageId")
    return mid if _usable_id(mid, longest=64) else None


def is_unblock(event: dict[str, Any]) -> bool:
    """A ``follow`` from someone who had blocked us and now unblocked (not a first add)."""
    return event.get("type") == "follow" and _object(event.get("follow")).get("isUnblocked") is True


def postback_data(event: dict[str, Any]) -> str | None:
    data = _object(event.get("postback")).get("data") if event.get("type") == "postback" else None
    return data if isinstance(data, str) else None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object from the event, or an empty one when a signed body holds something else there."""
    return value if isinstance(value, dict) else {}


def profile_language(language: str | None) -> str | None:
    """'ja' or 'en' from a LINE profile's language tag (e.g. 'en-US'), else None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-", 1)[0].lower()
    return base if base in ("ja", "en") else None
