"""Slack token rotation for scheduled work, and org-wide installs (Enterprise Grid): installed through
the real OAuth flow (Bolt, slack_sdk's SQLAlchemy stores in our database), then used for events,
reminders and team-level sends, with the real AsyncWebClient against the local Slack stand-in."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from bot.delivery import Delivery
from bot.runtime import build_runtime
from bot.store import repo
from bot.types import Reply, UserKey
from tests.fake_slack_api import SlackHarness, dm, event_body, slack_settings

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
    url = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text).group(1).replace("&amp;", "&")
    state = parse_qs(urlparse(url).query)["state"][0]
    done = await multi.http.get("/slack/oauth_redirect", params={"code": "the-code", "state": state})
    assert done.status_code == 200, done.text


async def _known_user(rt, user_id: str, meta: dict) -> None:
    async with rt.db.session() as session:
        tenant = meta.get("enterprise_id") or meta["team_id"]  # Slack users are (enterprise or team, user)
        user = await repo.create_user(session, UserKey("slack", f"{tenant}:{user_id}"), language="en", timezone="UTC",
                                      now=rt.clock())
        user.platform_meta = meta
        await session.commit()


async def _stored_bot_token(rt) -> tuple[str, str]:
    async with rt.db.engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT bot_token, bot_refresh_token FROM slack_bots"
                                          " ORDER BY id DESC LIMIT 1"))).one()
    return row[0], row[1]


ROTATING_INSTALL = {"app_id": "A0001", "authed_user": {"id": "UINSTALLER"}, "scope": "chat:write,commands",
                    "token_type": "bot", "access_token": "xoxe.xoxb-first", "refresh_token": "xoxe-1-first",
                    "expires_in": 600, "bot_user_id": "UBOT2", "team": {"id": "T0NEW", "name": "New Team"},
                    "enterprise": None, "is_enterprise_install": False}


async def test_a_reminder_refreshes_an_expiring_rotating_token_before_sending(multi):
    multi.api.install_answer = ROTATING_INSTALL  # the token expires in 10 minutes: inside the refresh window
    await _install(multi)
    await _known_user(multi.runtime, "UNEW", {"team_id": "T0NEW", "dm_channel": "DNEW"})
    sender = multi.runtime.senders["slack"]

    # A reminder: no request from Slack is being handled, so Bolt would not rotate; the sender does.
    await sender.send(Delivery(user=UserKey("slack", "T0NEW:UNEW"), idempotency_key="r-1"), [Reply(text="nudge", message_id="n")])
    [refresh] = [c for c in multi.api.calls_to("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"]
    assert refresh.params["refresh_token"] == "xoxe-1-first"
    [post] = multi.posts()
    assert post.token == "xoxe.xoxb-rotated-1"
    assert await _stored_bot_token(multi.runtime) == ("xoxe.xoxb-rotated-1", "xoxe-1-r1")

    # The new token is good for 12 hours: the next scheduled send uses it as it is.
    await sender.send(Delivery(user=UserKey("slack", "T0NEW:UNEW"), idempotency_key="r-2"), [Reply(text="again", message_id="n")])
    assert multi.api.rotations == 1
    assert multi.posts()[-1].token == "xoxe.xoxb-rotated-1"

    # An App Home refresh (after a check-in) goes through the same lookup.
    token = await sender.token_for(team_id="T0NEW")
    assert token == "xoxe.xoxb-rotated-1" and multi.api.rotations == 1


async def test_a_token_that_does_not_rotate_is_used_as_it_is(multi):
    await _install(multi)  # the plain install: no refresh token
    await _known_user(multi.runtime, "UNEW", {"team_id": "T0NEW", "dm_channel": "DNEW"})
    await multi.runtime.senders["slack"].send(Delivery(user=UserKey("slack", "T0NEW:UNEW"), idempotency_key="r-1"),
                                              [Reply(text="nudge", message_id="n")])
    assert multi.posts()[-1].token == "xoxb-installed-token"
    assert multi.api.rotations == 0


ORG_INSTALL = {"app_id": "A0001", "authed_user": {"id": "UINSTALLER"}, "scope": "chat:write,commands",
               "token_type": "bot", "access_token": "xoxb-org-token", "bot_user_id": "UBOTORG", "team": None,
               "enterprise": {"id": "E0ORG", "name": "Example Org"}, "is_enterprise_install": True}


def _org_event(event: dict, *, event_id: str, team_id: str) -> dict:
    body = event_body(event, event_id=event_id, team_id=team_id)
    body["enterprise_id"] = "E0ORG"
    body["authorizations"] = [{"enterprise_id": "E0ORG", "team_id": None, "user_id": "UBOTORG", "is_bot": True,
                               "is_enterprise_install": True}]
    return body


async def test_an_org_wide_install_is_stored_and_answers_every_workspace_of_the_org(multi):
    multi.api.install_answer = ORG_INSTALL
    await _install(multi)
    async with multi.runtime.db.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT enterprise_id, team_id, is_enterprise_install, bot_token "
                                           "FROM slack_installations"))).all()
    assert [tuple(r) for r in rows] == [("E0ORG", None, True, "xoxb-org-token")]

    # Two workspaces of the organisation; one installation serves both.
    for team, user in (("T0A", "UORGA"), ("T0B", "UORGB")):
        multi.api.users[user] = {"name": user.lower(), "tz": "UTC", "locale": "en-US", "is_admin": False}
        r = await multi.post_json(_org_event(dm(user, "hello"), event_id=f"Ev-{user}", team_id=team))
        assert r.status_code == 200
    await multi.process()
    posts = multi.posts()
    assert {p.params["channel"] for p in posts} == {"DORGA", "DORGB"}
    assert {p.token for p in posts} == {"xoxb-org-token"}

    # A reminder for one of them (no request in flight) resolves the same org-wide installation.
    await multi.runtime.senders["slack"].send(Delivery(user=UserKey("slack", "E0ORG:UORGA"), idempotency_key="r-org"),
                                              [Reply(text="nudge", message_id="n")])
    assert multi.posts()[-1].token == "xoxb-org-token"
    # Team-level work (the pulse) knows the team and organisation, not how the app was installed.
    assert await multi.runtime.senders["slack"].token_for(team_id="T0B", enterprise_id="E0ORG") == "xoxb-org-token"
    from bot.delivery import DeliveryError

    with pytest.raises(DeliveryError):
        await multi.runtime.senders["slack"].token_for(team_id="T0C", enterprise_id="E0OTHER")
