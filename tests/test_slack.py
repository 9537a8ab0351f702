"""Slack: signed requests in, the coach, Block Kit replies out through the real AsyncWebClient.

Each test drives bansou's Slack channel with requests signed exactly as Slack signs them, runs the
durable inbox, and reads what reached the local stand-in for the Slack Web API.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import select

from bot.store import repo
from bot.store.models import InboxEvent
from bot.types import UserKey
from tests.fake_slack_api import SIGNING_SECRET, TEAM, SlackHarness, dm


# -- request verification ----------------------------------------------------------------------

async def test_url_verification_answers_the_challenge(slack):
    r = await slack.post_json({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                               "type": "url_verification"})
    assert r.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in r.text


async def test_forged_signature_is_refused_and_nothing_is_stored(slack):
    r = await slack.post_event(dm("UAKI", "hello"), event_id="Ev-forged", secret="not-the-signing-secret")
    assert r.status_code == 401
    assert await _stored(slack) == []


async def test_replayed_request_older_than_five_minutes_is_refused(slack):
    r = await slack.post_event(dm("UAKI", "hello"), event_id="Ev-old", timestamp=int(time.time()) - 6 * 60)
    assert r.status_code == 401
    r = await slack.slash("UAKI", "", timestamp=int(time.time()) - 6 * 60)
    assert r.status_code == 401
    r = await slack.click("UAKI", "cmd:menu", timestamp=int(time.time()) - 6 * 60)
    assert r.status_code == 401
    assert await _stored(slack) == []


async def test_unsigned_request_is_refused(slack):
    r = await slack.http.post("/slack/events", content=json.dumps({"type": "event_callback"}),
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 401


async def test_numbers_json_does_not_have_are_refused_and_nothing_is_stored(slack):
    """NaN and Infinity: Python reads them, PostgreSQL's json type (where events are stored) does not."""
    for value in (float("nan"), float("inf")):
        event = dict(dm("UAKI", "hello"), client_msg_number=value)
        assert (await slack.post_event(event, event_id=f"Ev-{value}")).status_code == 400
        payload = json.dumps({"type": "block_actions", "user": {"id": "UAKI"}, "score": value,
                              "actions": [{"action_id": "choice", "value": "cmd:menu"}]})
        assert (await slack.post_form({"payload": payload})).status_code == 400
    assert await _stored(slack) == []


async def test_a_number_too_large_for_a_double_is_refused_and_nothing_is_stored(slack):
    """Issue 17: ``1e400`` read as infinity, was stored as ``Infinity`` and PostgreSQL refused it."""
    from tests.fake_slack_api import event_body, signed_headers

    raw = json.dumps(event_body(dm("UAKI", "hello"), event_id="Ev-big")).replace('"event_time"', '"n": 1e400, "event_time"', 1)
    assert "1e400" in raw
    r = await slack.http.post("/slack/events", content=raw,
                              headers=signed_headers(SIGNING_SECRET, raw, content_type="application/json"))
    assert r.status_code == 400
    assert await _stored(slack) == []


async def test_a_click_whose_ids_are_not_strings_is_refused_before_it_is_stored(slack):
    """Found by the fuzzer: a team id that was a list got past the check, was stored, and failed in
    processing (an unhashable cache key) after Slack had its 200."""
    base = {"type": "block_actions", "user": {"id": "UAKI"}, "actions": [{"action_id": "bansou.choice.0",
                                                                          "value": "cmd:menu"}]}
    for field, value, expected in [("team", {"id": ["T1"]}, "payload.team.id"),
                                   ("enterprise", {"id": {"E": 1}}, "payload.enterprise.id"),
                                   ("container", {"type": "message", "thread_ts": 1.5}, "payload.container.thread_ts"),
                                   ("message", {"thread_ts": ["1"]}, "payload.message.thread_ts")]:
        r = await slack.post_form({"payload": json.dumps(dict(base, **{field: value}))})
        assert r.status_code == 400 and expected in r.text, (field, r.status_code, r.text)
    assert await _stored(slack) == []


# -- direct messages -----------------------------------------------------------------------------

async def test_a_direct_message_is_answered_in_the_dm(slack):
    r = await slack.post_event(dm("UBEN", "hello"), event_id="Ev-1")
    assert r.status_code == 200
    assert [e.event_id for e in await _stored(slack)] == ["Ev-1"]  # stored before the ack
    await slack.process()
    [post] = slack.posts()
    assert post.params["channel"] == "DBEN"
    assert post.token.startswith("xoxb-")
    assert "thread_ts" not in post.params
    # a newcomer gets onboarding, in English because Ben's Slack locale is en-GB
    assert "bansou" in slack.texts(post)
    assert post.params["text"]  # the notification text is always there
    labels = [b["text"]["text"] for b in slack.buttons(post)]
    assert "日本語" in labels or "English" in labels


async def test_first_contact_takes_timezone_language_and_team_from_users_info_once(slack):
    await slack.post_event(dm("UAKI", "こんにちは", ts="1.1"), event_id="Ev-a1")
    await slack.process()
    await slack.post_event(dm("UAKI", "メニュー", ts="1.2"), event_id="Ev-a2")
    await slack.process()
    async with slack.runtime.db.session() as s:
        user = await repo.get_user(s, UserKey("slack", f"{TEAM}:UAKI"))
    assert user.timezone == "Asia/Tokyo" and user.language == "ja"
    assert user.platform_meta["team_id"] == TEAM
    assert user.platform_meta["dm_channel"] == "DAKI"
    assert len(slack.api.calls_to("users.info")) == 1
    assert slack.api.calls_to("users.info")[0].params.get("include_locale") in ("true", "1", True)

    await slack.post_event(dm("UBEN", "hi"), event_id="Ev-b1")
    await slack.process()
    async with slack.runtime.db.session() as s:
        ben = await repo.get_user(s, UserKey("slack", f"{TEAM}:UBEN"))
    assert ben.timezone == "Europe/London" and ben.language == "en"


async def test_a_retried_event_is_answered_once(slack):
    event = dm("UBEN", "hello")
    assert (await slack.post_event(event, event_id="Ev-r")).status_code == 200
    await slack.process()
    for n in (1, 2, 3):
        r = await slack.post_event(event, event_id="Ev-r", retry_num=n)
        assert r.status_code == 200
    await slack.process()
    assert len(slack.posts()) == 1


async def test_bots_edits_deletions_and_our_own_messages_get_no_answer(slack):
    await slack.post_event(dm("UBEN", "hello", bot_id="BOTHER"), event_id="Ev-bot")
    await slack.post_event({**dm("UBEN", "hello"), "subtype": "bot_message"}, event_id="Ev-botmsg")
    await slack.post_event({"type": "message", "subtype": "message_changed", "channel": "DBEN", "channel_type": "im",
                            "hidden": True, "ts": "2.0",
                            "message": {"type": "message", "user": "UBEN", "text": "edited", "ts": "1.0"}},
                           event_id="Ev-edit")
    await slack.post_event({"type": "message", "subtype": "message_deleted", "channel": "DBEN",
                            "channel_type": "im", "hidden": True, "ts": "3.0", "deleted_ts": "1.0"},
                           event_id="Ev-del")
    await slack.post_event(dm("UBOT", "I am bansou", bot_id="BBOT"), event_id="Ev-self")
    await slack.process()
    assert slack.posts() == []
    assert await _stored(slack) == []


# -- buttons ------------------------------------------------------------------------------------------

async def test_buttons_carry_engine_values_and_a_click_moves_the_flow(slack):
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-1")
    await slack.process()
    buttons = slack.buttons(slack.posts()[-1])
    assert len({b["action_id"] for b in buttons}) == len(buttons)  # action ids unique in a message
    english = next(b for b in buttons if b["text"]["text"] == "English")
    assert english["value"].startswith("c:onboarding:language:")

    r = await slack.click("UBEN", english["value"], action_id=english["action_id"])
    assert r.status_code == 200
    await slack.process()
    async with slack.runtime.db.session() as s:
        convo = await repo.load_convo(s, (await repo.get_user(s, UserKey("slack", f"{TEAM}:UBEN"))).id)
    assert convo.label == "onboarding:consent"
    last = slack.posts()[-1]
    assert last.params["channel"] == "DBEN"
    assert all(b["value"].startswith("c:onboarding:consent:") for b in slack.buttons(last))


async def test_a_double_click_is_handled_once(slack):
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-1")
    await slack.process()
    english = next(b for b in slack.buttons(slack.posts()[-1]) if b["text"]["text"] == "English")
    for _ in range(2):  # Slack redelivers the same action_ts when our ack is slow
        await slack.click("UBEN", english["value"], action_id=english["action_id"], action_ts="1700000100.000200")
    await slack.process()
    assert len(slack.posts()) == 2


# -- /coach ------------------------------------------------------------------------------------------------

async def test_coach_acks_at_once_and_the_menu_arrives_in_the_dm(slack):
    r = await slack.slash("UBEN", "", channel_id="C0GENERAL", trigger_id="111.222")
    assert r.status_code == 200
    # typed in a channel: a private note says where the answer is; nothing is said in the channel
    body = r.json()
    assert body["response_type"] == "ephemeral" and body["text"]
    assert slack.posts() == []  # the work happens after the ack
    await slack.process()
    [post] = slack.posts()
    assert slack.api.calls_to("conversations.open")[0].params["users"] == "UBEN"
    assert post.params["channel"] == "DBEN"
    values = [b["value"] for b in slack.buttons(post)]
    assert "c:menu:choose:checkin" in values


async def test_coach_in_our_dm_acks_with_an_empty_body(slack):
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-1")
    await slack.process()
    r = await slack.slash("UBEN", "help", channel_id="DBEN", trigger_id="333.444")
    assert r.status_code == 200 and r.text == ""
    await slack.process()
    assert "menu" in slack.texts(slack.posts()[-1]).lower()


async def test_coach_checkin_opens_the_modal_and_coach_settings_goes_straight_to_settings(slack):
    await slack.slash("UBEN", "checkin", trigger_id="555.1")
    await slack.process()
    [opened] = slack.api.calls_to("views.open")  # the check-in modal (tests/test_slack_modal.py)
    assert opened.params["trigger_id"] == "555.1" and slack.posts() == []
    await slack.slash("UBEN", "settings", trigger_id="555.2")
    await slack.process()
    assert any(v.startswith("c:settings:choose:") for v in (b["value"] for b in slack.buttons(slack.posts()[-1])))


async def test_a_whole_check_in_by_buttons_saves_scores_and_refreshes_app_home(slack):
    async with slack.runtime.db.session() as s:  # someone who has met the bot (a newcomer is onboarded first)
        await repo.get_or_create_user(s, UserKey("slack", f"{TEAM}:UBEN"), language="en", timezone="Asia/Tokyo",
                                      now=slack.runtime.clock())
        await s.commit()
    await slack.post_event(dm("UBEN", "check-in"), event_id="Ev-ci")  # the check-in in the DM, by buttons
    await slack.process()
    for i, value in enumerate(["c:checkin:energy:4", "c:checkin:boundaries:2", "c:checkin:client_respect:3",
                               "c:checkin:reflection:skip", "c:checkin:question:done"]):
        assert value in [b["value"] for b in slack.buttons(slack.posts()[-1])]
        await slack.click("UBEN", value, action_ts=f"1700000200.{i:06d}")
        await slack.process()
    async with slack.runtime.db.session() as s:
        user = await repo.get_user(s, UserKey("slack", f"{TEAM}:UBEN"))
        [checkin] = await repo.checkins_since(s, user.id, slack.runtime.clock().replace(year=2000))
    assert (checkin.energy, checkin.boundaries, checkin.client_respect) == (4, 2, 3)
    [home] = slack.api.calls_to("views.publish")
    assert home.params["user_id"] == "UBEN"
    assert "Energy" in json.dumps(home.params["view"], ensure_ascii=False)


# -- mentions, crisis ------------------------------------------------------------------------------------

async def test_a_mention_in_a_channel_is_answered_in_the_dm_with_only_a_pointer_in_its_thread(slack):
    async with slack.runtime.db.session() as s:  # someone who has met the bot (a newcomer is onboarded first)
        await repo.get_or_create_user(s, UserKey("slack", f"{TEAM}:UBEN"), language="en", timezone="Asia/Tokyo",
                                      now=slack.runtime.clock())
        await s.commit()
    event = {"type": "app_mention", "user": "UBEN", "text": "<@UBOT> menu", "ts": "1700000500.000100",
             "channel": "C0TEAM", "event_ts": "1700000500.000100"}
    await slack.post_event(event, event_id="Ev-m1")
    await slack.process()
    pointer, answer = slack.posts()
    assert pointer.params["channel"] == "C0TEAM"
    assert pointer.params["thread_ts"] == "1700000500.000100"
    assert slack.buttons(pointer) == []
    assert answer.params["channel"] == "DBEN" and "thread_ts" not in answer.params
    assert "c:menu:choose:checkin" in [b["value"] for b in slack.buttons(answer)]
    # a click on a button of an old message in a channel answers in the DM too
    await slack.click("UBEN", "c:menu:choose:checkin", channel="C0TEAM", message_ts="1700000500.000100",
                      thread_ts="1700000500.000100")
    await slack.process()
    assert {p.params["channel"] for p in slack.posts()[2:]} == {"DBEN"}


async def test_my_data_asked_for_in_a_channel_goes_to_the_dm_and_the_channel_sees_only_a_pointer(slack):
    """Issue 17 (5): "@bansou my data" in a channel posted the export in that channel's thread."""
    await slack.post_event(dm("UBEN", "hello", ts="1.0"), event_id="Ev-1")
    await slack.process()
    before = len(slack.posts())
    event = {"type": "app_mention", "user": "UBEN", "text": "<@UBOT> my data", "ts": "1700000600.000100",
             "channel": "C0TEAM", "event_ts": "1700000600.000100"}
    await slack.post_event(event, event_id="Ev-m2")
    await slack.process()
    new = slack.posts()[before:]
    in_channel = [p for p in new if p.params["channel"] == "C0TEAM"]
    in_dm = [p for p in new if p.params["channel"] == "DBEN"]
    assert len(in_channel) == 1, [p.params["channel"] for p in new]
    pointer_text = slack.texts(in_channel[0])
    assert pointer_text.strip() and '"platform_user_id"' not in pointer_text and len(pointer_text) < 200
    assert any('"platform_user_id"' in slack.texts(p) or "UBEN" in slack.texts(p) for p in in_dm)


async def test_a_crisis_reply_is_shown_prominently(slack):
    await slack.post_event(dm("UBEN", "hello", ts="1.0"), event_id="Ev-1")
    await slack.process()
    await slack.post_event(dm("UBEN", "I want to die", ts="2.0"), event_id="Ev-2")
    await slack.process()
    post = slack.posts()[-1]
    blocks = post.params["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Your safety comes first"
    assert blocks[1]["type"] == "section" and len(blocks[1]["text"]["text"]) > 20


async def _stored(slack: SlackHarness) -> list[InboxEvent]:
    async with slack.runtime.db.session() as s:
        return list((await s.execute(select(InboxEvent).where(InboxEvent.platform == "slack"))).scalars())


def test_the_manifest_matches_what_the_code_listens_to():
    from pathlib import Path

    import yaml

    from handlers.slack.app import BOT_SCOPES

    manifest = yaml.safe_load((Path(__file__).resolve().parent.parent / "slack-manifest.yml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert {"message.im", "app_mention", "app_home_opened"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/coach"
    urls = {command["url"], manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"]}
    assert {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in urls} == {"slack/events"}
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")


def test_coach_command_text_is_read_the_way_slack_sends_it():
    from handlers.slack.app import parse_coach_command

    flows, commands = {"checkin", "settings", "menu"}, {"help", "menu", "stop_reminders", "resume"}

    def read(t):
        return parse_coach_command(t, flows=flows, commands=commands)

    assert read("").command == "menu"
    assert read("checkin").command == "checkin" and read("check-in").command == "checkin"
    assert read("Settings").command == "settings" and read("help").command == "help"
    assert read("stop").command == "stop_reminders"
    assert read("team-pulse <#C024BE7LR|consulting-team>").pulse_channel == "C024BE7LR"
    assert read("team-pulse <#C024BE7LR>").pulse_channel == "C024BE7LR"
    assert read("team-pulse off").pulse_off
    assert read("team-pulse").kind == "team_pulse" and read("team-pulse").pulse_channel is None
    said = read("I answered clients until 2am again")
    assert said.kind == "text" and said.text == "I answered clients until 2am again"


async def test_an_unknown_coach_word_is_read_as_what_the_user_wrote(slack):
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-1")
    await slack.process()
    await slack.slash("UBEN", "I want to die", trigger_id="777.1")
    await slack.process()
    assert slack.posts()[-1].params["blocks"][0]["type"] == "header"  # the crisis answer
