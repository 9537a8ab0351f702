"""Issue 17 (1): two workspaces that share a user id are two people.

Slack only promises that (enterprise or team, user) is unique: Slack Connect and Enterprise Grid
share user ids. Both workspaces are installed through the SDK's installation store (in our
database), each with its own bot token; every request is signed as Slack signs it."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func, select

from bot.delivery import Delivery
from bot.runtime import build_runtime
from bot.store import repo
from bot.store.models import CheckIn, User
from bot.types import Reply, UserKey
from handlers.slack.pulse import PulseWeek, team_week_rows
from tests.fake_slack_api import SlackHarness, dm, slack_settings

CLIENT_ID = "1111.2222"
T1, T2 = "T0ONE", "T0TWO"
SHARED = "UBEN"  # the same user id in both workspaces
T1_WORDS = "the reflection only workspace one may read"


@pytest.fixture
async def two(settings, clock, slack_api):
    rt = await build_runtime(slack_settings(settings, slack_api, slack_bot_token=None, slack_client_id=CLIENT_ID,
                                            slack_client_secret="oauth-secret"), clock=clock, migrate=False)
    harness = SlackHarness(rt, slack_api)
    store = harness.sender.installation_store
    for team in (T1, T2):
        await store.async_save(Installation(
            app_id="A0001", enterprise_id=None, team_id=team, team_name=team, user_id="UINSTALLER",
            bot_token=f"xoxb-{team}", bot_id=f"B{team}", bot_user_id="UBOT", bot_scopes=["chat:write"],
            installed_at=datetime.now(timezone.utc).timestamp()))
    yield harness
    await harness.close()
    await rt.close()


def key(team: str) -> UserKey:
    return UserKey("slack", f"{team}:{SHARED}")


async def _seed_workspace_one(two) -> None:
    """T1's UBEN talked to us, consented to keeping words and checked in twice."""
    assert (await two.post_event(dm(SHARED, "hello", ts="1.0"), event_id="Ev-t1-hello", team_id=T1)).status_code == 200
    await two.process()
    now = two.runtime.clock()
    async with two.runtime.db.session() as s:
        user = await repo.get_user(s, key(T1))
        assert user is not None and user.platform_meta["team_id"] == T1
        user.consent_store_text = True
        for days, energy in ((1, 5), (2, 4)):
            s.add(CheckIn(user_id=user.id, at=now - timedelta(days=days), energy=energy, boundaries=5,
                          client_respect=5, reflection=T1_WORDS))
        await s.commit()


def _posts_with(two, token: str):
    return [p for p in two.posts() if p.token == token]


async def test_a_shared_user_id_in_two_workspaces_never_sees_changes_or_deletes_the_others_data(two):
    await _seed_workspace_one(two)

    # T2's UBEN asks for "their" data: the export goes to T2 with T2's token and holds nothing of T1's
    await two.post_event(dm(SHARED, "my data", ts="2.0"), event_id="Ev-t2-export", team_id=T2)
    await two.process()
    t2_posts = _posts_with(two, f"xoxb-{T2}")
    assert t2_posts, "T2's user got no answer"
    assert not any(T1_WORDS in json.dumps(p.params, ensure_ascii=False) for p in two.posts())

    # App Home in T2 shows no check-ins (T1's are not theirs); in T1 it shows T1's
    await two.post_event({"type": "app_home_opened", "user": SHARED, "tab": "home", "event_ts": "3.0"},
                         event_id="Ev-t2-home", team_id=T2)
    await two.post_event({"type": "app_home_opened", "user": SHARED, "tab": "home", "event_ts": "3.1"},
                         event_id="Ev-t1-home", team_id=T1)
    await two.process()
    views = {c.token: json.dumps(c.params["view"], ensure_ascii=False) for c in two.api.calls_to("views.publish")}
    assert "Energy" in views[f"xoxb-{T1}"] or "エネルギー" in views[f"xoxb-{T1}"]
    assert "Energy" not in views[f"xoxb-{T2}"] and "エネルギー" not in views[f"xoxb-{T2}"]

    # T1's user still belongs to T1: reminders and the pulse stay there
    async with two.runtime.db.session() as s:
        one = await repo.get_user(s, key(T1))
        other = await repo.get_user(s, key(T2))
        assert one.platform_meta["team_id"] == T1 and other.platform_meta["team_id"] == T2
        assert one.id != other.id
        now = two.runtime.clock()
        week = PulseWeek(start=now - timedelta(days=7), end=now, monday=now.date(), week_id="x")
        t1_checkins, _ = await team_week_rows(s, team_id=T1, week=week)
        t2_checkins, _ = await team_week_rows(s, team_id=T2, week=week)
    assert {c[0] for c in t1_checkins} == {one.platform_user_id} and t2_checkins == []
    await two.runtime.senders["slack"].send(Delivery(user=key(T1), idempotency_key="rem-t1"),
                                            [Reply(text="a gentle nudge", message_id="n")])
    assert two.posts()[-1].token == f"xoxb-{T1}" and two.posts()[-1].params["channel"] == "DBEN"

    # "delete my data" from T2, confirmed: T2's user goes, T1's rows all stay
    await two.post_event(dm(SHARED, "delete my data", ts="4.0"), event_id="Ev-t2-delete", team_id=T2)
    await two.process()
    await two.click(SHARED, "c:privacy:confirm_delete:confirm", team_id=T2, action_ts="4.5")
    await two.process()
    async with two.runtime.db.session() as s:
        assert await repo.get_user(s, key(T2)) is None
        one = await repo.get_user(s, key(T1))
        assert one is not None
        kept = (await s.execute(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == one.id))).scalar()
        reflections = (await s.execute(select(CheckIn.reflection).where(CheckIn.user_id == one.id))).scalars().all()
        slack_users = (await s.execute(select(func.count()).select_from(User).where(User.platform == "slack"))).scalar()
    assert kept == 2 and set(reflections) == {T1_WORDS}
    assert slack_users == 1


async def test_an_event_that_names_no_workspace_is_not_stored(two):
    body = {"token": "legacy", "api_app_id": "A0001", "event": dm(SHARED, "hello"), "type": "event_callback",
            "event_id": "Ev-noteam", "event_time": 1700000000}
    await two.post_json(body)
    await two.process()
    assert two.posts() == []
