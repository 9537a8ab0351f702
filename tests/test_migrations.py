"""Alembic migrations: one linear chain, up and down cleanly, and the models agree with it.

Runs on the backend under test (SQLite, or the real PostgreSQL in the PostgreSQL pass), each
test on its own EMPTY database (not the migrated template the other tests use).
"""
from __future__ import annotations

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.store.all_models import metadata
from bot.store.db import make_engine
from bot.store.migrate import alembic_config, downgrade, upgrade
from tests.conftest import BACKEND, PG_URL, _pg_admin_url, _pg_drop


@pytest.fixture
async def empty_database_url(tmp_path):
    """A database with nothing in it on the backend under test."""
    if BACKEND == "postgres":
        if not PG_URL:
            pytest.skip("BANSOU_TEST_PG_URL is not set")
        import asyncpg

        name = "m_" + uuid.uuid4().hex[:16]
        conn = await asyncpg.connect(_pg_admin_url().replace("postgresql://", "postgres://"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = _pg_admin_url(name)
        yield url
        await _pg_drop(url)
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _differences(url: str) -> list:
    """What autogenerate would write if asked for a new migration now (empty when they agree)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def compare(sync_conn):
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True,
                                                                  "compare_server_default": False})
                return compare_metadata(ctx, metadata)
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


def test_the_chain_is_linear_from_0001_with_one_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"more than one head: {heads}"
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")][::-1]
    assert chain[:3] == ["0001", "0002", "0003"], chain
    for rev in script.walk_revisions("base", "heads"):
        assert rev.down_revision is None or isinstance(rev.down_revision, str), \
            f"{rev.revision} merges branches; keep the chain linear"


async def test_upgrade_downgrade_upgrade_leaves_the_same_schema(empty_database_url):
    url = empty_database_url
    await upgrade(url)
    first = await _tables(url)
    assert {"users", "conversations", "checkins", "signals", "stored_messages", "inbox_events"} <= first
    assert set(metadata.tables) <= first, f"tables with models but no migration: {set(metadata.tables) - first}"

    await downgrade(url, "base")
    assert await _tables(url) - {"alembic_version"} == set(), "downgrade to base left tables behind"

    await upgrade(url)
    assert await _tables(url) == first


async def test_the_models_and_the_migrations_agree(empty_database_url):
    await upgrade(empty_database_url)
    diffs = await _differences(empty_database_url)
    assert diffs == [], "models and migrations disagree; write a migration for:\n" + "\n".join(map(repr, diffs))


async def test_each_step_downgrades_cleanly(empty_database_url):
    """Walk down one revision at a time and back up, so every downgrade() is exercised alone."""
    url = empty_database_url
    script = ScriptDirectory.from_config(alembic_config(url))
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]  # head first
    await upgrade(url)
    for rev in revisions:
        await downgrade(url, "-1")
    assert await _tables(url) - {"alembic_version"} == set()
    await upgrade(url)
    assert await _differences(url) == []


def test_the_operator_cli_migrates_an_empty_database(empty_database_url, tmp_path):
    """``bansou db upgrade`` (the release phase) on an empty database, as a subprocess."""
    import subprocess
    import sys
    from pathlib import Path

    bansou = str(Path(sys.executable).with_name("bansou"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LINE_", "SLACK_"))}
    env["DATABASE_URL"] = empty_database_url
    done = subprocess.run([bansou, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "upgraded to head" in done.stdout
    # Running it again (every release does) is a no-op that still succeeds.
    again = subprocess.run([bansou, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr


async def test_0006_moves_slack_users_and_their_inbox_rows_to_their_workspace(empty_database_url):
    """Issue 17 (1): Slack rows keyed by user id alone become (enterprise or team, user)."""
    import json

    import sqlalchemy as sa

    url = empty_database_url
    await upgrade(url, "0005")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for uid, meta in (("UONE", {"team_id": "T1", "dm_channel": "DONE"}),
                              ("UGRID", {"team_id": "T2", "enterprise_id": "E9"}),
                              ("UNOTEAM", {})):
                await conn.execute(sa.text(
                    "INSERT INTO users (platform, platform_user_id, language, timezone, consent_store_text, active, "
                    "created_at, platform_meta) VALUES ('slack', :u, 'en', 'UTC', false, true, CURRENT_TIMESTAMP, :m)"),
                    {"u": uid, "m": json.dumps(meta)})
            await conn.execute(sa.text(
                "INSERT INTO users (platform, platform_user_id, language, timezone, consent_store_text, active, "
                "created_at, platform_meta) VALUES ('line', 'Uline', 'en', 'UTC', false, true, CURRENT_TIMESTAMP, '{}')"))
            await conn.execute(sa.text(
                "INSERT INTO inbox_events (platform, event_id, user_key, payload, status, attempts, received_at) "
                "VALUES ('slack', 'Ev1', 'slack:UONE', :p, 'pending', 0, CURRENT_TIMESTAMP)"),
                {"p": json.dumps({"type": "message", "user": "UONE", "team_id": "T1"})})
        await upgrade(url)
        async with engine.connect() as conn:
            users = dict((await conn.execute(sa.text(
                "SELECT platform_user_id, platform FROM users"))).all())
            keys = (await conn.execute(sa.text("SELECT user_key FROM inbox_events"))).scalars().all()
    finally:
        await engine.dispose()
    assert users == {"T1:UONE": "slack", "E9:UGRID": "slack", "UNOTEAM": "slack", "Uline": "line"}
    assert keys == ["slack:T1:UONE"]


async def test_0007_moves_slacks_posted_parts_into_the_shared_ledger_and_back(empty_database_url):
    """Issue 19: Slack's ledger rows survive the move to ``delivery_parts`` (and a downgrade)."""
    import sqlalchemy as sa

    url = empty_database_url
    await upgrade(url, "0006")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO slack_posted_parts (idempotency_key, part, channel, ts, posted_at) VALUES "
                "('k1', 0, 'C1', '1700000000.000100', CURRENT_TIMESTAMP), "
                "('k1', 1, 'C1', NULL, CURRENT_TIMESTAMP)"))
        await upgrade(url)
        assert "slack_posted_parts" not in await _tables(url)
        async with engine.connect() as conn:
            moved = (await conn.execute(sa.text("SELECT key, part, ref FROM delivery_parts ORDER BY part"))).all()
        assert [tuple(r) for r in moved] == [("k1", 0, "C1:1700000000.000100"), ("k1", 1, "C1:")]
        await downgrade(url, "0006")
        async with engine.connect() as conn:
            back = (await conn.execute(sa.text(
                "SELECT idempotency_key, part, channel, ts FROM slack_posted_parts ORDER BY part"))).all()
        assert [tuple(r) for r in back] == [("k1", 0, "C1", "1700000000.000100"), ("k1", 1, "C1", None)]
    finally:
        await engine.dispose()


async def test_0008_hands_reminders_the_old_dispatcher_had_claimed_to_the_delivery_outbox(empty_database_url):
    """Issue 19: a reminder claimed by the old dispatcher (``sending``, no delivery row) is pending
    again after the upgrade, so the new one sends it with the same key; a downgrade puts reminders
    waiting in the delivery outbox back in the old dispatcher's hands."""
    import sqlalchemy as sa

    url = empty_database_url
    await upgrade(url, "0007")
    engine = make_engine(url)
    row = ("INSERT INTO reminder_outbox (id, user_id, kind, slot_key, slot_at, due_at, status, attempts, created_at) "
           "VALUES (:id, :uid, 'nudge', :id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :status, 0, CURRENT_TIMESTAMP)")
    try:
        async with engine.begin() as conn:
            uid = (await conn.execute(sa.text(
                "INSERT INTO users (platform, platform_user_id, language, timezone, consent_store_text, active, platform_meta, "
                "created_at) VALUES ('line', 'U1', 'ja', 'Asia/Tokyo', false, true, '{}', CURRENT_TIMESTAMP) RETURNING id"))
            ).scalar_one()
            for rid, status in (("r-claimed", "sending"), ("r-sent", "sent"), ("r-pending", "pending")):
                await conn.execute(sa.text(row), {"id": rid, "uid": uid, "status": status})
        await upgrade(url)
        async with engine.connect() as conn:
            statuses = dict((await conn.execute(sa.text("SELECT id, status FROM reminder_outbox"))).all())
        assert statuses == {"r-claimed": "pending", "r-sent": "sent", "r-pending": "pending"}
        async with engine.begin() as conn:  # the new dispatcher hands one to the outbox; another ran out of time
            await conn.execute(sa.text("UPDATE reminder_outbox SET status = 'sending' WHERE id = 'r-claimed'"))
            await conn.execute(sa.text("UPDATE reminder_outbox SET status = 'dead' WHERE id = 'r-pending'"))
            await conn.execute(sa.text(
                "INSERT INTO delivery_outbox (key, kind, user_key, payload, status, attempts, due_at, retry_until, "
                "created_at) VALUES ('r-claimed', 'reminder', 'line:U1', '{}', 'pending', 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        await downgrade(url, "0007")
        async with engine.connect() as conn:
            statuses = dict((await conn.execute(sa.text("SELECT id, status FROM reminder_outbox"))).all())
            left = (await conn.execute(sa.text("SELECT count(*) FROM delivery_outbox"))).scalar_one()
        assert statuses == {"r-claimed": "pending", "r-sent": "sent", "r-pending": "failed"} and left == 0
    finally:
        await engine.dispose()
