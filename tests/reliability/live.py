"""A live stack for sync tests (hypothesis): a real ``bansou serve`` process with LINE, Slack and
the web chat on, its database on the backend under test, and fake LINE/Slack APIs in threads."""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tests.fake_line_api import FakeLineApi
from tests.reliability.fakes import FakeSlackAPI, start_in_thread
from tests.procs import Server, child_env

LINE_SECRET = "fuzz-line-secret"
LINE_TOKEN = "fuzz-line-token"
SLACK_SECRET = "fuzz-slack-signing-secret"
SLACK_TOKEN = "xoxb-fuzz-0000-token"


@dataclass
class LiveStack:
    url: str
    server: Server
    line: FakeLineApi
    slack: FakeSlackAPI
    database_url: str
    _stops: list[Callable[[], None]]

    def error_log_lines(self) -> list[dict[str, Any]]:
        """The server's error-level JSON log lines (log.exception and worse)."""
        out = []
        for line in self.server.log(10**8).splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("level") in ("error", "critical"):
                    out.append(record)
            elif line.startswith("Traceback"):
                out.append({"event": line})
        return out

    def close(self) -> None:
        self.server.stop()
        for stop in reversed(self._stops):
            stop()


async def fresh_database(workdir: Path) -> tuple[str, Callable[[], None]]:
    """A migrated database on the backend under test, and a function that drops it."""
    from tests import conftest

    if conftest.BACKEND == "postgres":
        url = await conftest._pg_fresh_database()  # noqa: SLF001 - the suite's own PG helper
        return url, lambda: asyncio.run(conftest._pg_drop(url))  # noqa: SLF001
    from bot.store.migrate import upgrade

    url = f"sqlite:///{workdir / 'live.db'}"
    await upgrade(url)
    return url, lambda: None


def start_live_stack(workdir: Path, *, line_validate=None, extra_env: dict[str, str] | None = None) -> LiveStack:
    database_url, drop = asyncio.run(fresh_database(workdir))
    stops: list[Callable[[], None]] = [drop]
    line = FakeLineApi(token=LINE_TOKEN, validate=line_validate)
    stops.append(line.start_thread())
    slack = FakeSlackAPI(bot_token=SLACK_TOKEN)
    stops.append(start_in_thread(slack))
    env = child_env(DATABASE_URL=database_url, LINE_CHANNEL_SECRET=LINE_SECRET, LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
                    LINE_API_BASE_URL=line.url, SLACK_SIGNING_SECRET=SLACK_SECRET, SLACK_BOT_TOKEN=SLACK_TOKEN,
                    SLACK_API_BASE_URL=slack.base_url + "/api/", LOG_LEVEL="WARNING", **(extra_env or {}))
    server = Server(env=env, workdir=workdir, name="serve-live")
    try:
        asyncio.run(server.start_ready())
    except Exception:
        for stop in reversed(stops):
            stop()
        raise
    return LiveStack(server.url, server, line, slack, database_url, stops)


def inbox_counts(database_url: str) -> dict[tuple[str, str], int]:
    """(status, error prefix) -> count of inbox rows, read straight from the database."""
    from sqlalchemy import func, select

    from bot.store.db import Database
    from bot.store.models import InboxEvent

    async def read():
        db = Database(database_url)
        try:
            async with db.session() as s:
                rows = await s.execute(select(InboxEvent.status, InboxEvent.error, func.count())
                                       .group_by(InboxEvent.status, InboxEvent.error))
                out: dict[tuple[str, str], int] = {}
                for status, error, n in rows:
                    key = (status, (error or "").split(":", 1)[0])
                    out[key] = out.get(key, 0) + n
                return out
        finally:
            await db.dispose()

    return asyncio.run(read())


def env_flag(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
