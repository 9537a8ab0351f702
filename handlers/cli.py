"""The ``bansou`` console script: every command, parsed here and run against the core.

Commands that need the channels (``serve``, ``worker``, ``nudges send-due``, ``line``) import the
composition root (``handlers.compose``) when they run, so ``bansou detect`` or ``bansou chat`` do
not pay for loading the platform SDKs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.errors import ConfigError, ContentInvalid
from bot.settings import load_settings
from handlers.commands import detect as detect_command
from handlers.commands import nudges as nudges_command


def _print(text: str = "", *, file=None) -> None:
    print(text, file=file or sys.stdout, flush=True)


# ---------------------------------------------------------------------------------- chat


async def run_chat(args) -> int:
    from bot.crisis import is_link
    from bot.runtime import build_runtime
    from bot.types import Inbound, UserKey

    import logging
    import os

    if not os.environ.get("LOG_LEVEL"):
        logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    runtime = await build_runtime()
    key = UserKey("cli", args.user)
    coach = runtime.coach
    try:
        if args.lang:
            await _ensure_language(runtime, key, args.lang)
        interactive = sys.stdin.isatty() and not args.json
        last_choices: list = []
        if interactive:
            _print("bansou chat: type a message; a button's label (or /N for the N-th button) taps it; "
                   "Ctrl-D to leave.")
        while True:
            if interactive:
                sys.stdout.write("> ")
                sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip():
                continue
            choice = _pick_choice(text, last_choices)
            now = runtime.clock()
            if choice is not None:
                inbound = Inbound(user=key, kind="choice", choice=choice.value, received_at=now)
            else:
                inbound = Inbound(user=key, kind="text", text=text, received_at=now)
            outcome = await coach.handle(inbound, user_defaults={"language": args.lang} if args.lang else None)
            links = [c for r in outcome.replies for c in r.choices if is_link(c.value)]
            last_choices = [c for r in outcome.replies for c in r.choices if not is_link(c.value)]
            if args.json:
                _print(json.dumps({
                    "input": text,
                    "state": outcome.state,
                    "signals": [s.as_dict() for s in outcome.signals],
                    "replies": [{"text": r.text, "choices": [c.label for c in r.choices]} for r in outcome.replies],
                }, ensure_ascii=False))
            else:
                for r in outcome.replies:
                    _print(("⚠ " if r.style == "crisis" else "") + r.text)
                if links:  # support lines: shown with where they go, not picked
                    _print("   " + "  ".join(f"{c.label} <{c.value}>" for c in links))
                if last_choices:
                    _print("   " + "  ".join(f"[{i}] {c.label}" for i, c in enumerate(last_choices, 1)))
    finally:
        await runtime.close()
    return 0


def _pick_choice(text: str, choices: list):
    stripped = text.strip()
    if stripped.startswith("/") and stripped[1:].isdigit():
        n = int(stripped[1:])
        if 1 <= n <= len(choices):
            return choices[n - 1]
    for c in choices:
        if c.label == stripped:
            return c
    return None


async def _ensure_language(runtime, key, lang: str) -> None:
    from bot.store import repo

    async with runtime.db.session() as session:
        user = await repo.get_user(session, key)
        if user is not None and user.language != lang:
            user.language = lang
            await session.commit()


# ------------------------------------------------------------------------------- content


def run_content_check(args) -> int:
    from bot.content import validate_content

    root = Path(args.dir) if args.dir else load_settings().content_dir
    errors = validate_content(root)
    if errors:
        _print(f"{root}: {len(errors)} problem(s)", file=sys.stderr)
        for e in errors:
            _print(f"  {e}", file=sys.stderr)
        return 1
    from bot.content import load_content

    content = load_content(root)
    _print(f"{root}: OK: {len(content.flows)} flows, {len(content.messages)} messages, "
           f"{len(content.nudges)} nudges")
    unverified = content.crisis.book.unverified() if content.crisis else []
    if unverified:
        _print(f"  note: {len(unverified)} crisis resource(s) still marked verify_before_release "
               f"({', '.join(unverified)}); see content/README.md")
    return 0


def run_content_graph(args) -> int:
    from bot.content import load_content

    settings = load_settings()
    try:
        content = load_content(Path(args.dir) if args.dir else settings.content_dir)
    except ContentInvalid as exc:
        _print(str(exc), file=sys.stderr)
        return 1
    flow = content.flows.get(args.flow)
    if flow is None:
        _print(f"unknown flow {args.flow!r}; flows: {', '.join(sorted(content.flows))}", file=sys.stderr)
        return 2
    from bot.diagram import mermaid

    _print(mermaid(flow))
    return 0


# ------------------------------------------------------------------------------------ db


async def run_db(args) -> int:
    from bot.store import migrate

    url = load_settings().database_url
    if args.action == "upgrade":
        await migrate.upgrade(url, args.revision or "head")
    else:
        await migrate.downgrade(url, args.revision or "-1")
    _print(f"database {args.action}d to {args.revision or ('head' if args.action == 'upgrade' else '-1')}")
    return 0


# --------------------------------------------------------------------------------- users


async def run_users(args) -> int:
    from bot.store import repo
    from bot.store.db import Database
    from bot.types import UserKey

    settings = load_settings()
    import bot.store.all_models  # noqa: F401  (every table, for export and delete)

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            user = await repo.get_user(session, UserKey(args.platform, args.user_id))
            if user is None:
                _print(f"no user {args.platform}:{args.user_id}", file=sys.stderr)
                return 1
            if args.action == "export":
                data = await repo.export_user(session, user)
                _print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
            else:
                await repo.delete_user(session, user)
                await session.commit()
                _print(f"deleted every row about {args.platform}:{args.user_id}")
    finally:
        await db.dispose()
    return 0


# --------------------------------------------------------------------------------- inbox


def _iso_moment(text: str):
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 date-time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +09:00)")
    return moment


async def run_inbox(args) -> int:
    """``bansou inbox retry [--since T]``: dead deliveries get another horizon of retries; the
    running server's inbox worker sends them (same idempotency keys: nothing is sent twice)."""
    from datetime import datetime, timedelta, timezone

    from bot.inbox import replay_dead
    from bot.store.db import Database

    settings = load_settings()
    db = Database(settings.database_url)
    try:
        n = await replay_dead(db, now=datetime.now(timezone.utc), since=args.since,
                              horizon=timedelta(hours=settings.inbox_retry_horizon_hours))
    finally:
        await db.dispose()
    _print(f"{n} dead deliver{'y' if n == 1 else 'ies'} queued again")
    return 0


# --------------------------------------------------------------------------- serve/worker


def run_serve(args) -> int:
    load_settings().check()  # refuse a half-configured channel before loading the server
    from handlers import server

    return server.serve(host=args.host, port=args.port, scheduler=not args.no_scheduler)


def run_line(args):
    """``bansou line setup|render-menu``: the LINE adapter's own commands."""
    from handlers.line import cli as line_cli

    return line_cli.run_setup(args) if args.line_command == "setup" else line_cli.run_render(args)


def run_worker(args) -> int:
    load_settings().check()
    from handlers import worker

    return asyncio.run(worker.run_worker())


# ---------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bansou", description="A coaching companion on LINE and Slack.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web server (webhooks, web chat, health, metrics)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    p.add_argument("--no-scheduler", action="store_true", help="do not run reminders in this process")
    p.set_defaults(func=run_serve)

    p = sub.add_parser("worker", help="run the reminder scheduler alone")
    p.set_defaults(func=run_worker)

    p = sub.add_parser("chat", help="talk to bansou in the terminal")
    p.add_argument("--user", default="me", help="your user id (default: me)")
    p.add_argument("--lang", choices=["ja", "en"])
    p.add_argument("--json", action="store_true", help="one JSON object per input line")
    p.set_defaults(func=run_chat)

    p = sub.add_parser("content", help="check content or draw a flow")
    csub = p.add_subparsers(dest="content_command", required=True)
    c = csub.add_parser("check", help="validate a content folder")
    c.add_argument("dir", nargs="?")
    c.set_defaults(func=run_content_check)
    c = csub.add_parser("graph", help="print a flow as a Mermaid state diagram")
    c.add_argument("flow")
    c.add_argument("--dir")
    c.set_defaults(func=run_content_graph)

    p = sub.add_parser("db", help="database migrations")
    dsub = p.add_subparsers(dest="action", required=True)
    d = dsub.add_parser("upgrade", help="migrate to head (or REVISION)")
    d.add_argument("revision", nargs="?")
    d.set_defaults(func=run_db)
    d = dsub.add_parser("downgrade", help="migrate down to REVISION (default: one step)")
    d.add_argument("revision", nargs="?")
    d.set_defaults(func=run_db)

    p = sub.add_parser("users", help="export or delete one user's data (operators)")
    p.add_argument("action", choices=["export", "delete"])
    p.add_argument("platform")
    p.add_argument("user_id")
    p.set_defaults(func=run_users)

    p = sub.add_parser("inbox", help="the durable inbox of platform events")
    isub = p.add_subparsers(dest="action", required=True)
    i = isub.add_parser("retry", help="replay deliveries that ran out of time (dead)")
    i.add_argument("--since", type=_iso_moment, default=None,
                   help="only those that died at or after this ISO-8601 moment")
    i.set_defaults(func=run_inbox)

    p = sub.add_parser("line", help="LINE rich menus")
    lsub = p.add_subparsers(dest="line_command", required=True)
    lsub.add_parser("setup", help="create or update the rich menus on LINE (idempotent; safe in release)")
    r = lsub.add_parser("render-menu", help="draw the rich menu images from content/line/richmenu.yaml")
    r.add_argument("--font", help="a font file with Japanese glyphs (default: IPAex Gothic)")
    r.add_argument("--out", help="write the images to this folder instead of CONTENT_DIR/line")
    p.set_defaults(func=run_line)

    detect_command.register(sub)
    nudges_command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bot.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except ContentInvalid as exc:
        _print(f"bansou: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        _print(f"bansou: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `bansou content graph boundary | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
