"""Many concurrent conversations against a live ``bansou serve`` for a while: no error, nothing lost
or doubled, and the server's memory stays flat.

CI runs the short variant (50 conversations for 10 s); ``make soak`` runs 200 conversations for
60 s (BANSOU_SOAK_CONVERSATIONS, BANSOU_SOAK_SECONDS, BANSOU_SOAK_RSS_GROWTH_MB override).
Each conversation is a user who writes, waits for bansou's answer at the fake LINE API, and writes
again, as a person would.
"""
from __future__ import annotations

import asyncio
import itertools
import time

import httpx

from bot.inbox import idempotency_key
from tests.fake_line_api import FakeLineApi, callback_body, line_id, text_event, webhook_headers
from tests.reliability.live import env_flag
from tests.procs import Server, child_env

SECRET = "soak-secret"
TOKEN = "soak-token"
CONVERSATIONS = env_flag("BANSOU_SOAK_CONVERSATIONS", 50)
SECONDS = env_flag("BANSOU_SOAK_SECONDS", 10)
RSS_GROWTH_MB = env_flag("BANSOU_SOAK_RSS_GROWTH_MB", 40)
LINES = ["今週も夜中まで返信していました", "はい", "I keep saying yes to every client", "疲れた", "no",
         "断れなかった", "help", "Took the afternoon off for once"]


async def test_concurrent_conversations_for_a_while_lose_nothing_and_memory_stays_flat(database_url, tmp_path):
    fake = FakeLineApi(token=TOKEN)
    fake_stop = fake.start_thread()  # its own loop: answers stay prompt under load
    env = child_env(DATABASE_URL=database_url, LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                    LINE_API_BASE_URL=fake.url, LOG_LEVEL="ERROR")
    server = Server(env=env, workdir=tmp_path)
    try:
        await server.start_ready()
    except BaseException:
        fake_stop()
        raise
    sent: list[dict] = []
    problems: list[str] = []

    def answered(ev: dict) -> int:
        key = idempotency_key("line", ev["webhookEventId"])
        return sum(1 for s in list(fake.sent) if (s.via == "reply" and s.token == ev["replyToken"])
                   or (s.via == "push" and s.retry_key == key))

    async def conversation(client: httpx.AsyncClient, user: str, stop_at: float) -> None:
        for text in itertools.cycle(LINES):
            if time.monotonic() >= stop_at:
                return
            ev = text_event(user, text, reply_token=fake.issue_reply_token(user))
            body = callback_body(ev)
            try:
                r = await client.post(server.url + "/line/webhook", content=body, headers=webhook_headers(body, SECRET))
            except httpx.HTTPError as exc:
                problems.append(f"{type(exc).__name__}")
                return
            if r.status_code != 200:
                problems.append(f"HTTP {r.status_code}")
                return
            sent.append(ev)
            deadline = time.monotonic() + 60
            while not answered(ev):
                if time.monotonic() > deadline:
                    problems.append("no answer within 60 s")
                    return
                await asyncio.sleep(0.05)

    try:
        # uvicorn closes a connection idle for 5 s, httpx's default keep-alive is also 5 s: a request on a
        # connection the server is closing that instant fails with ReadError. Expire ours sooner.
        limits = httpx.Limits(max_connections=CONVERSATIONS + 10, max_keepalive_connections=CONVERSATIONS + 10,
                              keepalive_expiry=2.0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            users = [line_id() for _ in range(CONVERSATIONS)]
            warm_until = time.monotonic() + min(3.0, SECONDS / 3)
            await asyncio.gather(*(conversation(client, u, warm_until) for u in users))
            rss_start = server.rss_mb()
            samples = [rss_start]
            stop_at = time.monotonic() + SECONDS

            async def sample():
                while time.monotonic() < stop_at:
                    await asyncio.sleep(1.0)
                    samples.append(server.rss_mb())

            await asyncio.gather(sample(), *(conversation(client, u, stop_at) for u in users))
            rss_end = server.rss_mb()
        await asyncio.sleep(1.0)
    finally:
        server.stop()
        fake_stop()

    assert problems == [], problems[:10]
    counts = [answered(ev) for ev in sent]
    assert len(sent) >= CONVERSATIONS * 2
    assert counts.count(0) == 0 and max(counts) == 1, "every message answered exactly once"
    assert rss_end - rss_start < RSS_GROWTH_MB, f"RSS grew {rss_start:.0f} → {rss_end:.0f} MB: {samples}"
    print(f"\nsoak: {CONVERSATIONS} conversations × {SECONDS} s: {len(sent)} messages answered once; "
          f"RSS {rss_start:.0f} → {rss_end:.0f} MB (max {max(samples):.0f})")
