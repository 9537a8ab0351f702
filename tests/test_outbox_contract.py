"""The delivery outbox's storage contract, run over SQLite and PostgreSQL in the same session:
claim, lease expiry, retry, failed, dead and replay, idempotency keys, the part ledger across a
restart, and concurrent claimers that never take the same row.

The PostgreSQL half needs ``BANSOU_TEST_PG_URL`` (``scripts/pg-test-server start``) and is skipped
without it.
"""
from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta

import pytest

from bot.delivery import DeliveryError
from bot.outbox import DatabasePartLedger, Outbox, Outgoing
from bot.store.db import Database
from bot.types import Reply, UserKey
from tests.conftest import PG_URL, _pg_drop, _pg_fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request, tmp_path, _sqlite_template_path):
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("BANSOU_TEST_PG_URL is not set")
        url = await _pg_fresh_database()
        yield url
        await _pg_drop(url)
    else:
        path = tmp_path / "outbox.db"
        shutil.copy(_sqlite_template_path, path)
        yield f"sqlite:///{path}"


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


def outgoing(n: int = 1, *, kind: str = "reply", user: str = "Ualice", **kw) -> list[Outgoing]:
    return [Outgoing(key=str(uuid.uuid4()), kind=kind, user=UserKey("line", user),
                     replies=[Reply(f"hello {i}", f"msg.{i}")], context={"to": user}, **kw) for i in range(n)]


async def test_a_claim_takes_what_is_due_once_and_a_key_is_stored_once(db, clock):
    box = Outbox(db, clock=clock, worker_id="a", lease=timedelta(hours=2))
    now_items = outgoing(3)
    later = outgoing(1, due_at=clock() + timedelta(hours=1))
    assert await box.put([*now_items, *later]) == 4
    assert await box.put(now_items[:1]) == 0  # the same key again: a no-op
    claimed = await box.claim(limit=10)
    assert sorted(c.key for c in claimed) == sorted(i.key for i in now_items)
    assert [r.text for r in claimed[0].replies] == ["hello 0"] and claimed[0].context == {"to": "Ualice"}
    assert claimed[0].user == UserKey("line", "Ualice")
    assert await Outbox(db, clock=clock, worker_id="b").claim(limit=10) == []  # leased to "a"
    assert await box.counts() == {"sending": 3, "pending": 1}
    clock.advance(hours=1)
    assert [c.key for c in await box.claim(limit=10)] == [later[0].key]


async def test_a_claim_whose_lease_ran_out_is_taken_again_with_the_same_key_and_the_old_claimer_is_fenced(db, clock):
    a = Outbox(db, clock=clock, worker_id="a", lease=timedelta(minutes=5))
    b = Outbox(db, clock=clock, worker_id="b", lease=timedelta(minutes=5))
    [item] = outgoing()
    await a.put([item])
    [held] = await a.claim()
    clock.advance(minutes=4)
    assert await b.claim() == []  # still a's
    clock.advance(minutes=2)  # a died (or stalled) past its lease
    [taken] = await b.claim()
    assert taken.key == held.key == item.key
    assert await a.sent(held) is False  # a's late answer cannot overwrite b's claim
    assert await a.failed(held, DeliveryError("x", retryable=False)) is None
    assert await b.sent(taken) is True
    assert await b.counts() == {"sent": 1}


async def test_a_retryable_failure_waits_for_the_backoff_or_retry_after_and_a_final_one_fails(db, clock):
    box = Outbox(db, clock=clock, worker_id="a")
    soon, refused = outgoing(2)
    await box.put([soon, refused])
    rows = {c.key: c for c in await box.claim()}
    assert await box.failed(rows[soon.key], DeliveryError("429", retryable=True, retry_after=30, status=429)) == "pending"
    assert await box.failed(rows[refused.key], DeliveryError("400", retryable=False, status=400)) == "failed"
    clock.advance(seconds=29)
    assert await box.claim() == []
    clock.advance(seconds=1)
    [again] = await box.claim()
    assert again.key == soon.key and again.attempts == 1
    assert await box.sent(again)
    assert await box.counts() == {"sent": 1, "failed": 1}


async def test_a_delivery_retried_past_the_horizon_is_dead_with_its_replies_and_replay_sends_it_with_the_same_key(db, clock):
    box = Outbox(db, clock=clock, worker_id="a", horizon=timedelta(hours=1))
    [item] = outgoing()
    put_at = clock()
    await box.put([item])
    died_at = None
    for _ in range(200):
        claimed = await box.claim()
        if not claimed:
            counts = await box.counts()
            if counts.get("dead"):
                break
            clock.advance(minutes=1)
            continue
        status = await box.failed(claimed[0], DeliveryError("LINE push 500", retryable=True, status=500))
        if status == "dead":
            died_at = clock()
            break
    assert died_at is not None and died_at >= put_at + timedelta(hours=1)  # retried for the whole horizon
    assert await box.counts() == {"dead": 1}
    clock.advance(days=1)
    assert await box.claim() == []  # dead stays dead
    assert await box.replay_dead(since=clock() + timedelta(minutes=1)) == 0  # died before ``since``
    assert await box.replay_dead(since=died_at) == 1
    [replayed] = await box.claim()
    assert replayed.key == item.key and [r.text for r in replayed.replies] == ["hello 0"]
    assert await box.sent(replayed)
    async with db.session() as s:
        from sqlalchemy import text

        payload = (await s.execute(text("SELECT payload FROM delivery_outbox"))).scalar_one()
    assert payload in ({}, "{}")  # sent: the words are gone


async def test_concurrent_claimers_never_take_the_same_row(db, clock):
    items = outgoing(120)
    await Outbox(db, clock=clock).put(items)
    claimers = [Outbox(db, clock=clock, worker_id=f"w{i}") for i in range(4)]

    async def drain(box: Outbox) -> list[str]:
        got = []
        while batch := await box.claim(limit=7):
            got += [c.key for c in batch]
            for c in batch:
                await box.sent(c)
        return got

    taken = await asyncio.gather(*(drain(b) for b in claimers))
    every = [k for keys in taken for k in keys]
    assert len(every) == len(set(every)) == 120
    assert set(every) == {i.key for i in items}


async def test_the_part_ledger_survives_a_restart(db_url, clock):
    first = Database(db_url)
    key = str(uuid.uuid4())
    ledger = DatabasePartLedger(first, clock=clock)
    await ledger.mark(key, 0, "C1:1.0")
    await ledger.mark(key, 2)
    await ledger.mark(key, 2)  # marking twice is harmless
    await first.dispose()
    again = Database(db_url)  # a new process on the same database
    try:
        restarted = DatabasePartLedger(again, clock=clock)
        assert await restarted.done(key) == {0, 2}
        assert await restarted.refs(key) == {0: "C1:1.0", 2: None}
        assert await restarted.done(str(uuid.uuid4())) == set()
    finally:
        await again.dispose()


async def test_a_line_send_cut_off_part_way_resumes_after_a_restart_without_repeating_a_part(db_url, clock, settings):
    """LINE's progress used to live in the client's memory: a restart sent the first requests again."""
    from handlers.line.api import LineApi
    from tests.fake_line_api import FakeLineApi, line_id, line_settings

    fake = FakeLineApi()
    user, key = line_id(), str(uuid.uuid4())
    messages = [{"type": "text", "text": f"part {i}"} for i in range(12)]  # three requests
    async with fake.serve():
        first = Database(db_url)
        api = LineApi(line_settings(settings, fake), ledger=DatabasePartLedger(first, clock=clock))
        token = fake.issue_reply_token(user)
        fake.fail("push", 500, times=1)  # the second request fails: the reply (first) went out
        with pytest.raises(DeliveryError):
            await api.send(to=user, messages=messages, retry_key=key, reply_token=token)
        await api.close()
        await first.dispose()
        second = Database(db_url)  # the process restarted
        try:
            api = LineApi(line_settings(settings, fake), ledger=DatabasePartLedger(second, clock=clock))
            await api.send(to=user, messages=messages, retry_key=key, reply_token=token)
            await api.close()
        finally:
            await second.dispose()
    assert [s.via for s in fake.sent_to(user)] == ["reply", "push", "push"]
    assert [t for s in fake.sent_to(user) for t in s.texts] == [m["text"] for m in messages]


async def test_deliver_due_sends_through_the_platform_sender_with_the_outbox_key(db, clock, settings):
    from handlers.line.api import LineApi, LineSender
    from tests.fake_line_api import FakeLineApi, line_id, line_settings

    fake = FakeLineApi()
    user = line_id()
    box = Outbox(db, clock=clock, worker_id="a")
    [item] = outgoing(user=user)
    await box.put([item])
    async with fake.serve():
        sender = LineSender(LineApi(line_settings(settings, fake), ledger=DatabasePartLedger(db, clock=clock)))
        fake.fail("push", 503, times=1)
        assert await box.deliver_due({"line": sender}) == {"pending": 1}
        assert await box.deliver_due({"line": sender}) == {}  # backing off
        clock.advance(seconds=2)
        assert await box.deliver_due({"line": sender}) == {"sent": 1}
        await sender.close()
    [push] = fake.sent_to(user)
    assert push.retry_key == item.key and push.texts == ["hello 0"]
    assert await box.counts() == {"sent": 1}
