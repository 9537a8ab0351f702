"""Many workspaces: the OAuth install flow stores installations in OUR database (tables from
migration 0003), and each workspace's events are answered with its own bot token."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot.runtime import build_runtime
from tests.fake_slack_api import SlackHarness, dm, slack_settings

CLIENT_ID = "1111.2222"


@pytest.fixture
async def multi(settings, clock, slack_api):
    rt = await build_runtime(slack_settings(settings, slack_api, slack_bot_token=None, slack_client_id=CLIENT_ID,
                                            slack_client_secret="oauth-secret"), clock=clock, migrate=False)
    harness = SlackHarness(rt, slack_api)
    yield harness
    await harness.close()
    await rt.close()


async def _install(multi) -> None:
    page = await multi.http.get("/slack/install")
    assert page.status_code == 200
    url = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text).group(1).replace("&amp;", "&")
    query = parse_qs(urlparse(url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
    state = query["state"][0]
    assert multi.http.cookies.get("slack-app-oauth-state") == state
    done = await multi.http.get("/slack/oauth_redirect", params={"code": "the-code", "state": state})
    assert done.status_code == 200, done.text
    [access] = multi.api.calls_to("oauth.v2.access")
    assert access.params["code"] == "the-code"


async def test_install_redirect_and_callback_store_the_installation_in_our_database(multi):
    await _install(multi)
    async with multi.runtime.db.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT team_id, bot_token, bot_user_id, client_id FROM slack_installations"))).all()
        bots = (await conn.execute(sa.text("SELECT team_id, bot_token FROM slack_bots"))).all()
        states = (await conn.execute(sa.text("SELECT count(*) FROM slack_oauth_states"))).scalar()
    assert [tuple(r) for r in rows] == [("T0NEW", "xoxb-installed-token", "UBOT2", CLIENT_ID)]
    assert [tuple(b) for b in bots] == [("T0NEW", "xoxb-installed-token")]
    assert states == 0  # the state was used up


async def test_a_callback_with_a_forged_state_installs_nothing(multi):
    await multi.http.get("/slack/install")
    r = await multi.http.get("/slack/oauth_redirect", params={"code": "c", "state": "forged"})
    assert r.status_code >= 400
    assert multi.api.calls_to("oauth.v2.access") == []


async def test_each_workspace_is_answered_with_its_own_bot_token(multi):
    await _install(multi)
    r = await multi.post_event(dm("UNEW", "hello"), event_id="Ev-new", team_id="T0NEW")
    assert r.status_code == 200
    await multi.process()
    [post] = multi.posts()
    assert post.token == "xoxb-installed-token"
    # reminders for that user find the team's token through the installation store too
    from bot.delivery import Delivery
    from bot.types import Reply, UserKey

    await multi.runtime.senders["slack"].send(Delivery(user=UserKey("slack", "T0NEW:UNEW"), idempotency_key="r-1"),
                                              [Reply(text="nudge", message_id="n")])
    assert multi.posts()[-1].token == "xoxb-installed-token"


async def test_an_event_from_a_workspace_that_never_installed_is_not_stored(multi):
    r = await multi.post_event(dm("USTRANGER", "hello"), event_id="Ev-x", team_id="T0NOPE")
    assert r.status_code in (200, 401)
    await multi.process()
    assert multi.posts() == []


async def test_migration_0003_creates_the_sdk_tables_exactly_as_slack_sdk_declares_them(database_url):
    from bot.settings import async_database_url
    from sqlalchemy.ext.asyncio import create_async_engine

    md = sa.MetaData()
    expected = [SQLAlchemyInstallationStore.build_installations_table(md, "slack_installations"),
                SQLAlchemyInstallationStore.build_bots_table(md, "slack_bots"),
                SQLAlchemyOAuthStateStore.build_oauth_states_table(md, "slack_oauth_states")]
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as conn:
            for table in expected:
                cols = await conn.run_sync(lambda c, name=table.name: sa.inspect(c).get_columns(name))
                got = {c["name"]: (c["type"].__class__.__name__.lower(), c["nullable"]) for c in cols}
                assert set(got) == {c.name for c in table.columns}, table.name
                for col in table.columns:
                    kind = got[col.name][0]
                    want = col.type.__class__.__name__.lower()
                    assert want[:4] in kind or (want == "datetime" and "timestamp" in kind) or \
                        (want == "string" and "varchar" in kind) or (want == "boolean" and kind in ("boolean", "bool")), \
                        (table.name, col.name, kind, want)
                    if not col.primary_key:
                        assert got[col.name][1] == col.nullable, (table.name, col.name)
    finally:
        await engine.dispose()
