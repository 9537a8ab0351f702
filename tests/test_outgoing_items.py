"""Typed outgoing items: a person's home (``HomeView``) travels through the core as data, not as a
stand-in message, survives the inbox's JSON, and only Slack shows it (as App Home); no platform
ever turns it into a message a person could read."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bot.delivery import outgoing_from_json, outgoing_to_json, replies_of, reply_to_json
from bot.inbox import Parcel
from bot.insights import WeekScores
from bot.types import CheckinCard, Choice, HomeView, ReminderStatus, Reply, Signal, TrendCard
from handlers.line.messages import to_line_messages
from handlers.slack.blocks import render_replies

ROOT = Path(__file__).resolve().parents[1]
TREND = (WeekScores(date(2026, 11, 23), 0, None, None, None),
         WeekScores(date(2026, 11, 30), 2, 3.5, 4.0, None))
PATTERNS = ((date(2026, 11, 30), (("overwork", 2), ("resentment", 1))),)


@pytest.mark.parametrize("reminders", [
    None,
    ReminderStatus(state="off"),
    ReminderStatus(state="paused", paused_until=date(2026, 12, 10)),
    ReminderStatus(state="on", preset_label="reminders.preset.weekday_morning"),
    ReminderStatus(state="on", days=("mon", "thu"), time_of_day="08:30"),
])
def test_a_home_view_round_trips_through_json(reminders):
    home = HomeView(language="ja", trend=TREND, patterns=PATTERNS, reminders=reminders)
    stored = json.loads(json.dumps(outgoing_to_json(home)))  # as the inbox row keeps it
    assert outgoing_from_json(stored) == home
    parcel = Parcel([home], context={"user": "UBEN"})
    again = Parcel.from_json(json.loads(json.dumps(parcel.to_json())))
    assert again.replies == [home] and again.context == {"user": "UBEN"}


@pytest.mark.parametrize("card", [
    CheckinCard(language="ja", scores=(("energy", 4), ("boundaries", None), ("client_respect", 5))),
    TrendCard(language="en", trend=TREND),
])
def test_a_card_round_trips_through_json(card):
    stored = json.loads(json.dumps(Parcel([Reply(text="saved", message_id="checkin.saved"), card]).to_json()))
    assert Parcel.from_json(stored).replies[1] == card


def test_line_encodes_a_card_as_the_flex_message_it_always_sent():
    from bot.content import load_content
    from handlers.line import flex

    content = load_content(ROOT / "content")

    def text(lang):
        return lambda mid, values=None: content.text(mid, lang, values)

    scores = (("energy", 4), ("boundaries", None), ("client_respect", 5))
    assert flex.card_message(CheckinCard(language="ja", scores=scores), text=text("ja")) == flex.checkin_summary(
        dict(scores), text=text("ja"))
    chart = flex.card_message(TrendCard(language="en", trend=TREND), text=text("en"))
    assert chart == flex.weekly_trend(TREND, text=text("en"), week_label=lambda d: text("en")(
        "line.trend.week", {"date": d.strftime("%b %-d")}))
    assert "Nov 23" in json.dumps(chart)
    # Only LINE draws cards: Slack's messages leave them out.
    assert render_replies([TrendCard(language="en", trend=TREND)], texts=lambda mid: mid) == []


def test_a_reply_keeps_its_stored_form_and_round_trips_beside_a_home_view():
    reply = Reply(text="hi", message_id="m.hi", choices=(Choice("Yes", "go:yes"),), style="noticed",
                  evidence=(Signal("overwork", "3am", 0, 3, 0.9),))
    assert outgoing_to_json(reply) == reply_to_json(reply)  # rows stored before typed items still read
    home = HomeView(language="en", trend=TREND)
    parcel = Parcel.from_json(json.loads(json.dumps(Parcel([reply, home]).to_json())))
    assert parcel.replies[1] == home
    assert parcel.replies[0].text == "hi" and parcel.replies[0].choices == reply.choices
    assert replies_of(parcel.replies) == [parcel.replies[0]]
    with pytest.raises(ValueError):
        outgoing_from_json({"kind": "postcard"})


def test_no_platform_renders_a_home_view_as_a_message():
    home = HomeView(language="en", trend=TREND, patterns=PATTERNS)
    items = [Reply(text="hello", message_id="m.hello"), home]
    [slack_message] = render_replies(items, texts=lambda mid: mid)
    assert slack_message.text == "hello"
    assert render_replies([home], texts=lambda mid: mid) == []
    assert to_line_messages(items) == [{"type": "text", "text": "hello"}]
    assert to_line_messages([home]) == []
    # A Flex card is still matched to its reply by the reply's place among all the items.
    card = {"type": "flex", "altText": "card", "contents": {}}
    assert to_line_messages([home, Reply(text="card", message_id="m.card")], {"1": card}) == [card]


def test_no_stand_in_app_home_text_is_left_in_the_code():
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            assert '"(App Home)"' not in path.read_text(encoding="utf-8"), path


class Recorder:
    """The Slack processor, with every parcel it is asked to deliver kept (after the inbox's JSON)."""

    def __init__(self, inner):
        self.inner = inner
        self.parcels: list[Parcel] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def deliver(self, delivery, parcel):
        self.parcels.append(parcel)
        await self.inner.deliver(delivery, parcel)


async def test_opening_app_home_delivers_a_home_view_and_posts_no_message(slack):
    recorder = Recorder(slack.worker.processors["slack"])
    slack.worker.processors["slack"] = recorder
    await slack.post_event({"type": "app_home_opened", "user": "UBEN", "channel": "DBEN", "tab": "home",
                            "event_ts": "1700000000.3"}, event_id="Ev-home-typed")
    await slack.process()
    [parcel] = recorder.parcels
    [home] = parcel.replies
    assert isinstance(home, HomeView) and home.language == "en" and len(home.trend) == 8
    assert len(slack.api.calls_to("views.publish")) == 1
    assert slack.posts() == []


async def test_a_home_parcel_stored_before_typed_items_publishes_its_view_and_posts_nothing(slack):
    from bot.delivery import Delivery
    from bot.types import UserKey
    from tests.fake_slack_api import TEAM

    view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "kept"}}]}
    legacy = Parcel.from_json({"replies": [{"text": "(App Home)", "message_id": "slack.home"}],
                               "context": {"team_id": TEAM, "op": "home", "user": "UBEN", "view": view}})
    await slack.worker.processors["slack"].deliver(
        Delivery(user=UserKey("slack", f"{TEAM}:UBEN"), idempotency_key="k-legacy"), legacy)
    [call] = slack.api.calls_to("views.publish")
    assert call.params["view"]["blocks"] == view["blocks"]
    assert slack.posts() == []
