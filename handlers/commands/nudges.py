"""``bansou nudges send-due [--now ISO-8601]``: one dispatch pass, for cron, operators and tests."""
from __future__ import annotations

import sys
from datetime import datetime


def parse_now(raw: str | None) -> datetime | None:
    """An aware datetime from ISO 8601; ValueError with a readable reason otherwise."""
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"--now {raw!r} is not an ISO-8601 date-time (e.g. 2026-03-09T09:00:00+09:00)") from None
    if value.tzinfo is None:
        raise ValueError(f"--now {raw!r} has no timezone; add one, e.g. {raw}+09:00 or {raw}Z")
    return value


async def run_send_due(args) -> int:
    from bot.reminders.dispatch import Dispatcher
    from bot.service import utcnow
    from handlers.compose import build

    try:
        now = parse_now(args.now)
    except ValueError as exc:
        print(f"bansou: {exc}", file=sys.stderr)
        return 2
    runtime = await build(clock=(lambda: now) if now else utcnow)
    try:
        result = await Dispatcher(runtime).run_pass(now or runtime.clock())
        print(result.summary(), flush=True)
    finally:
        await runtime.close()
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("nudges", help="reminders: run a dispatch pass by hand")
    sub = p.add_subparsers(dest="nudges_command", required=True)
    s = sub.add_parser("send-due", help="send every reminder due now (or at --now) and print how many")
    s.add_argument("--now", help="the moment to act at, ISO-8601 with a timezone (default: now)")
    s.set_defaults(func=run_send_due)
