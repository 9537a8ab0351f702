"""Structured JSON logs on standard error. Records carry only fields we chose: never message text,
tokens or secrets (``redact`` masks anything that looks like one, as a second line of defence)."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone

# Fields a log record may carry besides its event name. Anything else passed in ``extra`` is dropped,
# which is what keeps a careless ``extra={"text": ...}`` from ever reaching the logs.
ALLOWED_FIELDS = frozenset({
    "platform", "kind", "state", "signals", "replies", "effect", "event_id", "attempt", "status", "events",
    "new", "outcome", "duration_ms", "count", "due", "sent", "failed", "skipped", "worker", "channel",
    "host", "port", "path", "method", "error", "reason", "user_ref", "outbox_id", "retry_after", "flow",
})
_SECRET = re.compile(r"(xox[abposr]-[A-Za-z0-9-]+|Bearer\s+\S+|[A-Za-z0-9+/]{40,}={0,2})")


def redact(value: str) -> str:
    return _SECRET.sub("[redacted]", value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key in ALLOWED_FIELDS:
            if key in record.__dict__:
                value = record.__dict__[key]
                out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
            where = _raised_at(record.exc_info[2])
            if where:
                out["raised_at"] = where
        return json.dumps(out, ensure_ascii=False, default=str)


def _raised_at(tb) -> str | None:
    """Where the exception was raised, as ``path:line`` of the innermost frame, and of the innermost
    frame in our own code when that is elsewhere (never the message, which may quote what someone
    wrote)."""
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    if not frames:
        return None

    def short(path: str, line: int) -> str:
        for marker in ("/site-packages/", "/bot/", "/handlers/"):
            if marker in path:
                path = path[path.rindex(marker) + 1:].removeprefix("site-packages/")
                break
        else:
            path = re.sub(r"^.*/lib/python3\.\d+/", "", path)
        return f"{path}:{line}"

    ours = [f for f in frames if "/site-packages/" not in f[0] and ("/bot/" in f[0] or "/handlers/" in f[0])]
    where = [short(*frames[-1])]
    if ours and ours[-1] != frames[-1]:
        where.append(short(*ours[-1]))
    return " < ".join(where)


def setup_logging(level: str | None = None) -> None:
    """Send JSON lines to stderr at LOG_LEVEL (default INFO); quiet chatty libraries."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    for noisy in ("aiosqlite", "sqlalchemy", "alembic", "apscheduler", "asyncio", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
