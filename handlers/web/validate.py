"""Strict checks on what the page sends: pure functions that say exactly what is wrong.

Every failure is a ``BadRequest`` with an HTTP status and a reason the API returns as
``{"error": reason}``; nothing a client sends can turn into a 5xx.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from urllib.parse import urlsplit

from bot import jsonwire

MAX_BODY_BYTES = 16 * 1024
MAX_TEXT_CHARS = 2000
MAX_CHOICE_CHARS = 300
LANGUAGES = ("ja", "en")


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MessageInput:
    """Exactly one of ``text`` (free text) and ``choice`` (a tapped button's value)."""

    text: str | None = None
    choice: str | None = None


def check_content_type(value: str | None) -> None:
    """Only ``application/json`` (a cross-site HTML form cannot send it without a CORS preflight)."""
    media = (value or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequest(415, "send the body as Content-Type: application/json")
    params = [p.strip().lower() for p in (value or "").split(";")[1:]]
    for p in params:
        if p.startswith("charset=") and p.split("=", 1)[1].strip('"') not in ("utf-8", "utf8"):
            raise BadRequest(415, "the body must be UTF-8")


def check_same_origin(*, origin: str | None, host: str | None, forwarded_host: str | None = None,
                      fetch_site: str | None = None) -> None:
    """Refuse requests a browser marks as coming from another site (Origin, Sec-Fetch-Site when present)."""
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        raise BadRequest(403, "cross-site requests are not accepted")
    if origin is None:
        return
    if origin == "null":
        raise BadRequest(403, "requests from an opaque origin are not accepted")
    netloc = urlsplit(origin).netloc.lower()
    allowed = {h.strip().lower() for h in (host, forwarded_host) if h}
    if not netloc or netloc not in allowed:
        raise BadRequest(403, "the request's Origin does not match this site")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a size-limited UTF-8 JSON body that must be an object."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise BadRequest(400, "the body is empty; send a JSON object")
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not valid UTF-8") from None
    try:
        data = jsonwire.loads(decoded)
    except (ValueError, RecursionError):
        raise BadRequest(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return data


def _clean_string(value: Any, *, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadRequest(400, f"{field} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(400, f"{field} contains an unpaired surrogate (not valid Unicode text)") from None
    if "\x00" in value:
        raise BadRequest(400, f"{field} contains a NUL character")
    if len(value) > limit:
        raise BadRequest(413 if field == "text" else 400, f"{field} is longer than {limit} characters")
    if not value.strip():
        raise BadRequest(400, f"{field} is empty")
    return value


def parse_message(data: dict[str, Any]) -> MessageInput:
    """``{"text": ...}`` or ``{"choice": ...}``: exactly one, strings only, within the limits."""
    unknown = sorted(set(data) - {"text", "choice"})
    if unknown:
        raise BadRequest(400, f"unknown field(s): {', '.join(unknown)}; send exactly one of text or choice")
    has_text, has_choice = "text" in data, "choice" in data
    if has_text == has_choice:
        raise BadRequest(400, "send exactly one of text or choice")
    if has_text:
        return MessageInput(text=_clean_string(data["text"], field="text", limit=MAX_TEXT_CHARS))
    choice = _clean_string(data["choice"], field="choice", limit=MAX_CHOICE_CHARS)
    if not choice.isprintable():
        raise BadRequest(400, "choice contains control characters")
    return MessageInput(choice=choice)


def parse_start(data: dict[str, Any]) -> str | None:
    """``{}`` or ``{"language": "ja"|"en"}``: the language the page is showing, as a hint."""
    unknown = sorted(set(data) - {"language"})
    if unknown:
        raise BadRequest(400, f"unknown field(s): {', '.join(unknown)}")
    lang = data.get("language")
    if lang is not None and lang not in LANGUAGES:
        raise BadRequest(400, "language must be 'ja' or 'en'")
    return lang


def parse_timezone(data: dict[str, Any]) -> tuple[str, bool]:
    """``{"timezone": IANA name, "chosen": bool}``: a real zone name (``Europe/London``), nothing else."""
    unknown = sorted(set(data) - {"timezone", "chosen"})
    if unknown:
        raise BadRequest(400, f"unknown field(s): {', '.join(unknown)}")
    name, chosen = data.get("timezone"), data.get("chosen", False)
    if not isinstance(chosen, bool):
        raise BadRequest(400, "chosen must be true or false")
    if not isinstance(name, str) or not 0 < len(name) <= 64 or not name.isascii() or not name.isprintable():
        raise BadRequest(400, "timezone must be an IANA time zone name such as Europe/London")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(400, f"unknown time zone {name!r}") from None
    if name != "UTC" and "/" not in name:  # tzdata also knows legacy aliases such as "EST5EDT" or "Japan"
        raise BadRequest(400, "timezone must be an IANA area/location name such as Europe/London")
    return name, chosen


def parse_int_param(raw: str | None, *, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise BadRequest(400, f"{name} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(400, f"{name} must be between {low} and {high}")
    return value


def pick_language(accept_language: str | None, *, default: str) -> str:
    """The first of ja/en the browser asks for (by q-value, then order), else ``default``."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate((accept_language or "").split(",")[:32]):
        pieces = [p.strip() for p in part.split(";")]
        tag = pieces[0].lower()
        q = 1.0
        for p in pieces[1:]:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        base = tag.split("-", 1)[0]
        if base in LANGUAGES and q > 0:
            key = (-q, index, base)
            if best is None or key < best:
                best = key
    return best[2] if best else default
