"""Sign webhook bodies exactly as the platforms do."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time


def line_signature(secret: str, body: bytes) -> str:
    """LINE: base64(HMAC-SHA256(channel secret, raw body)) in X-Line-Signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def line_headers(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": line_signature(secret, body)}


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                  content_type: str = "application/json") -> dict[str, str]:
    """Slack: v0=hex(HMAC-SHA256(signing secret, "v0:{ts}:{body}")) with X-Slack-Request-Timestamp."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
