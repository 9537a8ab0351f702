"""PostgreSQL goes away for a few seconds under a live ``bansou serve`` and comes back.

The test runs its own PostgreSQL (port 54339, so stopping it touches nobody else's), a real
``bansou serve --no-scheduler`` on it with LINE pointed at a fake LINE API, and a sender that
posts signed LINE events all along. As LINE does, the sender redelivers every event that did not
get a 200 (same webhookEventId, ``isRedelivery: true``) until it does. While the database is down
the webhook answers 5xx and /healthz does not say 200; afterwards, with no restart of bansou, every
event is acknowledged and answered exactly once and /healthz is 200 again.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
import time

import httpx
import pytest
from sqlalchemy import func, select

from bot.inbox import idempotency_key
from bot.store.db import Database
from bot.store.models import InboxEvent
from tests.fake_line_api import callback_body, line_id, text_event, webhook_headers
from tests.procs import ROOT, ProcessGroup, child_env
from tests.reliability.fakes import FaultyLineApi

pytestmark = pytest.mark.postgres_only

PG_ENV = {"BANSOU_PG_DIR": "/tmp/bansou-pg-outage", "BANSOU_PG_PORT": "54339"}
SECRET = "outage-secret"
TOKEN = "outage-token"
USERS = 12
SEND_EVERY = 0.05  # seconds between new events (20 a second)
BEFORE, OUTAGE, AFTER = 1.5, 3.0, 1.5  # seconds of traffic before, during and after the outage


@contextlib.contextmanager
def instance_lock(timeout: float = 300.0):
    """Only one test session at a time may start and stop the outage instance (several sessions can
    run the suite on one machine at once); the others wait their turn."""
    with open(PG_ENV["BANSOU_PG_DIR"] + ".lock", "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip("another test session held the outage PostgreSQL for 5 minutes")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pg_server(action: str) -> str:
    """``scripts/pg-test-server ACTION`` for this test's own instance."""
    done = subprocess.run([str(ROOT / "scripts" / "pg-test-server"), action], env={**os.environ, **PG_ENV},
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"pg-test-server {action}: {done.stderr.strip()}")
    return done.stdout.strip()


async def fresh_database(server_url: str) -> str:
    import asyncpg

    from bot.store.migrate import upgrade

    base = server_url.rsplit("/", 1)[0]
    admin = await asyncpg.connect(base.replace("postgresql://", "postgres://") + "/postgres")
    try:
        await admin.execute('DROP DATABASE IF EXISTS "bansou_outage" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "bansou_outage"')
    finally:
        await admin.close()
    url = base + "/bansou_outage"
    await upgrade(url)
    return url


async def test_postgres_briefly_down_loses_nothing_and_bansou_recovers_without_a_restart(tmp_path):
    with instance_lock():
        await _outage(tmp_path)


async def _outage(tmp_path) -> None:
    try:
        server_url = await asyncio.to_thread(pg_server, "start")
    except (RuntimeError, FileNotFoundError) as exc:
        pytest.skip(f"no PostgreSQL of our own: {exc}")
    # LINE takes a moment to answer, so the stop is likely to land while a reply is in flight: LINE
    # accepts it, and bansou must record that without the database, or later send it again.
    fake = FaultyLineApi(token=TOKEN, latency=(0.05, 0.2))
    stop_fake = fake.start_thread()
    try:
        database_url = await fresh_database(server_url)
        env = child_env(DATABASE_URL=database_url, LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                        LINE_API_BASE_URL=fake.url, LOG_LEVEL="WARNING")
        with ProcessGroup(tmp_path) as group:
            server = group.server(env=env, name="serve", start=False)
            await server.start_ready()
            users = [line_id() for _ in range(USERS)]
            events: list[dict] = []
            acked: set[str] = set()
            statuses: list[tuple[str, int]] = []  # (phase, HTTP status or 0 for no answer)
            health: list[tuple[str, int]] = []
            phase = "before"
            to_redeliver: asyncio.Queue[dict] = asyncio.Queue()
            streaming = True

            async def post(client: httpx.AsyncClient, event: dict) -> None:
                body = callback_body(event)
                try:
                    r = await client.post(server.url + "/line/webhook", content=body,
                                          headers=webhook_headers(body, SECRET))
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                statuses.append((phase, status))
                if status == 200:
                    acked.add(event["webhookEventId"])
                else:
                    await to_redeliver.put({**event, "deliveryContext": {"isRedelivery": True}})

            async def stream(client: httpx.AsyncClient) -> None:
                n = 0
                while streaming:
                    user = users[n % USERS]
                    event = text_event(user, f"夜中まで返信していた {n}", reply_token=fake.issue_reply_token(user))
                    events.append(event)
                    n += 1
                    await post(client, event)
                    await asyncio.sleep(SEND_EVERY)

            async def redeliver(client: httpx.AsyncClient) -> None:
                """LINE retries a webhook that got no 200 a little later, until it gets one."""
                while streaming or not to_redeliver.empty():
                    try:
                        event = await asyncio.wait_for(to_redeliver.get(), 0.2)
                    except asyncio.TimeoutError:
                        continue
                    await asyncio.sleep(0.3)
                    await post(client, event)

            async def probe_health(client: httpx.AsyncClient) -> None:
                while streaming:
                    try:
                        status = (await client.get(server.url + "/healthz")).status_code
                    except httpx.HTTPError:
                        status = 0
                    health.append((phase, status))
                    await asyncio.sleep(0.25)

            async with httpx.AsyncClient(timeout=15) as client:
                tasks = [asyncio.create_task(c) for c in (stream(client), redeliver(client), probe_health(client))]
                try:
                    await asyncio.sleep(BEFORE)
                    phase = "outage"
                    await asyncio.to_thread(pg_server, "stop")
                    await asyncio.sleep(OUTAGE)
                    await asyncio.to_thread(pg_server, "start")
                    phase = "after"
                    await asyncio.sleep(AFTER)
                    streaming = False
                    await asyncio.wait_for(asyncio.gather(*tasks), 90)
                finally:
                    streaming = False
                    for t in tasks:
                        t.cancel()
                health_after = (await client.get(server.url + "/healthz")).status_code

            def answers(ev: dict) -> list:
                key = idempotency_key("line", ev["webhookEventId"])
                return [s for s in list(fake.sent) if (s.via == "reply" and s.token == ev["replyToken"])
                        or (s.via == "push" and s.retry_key == key)]

            try:
                await fake.wait_for(lambda: all(answers(ev) for ev in events), timeout=60)
            except AssertionError:
                pass  # reported below, event by event
            await asyncio.sleep(1.5)  # anything still in flight would show as a double
            assert server.alive() and server.starts == 1, "bansou recovered by itself:\n" + server.log()
            log = server.log(20000)

        db = Database(database_url)
        try:
            async with db.session() as s:
                inbox = dict((await s.execute(select(InboxEvent.status, func.count())
                                              .group_by(InboxEvent.status))).all())
        finally:
            await db.dispose()
    finally:
        stop_fake()
        await asyncio.to_thread(pg_server, "stop")

    refused = [st for ph, st in statuses if st != 200]
    assert refused and all(st >= 500 or st == 0 for st in refused), f"refusals: {refused}"
    assert any(ph == "outage" and st != 200 for ph, st in statuses), "the outage was seen by the webhook"
    assert any(ph == "outage" and st != 200 for ph, st in health), f"/healthz during the outage: {health}"
    assert health_after == 200
    assert len(acked) == len(events), "LINE's redelivery got every event a 200 in the end"
    lost = [ev["webhookEventId"] for ev in events if not answers(ev)]
    doubled = {ev["webhookEventId"]: [s.via for s in answers(ev)] for ev in events if len(answers(ev)) > 1}
    assert lost == [], f"{len(lost)} of {len(events)} unanswered; inbox {inbox}\n{log}"
    assert doubled == {}, f"answered twice: {doubled}"
    assert inbox == {"done": len(events)}, inbox
    print(f"\noutage: {len(events)} events, {len(refused)} refusals (5xx or no answer) redelivered; "
          f"all answered once; healthz during outage: {sorted({st for ph, st in health if ph == 'outage'})}; "
          f"{log.count('could not record it yet')} retries recording a delivered event")
