"""Slack delivery: rate limits, pacing, no double posts, reminders through the same sender."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.delivery import Delivery, DeliveryError
from bot.store import repo
from bot.store.models import InboxEvent
from bot.types import Choice, Reply, UserKey
from handlers.slack import build_channel, build_sender
from handlers.slack.blocks import SlackMessage, render_replies
from handlers.slack.sender import ChannelPacer
from tests.fake_slack_api import BOT_TOKEN, TEAM, dm


async def _event(slack, event_id: str) -> InboxEvent:
    async with slack.runtime.db.session() as s:
        return (await s.execute(select(InboxEvent).where(InboxEvent.event_id == event_id))).scalar_one()


async def test_a_429_is_retried_after_the_seconds_slack_asked_for(slack, clock):
    slack.api.fail_next("chat.postMessage", status=429, body={"ok": False, "error": "ratelimited"},
                        headers={"Retry-After": "7"})
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-429")
    await slack.process()
    ev = await _event(slack, "Ev-429")
    assert ev.status == "sending" and ev.attempts == 1
    assert ev.next_attempt_at == clock.now + timedelta(seconds=7)
    await slack.process()  # not yet: Slack said 7 seconds
    assert len(slack.posts()) == 1

    clock.advance(seconds=7)
    await slack.process()
    assert (await _event(slack, "Ev-429")).status == "done"
    assert len(slack.posts()) == 2  # the refused try and the one that went through
    assert 7.0 in slack.waits  # and the channel itself was held for those seconds


async def test_messages_to_one_channel_are_paced_one_a_second():
    now = [0.0]
    waits = []

    async def sleep(s):
        waits.append(s)
        now[0] += s

    pacer = ChannelPacer(clock=lambda: now[0], sleep=sleep)
    await pacer.wait("D1")
    await pacer.wait("D2")  # another channel: no wait
    now[0] += 0.25
    await pacer.wait("D1")
    await pacer.wait("D1")
    assert waits == [0.75, 1.0]
    pacer.hold("D2", 5)
    await pacer.wait("D2")
    assert waits[-1] == 5


async def test_replies_and_reminders_share_the_pacer(slack):
    await slack.post_event(dm("UBEN", "hello", ts="1.0"), event_id="Ev-p1")
    await slack.process()
    reminder = Reply(text="A small nudge", message_id="nudge.x", choices=(Choice("Done", "nudge:12:done"),))
    await slack.runtime.senders["slack"].send(
        Delivery(user=UserKey("slack", f"{TEAM}:UBEN"), idempotency_key="rem-1"), [reminder])
    assert slack.waits == [1.0]
    assert [p.params["channel"] for p in slack.posts()] == ["DBEN", "DBEN"]


async def test_all_replies_of_one_event_go_out_as_one_message(slack):
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-one")
    await slack.process()
    [post] = slack.posts()
    sections = [b for b in post.params["blocks"] if b["type"] == "section"]
    assert len(sections) >= 2  # the welcome and the language question, in one message


async def test_a_retried_delivery_never_posts_a_part_twice(slack):
    sender = slack.sender
    messages = [SlackMessage(text="part one", blocks=[]), SlackMessage(text="part two", blocks=[])]
    await sender.post_messages(messages[:1], token=BOT_TOKEN, channel="DBEN", thread_ts=None, key="k-1")
    slack.api.fail_next("chat.postMessage", status=500, body={"ok": False, "error": "internal_error"})
    with pytest.raises(DeliveryError) as err:  # part one is already out; part two gets a 500
        await sender.post_messages(messages, token=BOT_TOKEN, channel="DBEN", thread_ts=None, key="k-1")
    assert err.value.retryable
    await sender.post_messages(messages, token=BOT_TOKEN, channel="DBEN", thread_ts=None, key="k-1")
    texts = [c.params["text"] for c in slack.posts()]
    assert texts == ["part one", "part two", "part two"]  # part one once; part two refused once, then sent


@pytest.mark.parametrize("status,error,retryable", [(200, "channel_not_found", False), (200, "invalid_auth", False),
                                                     (503, "service_unavailable", True), (200, "internal_error", True)])
async def test_slack_errors_say_whether_to_retry(slack, status, error, retryable):
    slack.api.fail_next("chat.postMessage", status=status, body={"ok": False, "error": error})
    with pytest.raises(DeliveryError) as err:
        await slack.sender.post_messages([SlackMessage(text="x", blocks=[])], token=BOT_TOKEN, channel="C1",
                                         thread_ts=None, key=f"k-{error}")
    assert err.value.retryable is retryable


async def test_a_failed_event_delivery_ends_as_failed_not_retried_forever(slack):
    slack.api.fail_next("chat.postMessage", body={"ok": False, "error": "channel_not_found"})
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-gone")
    await slack.process()
    assert (await _event(slack, "Ev-gone")).status == "failed"


async def test_a_reminder_opens_the_dm_and_carries_its_buttons(slack):
    rt = slack.runtime
    async with rt.db.session() as s:
        user, _ = await repo.get_or_create_user(s, UserKey("slack", f"{TEAM}:UAKI"), language="ja", timezone="Asia/Tokyo",
                                                now=rt.clock())
        user.platform_meta = {"team_id": TEAM}
        await s.commit()
    sender = rt.senders["slack"]
    assert sender.platform == "slack"
    nudge = Reply(text="今週、断れたことはありましたか？", message_id="nudge.choose_clients.1",
                  choices=(Choice("できた", "nudge:41:done"), Choice("あとで", "nudge:41:later")))
    await sender.send(Delivery(user=UserKey("slack", f"{TEAM}:UAKI"), idempotency_key="outbox-41"), [nudge])
    [opened] = slack.api.calls_to("conversations.open")
    assert opened.params["users"] == "UAKI"
    [post] = slack.posts()
    assert post.params["channel"] == "DAKI" and post.token == BOT_TOKEN
    assert [b["value"] for b in slack.buttons(post)] == ["nudge:41:done", "nudge:41:later"]
    await sender.send(Delivery(user=UserKey("slack", f"{TEAM}:UAKI"), idempotency_key="outbox-41"), [nudge])
    assert len(slack.posts()) == 1  # the same outbox row is never posted twice


def test_long_replies_are_split_inside_block_kit_limits():
    long = Reply(text="x" * 7000, message_id="m")
    many = [Reply(text=f"r{i}", message_id="m", choices=(Choice("a", "go:menu"),)) for i in range(30)]
    [one] = render_replies([long], texts=lambda m: m)
    assert all(len(b["text"]["text"]) <= 3000 for b in one.blocks)
    messages = render_replies(many, texts=lambda m: m)
    assert len(messages) == 2 and all(len(m.blocks) <= 50 for m in messages)
    ids = [el["action_id"] for m in messages for b in m.blocks if b["type"] == "actions" for el in b["elements"]]
    assert len(set(ids)) == len(ids)


def test_user_text_is_escaped_but_channel_links_are_kept():
    [msg] = render_replies([Reply(text="a <b> & <#C123> <!channel>", message_id="m")], texts=lambda m: m)
    assert msg.blocks[0]["text"]["text"] == "a &lt;b&gt; &amp; <#C123> &lt;!channel&gt;"


async def test_slack_is_off_without_credentials(runtime):
    assert build_channel(runtime) is None
    assert build_sender(runtime) is None
