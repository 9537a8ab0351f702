"""Operations on a REAL ``bansou serve`` (a child process on 127.0.0.1) with LINE pointed at a fake
LINE API this test runs: graceful shutdown finishes work in flight; the logs say which channels are
on and never carry message text, tokens or secrets."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import httpx
from sqlalchemy import select

from bot.store.db import Database
from bot.store.models import InboxEvent
from tests.fake_line_api import FakeLineApi, callback_body, follow_event, line_id, text_event, webhook_headers
from tests.procs import ProcessGroup, child_env

CHANNEL_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRET_TOKEN = "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
DISTINCTIVE = "紫陽花の坂道で見積書を三回書き直した"


def line_env(database_url: str, line: FakeLineApi, **more: str) -> dict[str, str]:
    return child_env(DATABASE_URL=database_url, LINE_CHANNEL_SECRET=CHANNEL_SECRET,
                     LINE_CHANNEL_ACCESS_TOKEN=line.token, LINE_API_BASE_URL=line.url, **more)


async def post(http: httpx.AsyncClient, url: str, *events) -> None:
    body = callback_body(*events)
    headers = webhook_headers(body, CHANNEL_SECRET)
    r = await http.post(url + "/line/webhook", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def inbox_statuses(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        async with db.session() as s:
            return list((await s.execute(select(InboxEvent.status).order_by(InboxEvent.id))).scalars())
    finally:
        await db.dispose()


async def test_sigterm_lets_the_reply_in_flight_finish_before_exit(database_url, tmp_path):
    with FakeLineApi() as line, ProcessGroup(tmp_path) as group:
        server = group.server(env=line_env(database_url, line), name="web")
        await server.wait_ready()
        user = line_id()
        token = line.issue_reply_token(user)
        line.hold()  # the reply will reach LINE and wait there
        async with httpx.AsyncClient(timeout=10) as http:
            await post(http, server.url, text_event(user, "hello", reply_token=token))
        await line.wait_for(lambda: line.arrived_replies == 1, what="the reply to be in flight")

        server.signal(signal.SIGTERM)
        await asyncio.sleep(1.5)
        assert server.alive(), "the server left with a reply in flight:\n" + server.log()
        assert await inbox_statuses(database_url) == ["sending"]
        line.release()
        try:
            code = await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit after its work finished:\n" + server.log()) from None
        assert code in (0, -signal.SIGTERM), server.log()
        assert [d.token for d in line.sent] == [token], "the reply was delivered exactly once"
        assert await inbox_statuses(database_url) == ["done"]
        assert "Traceback" not in server.log()


async def test_logs_say_which_channels_are_on_and_hold_no_text_tokens_or_secrets(database_url, tmp_path):
    """At LOG_LEVEL=DEBUG, a conversation carrying a token and distinctive words through the LINE
    webhook, the inbox, the coach and the LINE SDK leaves none of them in the log."""
    with FakeLineApi() as line, ProcessGroup(tmp_path) as group:
        server = group.server(env=line_env(database_url, line, LOG_LEVEL="DEBUG"), name="web")
        await server.wait_ready()
        user = line_id()
        texts = [f"my api key is {SECRET_TOKEN}", f"I answered client emails until 2am again, {DISTINCTIVE}",
                 f"{DISTINCTIVE}、いつも深夜までクライアントの返信をしていて休めない"]
        async with httpx.AsyncClient(timeout=10) as http:
            await post(http, server.url, follow_event(user, reply_token=line.issue_reply_token(user)))
            for text in texts:
                await post(http, server.url, text_event(user, text, reply_token=line.issue_reply_token(user)))
            await line.wait_for(lambda: len(line.sent_to(user)) == 4, what="four answers")
            await http.get(server.url + "/metrics")
        assert server.stop() in (0, -signal.SIGTERM)
        log = server.log(tail=10**7)

    lines = [ln for ln in log.splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]
    assert any(r["event"] == "handled" for r in records), "the coach's turns should be in the log"
    assert [r["event"] for r in records if r["event"].startswith("LINE:")] == ["LINE: on"]
    slack = [r["event"] for r in records if r["event"].startswith("Slack:")]
    assert len(slack) == 1 and slack[0].startswith("Slack: off")
    assert [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("{", "===="))] == [], \
        "every log line is a JSON object"
    for needle in (SECRET_TOKEN, DISTINCTIVE, "紫陽花", "client emails", CHANNEL_SECRET, line.token, user):
        assert needle not in log, f"{needle!r} reached the log"
