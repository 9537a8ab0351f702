"""Issue 17 (6): /metrics behind a bearer token, crisis counts never shown without it, SDK loggers
that never log bodies or OAuth codes (checked with the root logger at DEBUG), and /readyz that
proves the database takes writes."""
from __future__ import annotations

import logging
import os
import re

import httpx
import pytest

from bot.runtime import build_runtime
from tests.conftest import BACKEND, settings_with
from tests.fake_slack_api import SlackHarness, dm, slack_settings
from tests.web_harness import BASE, Visitor, onboard

TOKEN = "scrape-me-7f3a"


async def _app_client(rt):
    from handlers.app import create_app

    app = create_app(rt, scheduler=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def _crisis_turn(http) -> None:
    v = Visitor(http)
    await onboard(v)
    out = await v.says("I want to die")
    assert any(r["style"] == "crisis" for r in out["replies"])


async def test_metrics_want_the_bearer_token_when_one_is_set(settings, clock):
    rt = await build_runtime(settings_with(settings, metrics_token=TOKEN), clock=clock, migrate=False)
    try:
        async with await _app_client(rt) as http:
            await _crisis_turn(http)
            assert (await http.get("/metrics")).status_code == 401
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
            assert (await http.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})).status_code == 401
            ok = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200
            assert re.search(r'bansou_detector_signals_total\{kind="crisis"\} [1-9]', ok.text)
    finally:
        await rt.close()


async def test_without_a_token_metrics_never_show_crisis_counts(runtime):
    """Before: /metrics was open and showed crisis counts live."""
    async with await _app_client(runtime) as http:
        await _crisis_turn(http)
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert "bansou_coach_turns_total" in r.text
    assert "crisis" not in r.text


async def test_sdk_loggers_never_log_bodies_or_oauth_codes_even_at_debug(settings, clock, slack_api, caplog):
    """Before: at DEBUG, slack_sdk logged every outgoing message body and the OAuth code."""
    import re as _re
    from urllib.parse import parse_qs, urlparse

    caplog.set_level(logging.DEBUG)
    secret_words = "the client who calls me every night at midnight"
    rt = await build_runtime(slack_settings(settings, slack_api, slack_bot_token=None, slack_client_id="1111.2222",
                                            slack_client_secret="oauth-secret"), clock=clock, migrate=False)
    harness = SlackHarness(rt, slack_api)
    try:
        page = await harness.http.get("/slack/install")
        url = _re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text).group(1)
        state = parse_qs(urlparse(url.replace("&amp;", "&")).query)["state"][0]
        code = "oauth-code-5b1e9d"
        done = await harness.http.get("/slack/oauth_redirect", params={"code": code, "state": state})
        assert done.status_code == 200
        await harness.post_event(dm("UBEN", secret_words), event_id="Ev-log", team_id="T0NEW")
        await harness.process()
        await harness.post_event(dm("UBEN", "my data", ts="2.0"), event_id="Ev-log2", team_id="T0NEW")
        await harness.process()
        assert harness.posts(), "nothing was sent: the test would prove nothing"
        export = [c for c in harness.posts() if "platform_user_id" in str(c.params)]
        assert export, "the export went out: its body is what must not be logged"
    finally:
        await harness.close()
        await rt.close()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    for secret in (secret_words, code, "xoxb-installed-token", "oauth-secret", "platform_user_id"):
        assert secret not in logged, secret


@pytest.mark.skipif(BACKEND != "sqlite", reason="a database file to delete")
async def test_readyz_is_503_once_the_sqlite_file_is_gone_and_healthz_keeps_its_contract(runtime):
    async with await _app_client(runtime) as http:
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        path = runtime.db.sqlite_path()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.unlink(f"{path}{suffix}")
        r = await http.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "database not writable"


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's read-only mode")
async def test_readyz_is_503_while_postgresql_is_read_only(settings, clock):
    import asyncpg

    url = settings.database_url
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + "/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        rt = await build_runtime(settings, clock=clock, migrate=False)
        try:
            async with await _app_client(rt) as http:
                assert (await http.get("/healthz")).status_code == 200  # it answers...
                assert (await http.get("/readyz")).status_code == 503  # ...but takes no writes
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
            await rt.db.engine.dispose()
            async with await _app_client(rt) as http:
                assert (await http.get("/readyz")).status_code == 200
        finally:
            await rt.close()
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await admin.close()

