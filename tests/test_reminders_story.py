"""Reminders as people live them: on a real database (SQLite or PostgreSQL), with a fake clock
and a recording sender (our own Sender interface, not an SDK).

Times: the clock starts Monday 2026-01-05 00:00 UTC, which is 09:00 in Tokyo.
"""
from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bot.delivery import Delivery, DeliveryError
from bot.reminders.dispatch import Dispatcher
from bot.reminders.models import NudgeHistory, ReminderOutbox, ReminderPrefs
from bot.store.outbox_models import OutboxDelivery
from bot.store import repo
from bot.store.models import SignalRecord
from bot.types import Inbound, Reply, UserKey

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class Sent:
    delivery: Delivery
    reply: Reply
    at: datetime


class RecordingSender:
    """Records what would go out; ``fail_next`` scripts DeliveryErrors."""

    def __init__(self, clock, platform: str = "line"):
        self.platform = platform
        self.clock = clock
        self.sent: list[Sent] = []
        self.attempts: list[str] = []
        self.failures: deque[DeliveryError] = deque()

    def fail_next(self, error: DeliveryError, times: int = 1) -> None:
        self.failures.extend([error] * times)

    async def send(self, delivery: Delivery, replies) -> None:
        self.attempts.append(delivery.idempotency_key)
        if self.failures:
            raise self.failures.popleft()
        for r in replies:
            self.sent.append(Sent(delivery, r, self.clock()))

    def to(self, user_id: str) -> list[Sent]:
        return [s for s in self.sent if s.delivery.user.user_id == user_id]


class World:
    """A runtime, its dispatcher and a recording sender; ``restart()`` is a new process on the same DB."""

    def __init__(self, runtime, clock, sender):
        self.runtime, self.clock, self.sender = runtime, clock, sender
        self.dispatcher = Dispatcher(runtime, rng=random.Random(5))

    async def restart(self) -> None:
        from bot.runtime import build_runtime

        settings = self.runtime.settings
        await self.runtime.close()
        self.runtime = await build_runtime(settings, clock=self.clock, migrate=False)
        self.runtime.senders[self.sender.platform] = self.sender
        self.dispatcher = Dispatcher(self.runtime, rng=random.Random(6))

    async def say(self, key: UserKey, words: str):
        return await self.runtime.coach.handle(Inbound(user=key, kind="text", text=words, received_at=self.clock()))

    async def tap(self, key: UserKey, value: str):
        return await self.runtime.coach.handle(Inbound(user=key, kind="choice", choice=value, received_at=self.clock()))

    async def event(self, key: UserKey, kind: str):
        return await self.runtime.coach.handle(Inbound(user=key, kind=kind, received_at=self.clock()))

    async def meet(self, key: UserKey, *, lang: str = "en", tz: str | None = None) -> None:
        """Follow, pick a language and what is kept, skip the reminder preset, leave the menu."""
        await self.event(key, "follow")
        await self.tap(key, f"c:onboarding:language:{lang}")
        await self.tap(key, "c:onboarding:consent:scores_only")
        await self.tap(key, "c:onboarding:reminders:none")
        await self.say(key, "cancel")
        if tz:
            async with self.runtime.db.session() as s:
                (await repo.get_user(s, key)).timezone = tz
                await s.commit()

    async def run(self, *, until: datetime, step: timedelta = timedelta(minutes=30)) -> None:
        """Let time pass, with a dispatch pass at every step (a worker ticking)."""
        while self.clock.now + step <= until:
            self.clock.advance(seconds=step.total_seconds())
            await self.dispatcher.run_pass()

    async def rows(self, key: UserKey | None = None) -> list[ReminderOutbox]:
        async with self.runtime.db.session() as s:
            q = select(ReminderOutbox).order_by(ReminderOutbox.slot_at)
            if key is not None:
                q = q.where(ReminderOutbox.user_id == (await repo.get_user(s, key)).id)
            return list((await s.execute(q)).scalars())


@pytest.fixture
async def world(runtime, clock):
    sender = RecordingSender(clock)
    runtime.senders["line"] = sender
    w = World(runtime, clock, sender)
    yield w
    if w.runtime is not runtime:
        await w.runtime.close()


def local(sent: list[Sent], tz=TOKYO) -> list[str]:
    return [s.at.astimezone(tz).strftime("%a %m-%d %H:%M") for s in sent]


# ------------------------------------------------------------------------------ stories


async def test_weekdays_at_eight_across_a_restart_never_twice(world, clock):
    aiko = UserKey("line", "U-aiko")
    await world.meet(aiko, lang="ja")
    # Aiko writes her own schedule in plain Japanese.
    out = await world.say(aiko, "平日の8時にリマインド")
    assert "平日の8:00" in out.replies[-1].text

    answered: set[str] = set()
    for day in range(12):
        if day == 4:
            await world.restart()  # the worker process is replaced mid-week
        await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
        for s in world.sender.to("U-aiko"):  # she taps "できた" on each one, a little later
            if s.delivery.idempotency_key not in answered:
                answered.add(s.delivery.idempotency_key)
                await world.tap(aiko, s.reply.choices[0].value)

    sent = world.sender.to("U-aiko")
    assert local(sent) == [f"{d} 08:00" for d in (
        "Tue 01-06", "Wed 01-07", "Thu 01-08", "Fri 01-09", "Mon 01-12", "Tue 01-13", "Wed 01-14", "Thu 01-15",
        "Fri 01-16")]
    keys = [s.delivery.idempotency_key for s in sent]
    assert len(set(keys)) == len(keys) and all(uuid.UUID(k) for k in keys)
    # Each reminder is a nudge in Japanese with three one-tap answers naming its own outbox row.
    first = sent[0]
    done = "考えてみた" if first.reply.text.rstrip().endswith(("?", "？")) else "できた"  # the answer fits the nudge
    assert [c.label for c in first.reply.choices] == [done, "今はいい", "話したい"]
    assert first.reply.choices[0].value == f"nudge:{keys[0]}:done"
    assert first.reply.choices[2].value.startswith(f"nudge:{keys[0]}:talk:")
    assert len({s.reply.message_id for s in sent}) == len(sent)  # no nudge repeated
    async with world.runtime.db.session() as s:
        assert len((await s.execute(select(NudgeHistory))).scalars().all()) == len(sent)


async def test_ignored_three_times_the_question_comes_once(world, clock):
    ken = UserKey("line", "U-ken")
    await world.meet(ken, lang="en")
    await world.say(ken, "every day at 9am")
    await world.run(until=clock.now + timedelta(days=10), step=timedelta(hours=1))

    sent = world.sender.to("U-ken")
    kinds = [s.reply.message_id.split(".")[0] for s in sent]
    # Three nudges unanswered, then the question (instead of the 4th), then every other day.
    assert kinds[:4] == ["nudge", "nudge", "nudge", "reminders"]
    assert kinds.count("reminders") == 1
    assert local(sent)[3:] == ["Fri 01-09 09:00", "Sun 01-11 09:00", "Tue 01-13 09:00", "Thu 01-15 09:00"]
    question = sent[3].reply
    assert [(c.label, c.value) for c in question.choices] == [
        ("Keep them", "go:reminder_checkin"), ("Change", "go:settings"), ("Stop them", "cmd:stop_reminders")]
    skipped = [r for r in await world.rows(ken) if r.status == "skipped"]
    assert {r.reason for r in skipped} == {"backoff: every other slot"}
    # The reminder after the question keeps its answers at hand (LINE shows buttons on the latest message only).
    after = [c.value for c in sent[4].reply.choices]
    assert after[-3:] == ["go:reminder_checkin", "go:settings", "cmd:stop_reminders"]
    assert after[0].startswith("nudge:")

    # Ken taps "Keep them": daily again.
    out = await world.tap(ken, "go:reminder_checkin")
    assert "keep them coming" in out.replies[0].text
    clock.advance(hours=2)  # out of the hour after his message
    before = len(world.sender.to("U-ken"))
    await world.run(until=clock.now + timedelta(days=3), step=timedelta(hours=1))
    assert len(world.sender.to("U-ken")) - before == 3


async def test_a_tap_or_any_message_resets_the_count(world, clock):
    mei = UserKey("line", "U-mei")
    await world.meet(mei)
    await world.say(mei, "every day at 9am")
    for day in range(6):
        await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
        last = world.sender.to("U-mei")[-1]
        if day % 2 == 0:
            await world.tap(mei, last.reply.choices[0].value)  # "Done"
        else:
            await world.say(mei, "thanks")
    assert all(s.reply.message_id.startswith("nudge.") for s in world.sender.to("U-mei"))
    answered = [r for r in await world.rows(mei) if r.answer == "done"]
    assert len(answered) == 3


async def test_never_mid_conversation_nor_within_an_hour_of_a_message(world, clock):
    mika = UserKey("line", "U-mika")
    await world.meet(mika)
    await world.say(mika, "every day at 8pm")
    # Monday 19:50 Tokyo: Mika starts a check-in.
    await world.run(until=datetime(2026, 1, 5, 10, 50, tzinfo=timezone.utc), step=timedelta(minutes=10))
    await world.say(mika, "check-in")
    await world.run(until=datetime(2026, 1, 5, 11, 20, tzinfo=timezone.utc), step=timedelta(minutes=10))
    assert world.sender.to("U-mika") == []  # 20:00 came and went mid-conversation
    await world.say(mika, "cancel")  # 20:20
    await world.run(until=datetime(2026, 1, 5, 13, 0, tzinfo=timezone.utc), step=timedelta(minutes=10))
    assert local(world.sender.to("U-mika")) == ["Mon 01-05 21:20"]  # an hour after her last message
    [row] = [r for r in await world.rows(mika) if r.status == "sent"]
    assert row.slot_at.astimezone(TOKYO).strftime("%H:%M") == "20:00"


async def test_postponed_into_the_night_waits_for_morning(world, clock):
    nao = UserKey("line", "U-nao")
    await world.meet(nao)
    await world.say(nao, "every day at 9:30pm")
    # 21:10 Tokyo: Nao writes; the 21:30 reminder waits an hour, into quiet hours, so until 07:00.
    clock.now = datetime(2026, 1, 5, 12, 10, tzinfo=timezone.utc)
    await world.say(nao, "I'm tired tonight")
    await world.say(nao, "cancel")
    await world.run(until=datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc), step=timedelta(minutes=10))
    assert local(world.sender.to("U-nao")) == ["Tue 01-06 07:00"]


async def test_a_time_chosen_at_night_is_kept(world, clock):
    yui = UserKey("line", "U-yui")
    await world.meet(yui)
    await world.say(yui, "every day at 11pm")
    await world.run(until=clock.now + timedelta(days=2), step=timedelta(minutes=30))
    assert local(world.sender.to("U-yui")) == ["Mon 01-05 23:00", "Tue 01-06 23:00"]


async def test_pause_for_a_week(world, clock):
    rin = UserKey("line", "U-rin")
    await world.meet(rin, lang="ja")
    await world.say(rin, "毎朝8時にリマインド")
    out = await world.say(rin, "1週間お休み")
    assert "7日間" in out.replies[-1].text
    await world.run(until=clock.now + timedelta(days=9), step=timedelta(hours=1))
    # The pause ends Monday 09:00, so Monday 08:00 is still paused.
    assert local(world.sender.to("U-rin")) == ["Tue 01-13 08:00", "Wed 01-14 08:00"]


async def test_crisis_pauses_everything_until_resume(world, clock):
    sora = UserKey("line", "U-sora")
    await world.meet(sora)
    await world.say(sora, "every day at 9am")
    await world.tap(sora, "go:rest")  # a flow that may schedule a follow-up
    async with world.runtime.db.session() as s:  # a follow-up is waiting for tomorrow
        user = await repo.get_user(s, sora)
        await world.runtime.reminders.on_followup(s, user, _followup(clock.now + timedelta(days=1)), clock.now)
        await s.commit()
    await world.say(sora, "cancel")
    out = await world.say(sora, "I want to die")
    assert out.replies[0].style == "crisis"
    await world.run(until=clock.now + timedelta(days=3), step=timedelta(hours=1))
    assert world.sender.to("U-sora") == []
    assert {r.reason for r in await world.rows(sora)} == {"crisis pause"}

    # "resume" in crisis care asks how they are first: nothing comes back yet.
    out = await world.say(sora, "resume")
    assert out.state == "crisis_care:leaving" and [r.message_id for r in out.replies] == ["crisis.leave.how"]
    await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
    assert world.sender.to("U-sora") == []
    await world.say(sora, "I'm ok now")
    out = await world.tap(sora, "c:crisis_care:back:reminders")
    assert out.state == "idle"
    left_at = clock.now
    await world.run(until=clock.now + timedelta(days=2, hours=2), step=timedelta(hours=1))
    sent = world.sender.to("U-sora")
    # The first message after crisis care is the soft check-in, the next day; then the 9:00 reminders.
    assert sent[0].reply.message_id == "crisis.followup"
    assert timedelta(hours=20) <= sent[0].at - left_at <= timedelta(hours=26)
    assert [c.value for c in sent[0].reply.choices] == ["crisis:talk", "crisis:fine"]
    assert all(s.reply.message_id.startswith("nudge.") for s in sent[1:]) and len(sent) >= 2
    assert all(s.at > sent[0].at for s in sent[1:])


@pytest.mark.parametrize("how, expected", [("checkin_only", ["crisis.followup"]), ("quiet", [])])
async def test_leaving_crisis_care_without_reminders(world, clock, how, expected):
    """With their yes, one gentle check-in the next day and nothing more; or nothing at all."""
    mio = UserKey("line", f"U-mio-{how}")
    await world.meet(mio, lang="ja")
    await world.say(mio, "毎朝9時にリマインド")
    await world.say(mio, "もう死にたい")
    out = await world.say(mio, "ごめん、大丈夫。ちょっと疲れてただけ")
    assert [r.message_id for r in out.replies] == ["crisis.care.no_apology", "crisis.leave.how"]
    await world.tap(mio, "c:crisis_care:leaving:calmer")
    out = await world.tap(mio, f"c:crisis_care:back:{how}")
    assert out.state == "idle"
    async with world.runtime.db.session() as s:
        assert (await repo.get_user(s, mio)).crisis_paused_at is None
    await world.run(until=clock.now + timedelta(days=6), step=timedelta(hours=1))
    assert [x.reply.message_id for x in world.sender.to(mio.user_id)] == expected
    if expected:  # the check-in's answer is care, never a coaching menu
        out = await world.tap(mio, "crisis:talk")
        assert out.state == "crisis_care:listening"
        assert not any(c.value.startswith(("go:", "c:menu")) for r in out.replies for c in r.choices)


def _followup(due_at):
    from bot.engine import Effect

    return Effect("schedule_followup", {"due_at": due_at, "message_id": "rest.followup", "flow": "rest", "values": {}})


async def test_unfollow_stops_every_reminder(world, clock):
    taro = UserKey("line", "U-taro")
    await world.meet(taro)
    await world.say(taro, "every day at 9am")
    await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
    assert len(world.sender.to("U-taro")) == 1
    async with world.runtime.db.session() as s:
        user = await repo.get_user(s, taro)
        await world.runtime.reminders.on_followup(s, user, _followup(clock.now + timedelta(days=1)), clock.now)
        await s.commit()
    await world.event(taro, "unfollow")
    await world.run(until=clock.now + timedelta(days=5), step=timedelta(hours=1))
    assert len(world.sender.to("U-taro")) == 1
    assert [r.reason for r in await world.rows(taro) if r.status == "skipped"] == ["unfollowed"]


async def test_follow_up_in_the_users_language_with_the_same_buttons(world, clock):
    hana = UserKey("line", "U-hana")
    await world.meet(hana, lang="ja")
    await world.tap(hana, "go:boundary")
    async with world.runtime.db.session() as s:
        user = await repo.get_user(s, hana)
        from bot.engine import Effect

        await world.runtime.reminders.on_followup(s, user, Effect("schedule_followup", {
            "due_at": clock.now + timedelta(days=2), "message_id": "boundary.followup", "flow": "boundary",
            "values": {"topic": "週末の対応"}}), clock.now)
        await s.commit()
    await world.say(hana, "cancel")
    await world.run(until=clock.now + timedelta(days=2, hours=1), step=timedelta(minutes=30))
    [sent] = world.sender.to("U-hana")
    assert "「週末の対応」" in sent.reply.text
    key = sent.delivery.idempotency_key
    assert [c.value for c in sent.reply.choices] == [f"nudge:{key}:done", f"nudge:{key}:later",
                                                     f"nudge:{key}:talk:boundary"]
    out = await world.tap(hana, f"nudge:{key}:talk:boundary")
    assert out.state.startswith("boundary:")
    [row] = [r for r in await world.rows(hana) if r.id == key]
    assert row.answer == "talk" and row.values is None  # what it was filled with is gone once sent


async def test_a_restart_sends_what_fell_due_within_the_grace_window_and_records_the_rest(world, clock):
    goro = UserKey("line", "U-goro")
    await world.meet(goro)
    await world.say(goro, "every day at 8am")
    # The worker is down from Monday 10:00 to Tuesday 12:00 (4 hours after the 8:00 slot).
    clock.now = datetime(2026, 1, 6, 3, 0, tzinfo=timezone.utc)
    await world.restart()
    await world.dispatcher.run_pass()
    assert local(world.sender.to("U-goro")) == ["Tue 01-06 12:00"]
    # Down again until Wednesday 15:00 (7 hours late: too late, it is recorded as skipped).
    clock.now = datetime(2026, 1, 7, 6, 0, tzinfo=timezone.utc)
    await world.restart()
    result = await world.dispatcher.run_pass()
    assert (result.sent, result.skipped) == (0, 1)
    assert [(r.status, r.reason) for r in await world.rows(goro)][-1] == ("skipped", "missed: worker was not running")
    await world.run(until=datetime(2026, 1, 8, 0, 0, tzinfo=timezone.utc), step=timedelta(hours=1))
    assert local(world.sender.to("U-goro")) == ["Tue 01-06 12:00", "Thu 01-08 08:00"]


async def test_retries_with_backoff_then_sent_once_with_one_key(world, clock):
    iku = UserKey("line", "U-iku")
    await world.meet(iku)
    await world.say(iku, "every day at 9am")
    world.sender.fail_next(DeliveryError("LINE 500", retryable=True, status=500))
    world.sender.fail_next(DeliveryError("LINE 429", retryable=True, retry_after=120, status=429))
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    r1 = await world.dispatcher.run_pass()
    assert (r1.sent, r1.retrying) == (0, 1)
    [row] = [r for r in await world.rows(iku) if r.kind == "nudge"]
    assert row.due_at == clock.now + timedelta(seconds=1)  # first retry: 1 s
    clock.advance(seconds=1)
    r2 = await world.dispatcher.run_pass()
    assert r2.retrying == 1
    [row] = [r for r in await world.rows(iku) if r.kind == "nudge"]
    assert row.due_at == clock.now + timedelta(seconds=120)  # the platform's Retry-After
    clock.advance(seconds=60)
    assert (await world.dispatcher.run_pass()).sent == 0  # not yet
    clock.advance(seconds=60)
    assert (await world.dispatcher.run_pass()).sent == 1
    assert len(set(world.sender.attempts)) == 1 and len(world.sender.attempts) == 3
    [row] = [r for r in await world.rows(iku) if r.kind == "nudge"]
    assert (row.status, row.attempts) == ("sent", 3)


async def test_stopping_reminders_withdraws_one_waiting_in_the_outbox_for_a_retry(world, clock):
    kei = UserKey("line", "U-kei")
    await world.meet(kei)
    await world.say(kei, "every day at 9am")
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    world.sender.fail_next(DeliveryError("LINE 500", retryable=True, status=500))
    assert (await world.dispatcher.run_pass()).retrying == 1
    await world.tap(kei, "cmd:stop_reminders")
    clock.advance(minutes=5)
    assert (await world.dispatcher.run_pass()).sent == 0
    assert world.sender.to("U-kei") == [] and len(world.sender.attempts) == 1
    [row] = [r for r in await world.rows(kei) if r.kind == "nudge"]
    assert (row.status, row.reason) == ("skipped", "reminders off")
    async with world.runtime.db.session() as s:
        delivery = (await s.execute(select(OutboxDelivery).where(OutboxDelivery.key == row.id))).scalar_one()
    assert (delivery.status, delivery.error, delivery.payload) == ("failed", "withdrawn: reminders off", {})


async def test_final_failures_are_recorded(world, clock):
    jun = UserKey("line", "U-jun")
    ema = UserKey("line", "U-ema")
    for k in (jun, ema):
        await world.meet(k)
        await world.say(k, "every day at 9am")
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    world.sender.fail_next(DeliveryError("LINE 400: bad request", retryable=False, status=400))
    world.sender.fail_next(DeliveryError("LINE 503", retryable=True, status=503), times=1000)
    # The shared retry policy (bot/retry.py): a final error is final at once; a retryable one is
    # tried again with a growing backoff for as long as the reminder may still be sent (the grace
    # window after it was handed to the outbox), then it is dead, kept for `bansou inbox retry`.
    grace = timedelta(hours=world.runtime.settings.reminder_grace_hours)
    start = clock.now
    while clock.now <= start + grace + timedelta(minutes=30):
        await world.dispatcher.run_pass()
        clock.advance(minutes=5)
    rows = sorted((r for r in await world.rows() if r.kind == "nudge"), key=lambda r: r.status)
    assert [r.status for r in rows] == ["dead", "failed"]
    assert rows[1].attempts == 1 and rows[0].attempts > 5
    assert {r.reason for r in rows} == {"400 LINE 400: bad request", "503 LINE 503"}
    assert len(set(world.sender.attempts)) == 2 and len(world.sender.attempts) == 1 + rows[0].attempts
    async with world.runtime.db.session() as s:
        dead = (await s.execute(select(OutboxDelivery).where(OutboxDelivery.key == rows[0].id))).scalar_one()
    assert dead.status == "dead" and dead.error.startswith("out of time")


async def test_a_platform_without_a_sender_is_skipped_with_a_reason(world, clock):
    me = UserKey("cli", "me")
    await world.meet(me)
    await world.say(me, "every day at 9am")
    await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
    [row] = [r for r in await world.rows(me) if r.kind == "nudge"]
    assert (row.status, row.reason) == ("skipped", "no sender for platform 'cli'")


async def test_recent_patterns_tilt_what_is_sent(world, clock):
    ryo = UserKey("line", "U-ryo")
    await world.meet(ryo)
    await world.say(ryo, "every day at 9am")
    async with world.runtime.db.session() as s:
        user = await repo.get_user(s, ryo)
        s.add(SignalRecord(user_id=user.id, at=clock.now, kind="controlling", score=0.9, evidence=None))
        await s.commit()
    await world.run(until=clock.now + timedelta(days=10), step=timedelta(hours=2))
    content = world.runtime.content
    nudges = [content.nudges[s.reply.message_id.removeprefix("nudge.")] for s in world.sender.to("U-ryo")
              if s.reply.message_id.startswith("nudge.")]
    # Only nudges until the backoff question; with the signal, most carry "controlling".
    assert len(nudges) >= 3
    tagged = sum("controlling" in n.signals for n in nudges)
    base = sum("controlling" in n.signals for n in content.nudges.values()) / len(content.nudges)
    assert tagged / len(nudges) > base


async def test_delete_my_data_removes_every_reminder_row(world, clock):
    aoi = UserKey("line", "U-aoi")
    await world.meet(aoi)
    await world.say(aoi, "every day at 9am")
    await world.run(until=clock.now + timedelta(days=2), step=timedelta(hours=1))
    await world.say(aoi, "delete my data")
    await world.tap(aoi, "c:privacy:confirm_delete:confirm")
    async with world.runtime.db.session() as s:
        for model in (ReminderPrefs, ReminderOutbox, NudgeHistory):
            assert (await s.execute(select(model))).scalars().all() == [], model.__tablename__


async def test_new_york_nine_oclock_through_the_spring_change(world, clock):
    ann = UserKey("line", "U-ann")
    clock.now = datetime(2026, 3, 5, 15, 0, tzinfo=timezone.utc)
    await world.meet(ann, tz="America/New_York")
    await world.say(ann, "every day at 9am")
    for _ in range(6):  # Ann answers each day, so nothing backs off
        await world.run(until=clock.now + timedelta(days=1), step=timedelta(hours=1))
        await world.tap(ann, world.sender.to("U-ann")[-1].reply.choices[0].value)
    assert local(world.sender.to("U-ann"), NEW_YORK) == [
        "Fri 03-06 09:00", "Sat 03-07 09:00", "Sun 03-08 09:00", "Mon 03-09 09:00", "Tue 03-10 09:00",
        "Wed 03-11 09:00"]


async def test_two_workers_on_one_database_never_send_the_same_reminder(world, clock, settings):
    from bot.runtime import build_runtime

    people = [UserKey("line", f"U-{i:03d}") for i in range(60)]
    for k in people:
        await world.say(k, "cancel")  # a first message creates them (onboarding); leave it
        await world.say(k, "cancel")
        await world.say(k, "every day at 9am")
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    other = await build_runtime(settings, clock=clock, migrate=False)
    other_sender = RecordingSender(clock)
    other.senders["line"] = other_sender
    try:
        a, b = Dispatcher(world.runtime, batch_size=7), Dispatcher(other, batch_size=7)
        results = await asyncio.gather(a.run_pass(), b.run_pass(), a.run_pass(), b.run_pass())
    finally:
        await other.close()
    keys = [s.delivery.idempotency_key for s in world.sender.sent + other_sender.sent]
    assert len(keys) == len(set(keys)) == len(people)
    assert sum(r.sent for r in results) == len(people)
    rows = await world.rows()
    assert sorted(r.status for r in rows if r.kind == "nudge") == ["sent"] * len(people)


@pytest.mark.postgres_only
async def test_claims_skip_rows_another_worker_holds(world, clock):
    """On PostgreSQL, a claim passes over rows locked by another transaction instead of waiting."""
    people = [UserKey("line", f"U-lock{i}") for i in range(4)]
    for k in people:
        await world.say(k, "cancel")  # a first message creates them (onboarding); leave it
        await world.say(k, "cancel")
        await world.say(k, "every day at 9am")
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    await world.dispatcher.plan(clock.now, __import__("bot.reminders.dispatch", fromlist=["PassResult"]).PassResult())
    rows = await world.rows()
    held = rows[0].id
    async with world.runtime.db.engine.connect() as conn:
        await conn.execute(text("SELECT id FROM reminder_outbox WHERE id = :id FOR UPDATE"), {"id": held})
        from bot.reminders.dispatch import PassResult

        staged = await asyncio.wait_for(
            world.dispatcher.stage(clock.now, PassResult(), world.dispatcher.outbox(clock.now)), timeout=5)
        assert staged == len(people) - 1
        async with world.runtime.db.session() as s:
            keys = set((await s.execute(select(OutboxDelivery.key))).scalars())
        assert held not in keys and len(keys) == len(people) - 1
        await conn.rollback()


async def test_send_due_command(runtime, clock, settings, tmp_path):
    import os
    import subprocess
    import sys

    # A new user's first words open onboarding (acknowledged); a second "cancel" leaves it.
    await runtime.coach.handle(Inbound(user=UserKey("cli", "me"), kind="text", text="cancel", received_at=clock()))
    await runtime.coach.handle(Inbound(user=UserKey("cli", "me"), kind="text", text="cancel", received_at=clock()))
    await runtime.coach.handle(Inbound(user=UserKey("cli", "me"), kind="text", text="every day at 9am",
                                       received_at=clock()))
    env = dict(os.environ, DATABASE_URL=settings.database_url, CONTENT_DIR=str(settings.content_dir),
               LOG_LEVEL="WARNING")
    for k in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        env.pop(k, None)

    def bansou(*args):
        return subprocess.run([sys.executable, "-m", "handlers.cli", "nudges", "send-due", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    bad = bansou("--now", "2026-01-06T09:00:00")
    assert bad.returncode == 2 and "has no timezone" in bad.stderr
    early = bansou("--now", "2026-01-06T08:59:00+09:00")
    assert early.returncode == 0 and early.stdout.startswith("sent 0, skipped 0, failed 0")
    due = bansou("--now", "2026-01-06T00:00:00Z")
    assert due.returncode == 0, due.stderr
    assert due.stdout.startswith("sent 0, skipped 1, failed 0")  # the cli platform has no sender


async def test_the_scheduler_ticks_passes_and_runs_periodic_jobs(world, clock, settings):
    """APScheduler only ticks: a pass every REMINDER_TICK_SECONDS, and each runtime.periodic job."""

    from bot.reminders.worker import scheduler_task

    kai = UserKey("line", "U-kai")
    await world.meet(kai)
    await world.say(kai, "every day at 9am")
    clock.now = datetime(2026, 1, 6, 0, 0, tzinfo=timezone.utc)
    world.runtime.settings = settings.model_copy(update={"extra": {"REMINDER_TICK_SECONDS": "0.2"}})
    housekeeping = asyncio.Event()

    async def purge(rt) -> None:
        assert rt is world.runtime
        housekeeping.set()

    world.runtime.periodic.append(("test-purge", 0.2, purge))
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler_task(world.runtime, stop))
    try:
        await asyncio.wait_for(housekeeping.wait(), timeout=10)
        for _ in range(500):
            if world.sender.to("U-kai"):
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert len(world.sender.to("U-kai")) == 1  # many ticks, one reminder


async def test_a_follow_up_queued_with_older_values_falls_back_to_its_plain_wording(world, clock):
    hana = UserKey("line", "U-old")
    await world.meet(hana, lang="ja")
    async with world.runtime.db.session() as s:
        user = await repo.get_user(s, hana)
        from bot.engine import Effect

        await world.runtime.reminders.on_followup(s, user, Effect("schedule_followup", {
            "due_at": clock.now + timedelta(days=2), "message_id": "boundary.followup", "flow": "boundary",
            "values": {"request": "週末の対応"}}), clock.now)  # the placeholder this message used before
        await s.commit()
    await world.run(until=clock.now + timedelta(days=2, hours=1), step=timedelta(minutes=30))
    [sent] = world.sender.to("U-old")
    assert sent.reply.message_id == "boundary.followup.plain" and "{" not in sent.reply.text
