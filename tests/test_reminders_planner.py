"""The pure planner: next slots across daylight-saving changes, back-off, grace, holds, and the
nudge picker. No database; the clock is an argument."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.reminders.picker import ThemeRound, nudge_weight, pick_nudge
from bot.reminders.planner import (
    PlanState, Schedule, UserState, decide, in_quiet_hours, next_due, plan_due_slots,
)
from tests.transcript import shipped_content

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def slots(schedule: Schedule, tz, *, start: datetime, n: int) -> list[datetime]:
    out, after = [], start
    for _ in range(n):
        after = next_due(schedule, tz, after=after)
        out.append(after)
    return out


def test_new_york_nine_oclock_stays_nine_across_both_changes():
    nine = Schedule(days=EVERY_DAY, at=time(9, 0))
    march = slots(nine, NY, start=datetime(2026, 3, 6, 16, tzinfo=UTC), n=4)
    assert [s.astimezone(NY).strftime("%m-%d %H:%M") for s in march] == [
        "03-07 09:00", "03-08 09:00", "03-09 09:00", "03-10 09:00"]
    # EST is UTC-5, EDT is UTC-4: the UTC hour moves, the local hour does not.
    assert [s.hour for s in march] == [14, 13, 13, 13]
    november = slots(nine, NY, start=datetime(2026, 10, 30, 16, tzinfo=UTC), n=4)
    assert [s.astimezone(NY).strftime("%m-%d %H:%M") for s in november] == [
        "10-31 09:00", "11-01 09:00", "11-02 09:00", "11-03 09:00"]
    assert [s.hour for s in november] == [13, 14, 14, 14]


def test_a_time_that_does_not_exist_moves_past_the_gap_once():
    half_past_two = Schedule(days=EVERY_DAY, at=time(2, 30))
    got = slots(half_past_two, NY, start=datetime(2026, 3, 7, 0, tzinfo=UTC), n=3)
    local = [s.astimezone(NY) for s in got]
    assert [t.strftime("%m-%d %H:%M %Z") for t in local] == [
        "03-07 02:30 EST", "03-08 03:30 EDT", "03-09 02:30 EDT"]


def test_a_time_that_happens_twice_is_sent_at_the_first_one_only():
    half_past_one = Schedule(days=EVERY_DAY, at=time(1, 30))
    got = slots(half_past_one, NY, start=datetime(2026, 10, 31, 12, tzinfo=UTC), n=2)
    assert [t.astimezone(NY).strftime("%m-%d %H:%M %Z") for t in got] == ["11-01 01:30 EDT", "11-02 01:30 EST"]
    assert got[1] - got[0] == timedelta(hours=25)


def test_tokyo_has_no_changes():
    eight = Schedule(days=EVERY_DAY, at=time(8, 0))
    got = slots(eight, TOKYO, start=datetime(2026, 3, 1, tzinfo=UTC), n=300)
    assert {(s.hour, s.minute) for s in got} == {(23, 0)}
    assert all(b - a == timedelta(days=1) for a, b in zip(got, got[1:]))


def test_days_of_the_week_and_pause():
    mon_thu = Schedule(days=("mon", "thu"), at=time(9, 0))
    got = slots(mon_thu, TOKYO, start=datetime(2026, 1, 5, 1, tzinfo=UTC), n=3)  # Mon 10:00 JST
    assert [s.astimezone(TOKYO).strftime("%a %H:%M") for s in got] == ["Thu 09:00", "Mon 09:00", "Thu 09:00"]
    paused = Schedule(days=("mon", "thu"), at=time(9, 0), paused_until=datetime(2026, 1, 12, 0, tzinfo=UTC))
    assert next_due(paused, TOKYO, after=datetime(2026, 1, 5, 1, tzinfo=UTC)).astimezone(TOKYO).day == 12


def test_quiet_hours_wrap_midnight():
    start, end = time(22), time(7)
    assert in_quiet_hours(time(23, 30), start, end) and in_quiet_hours(time(6, 59), start, end)
    assert not in_quiet_hours(time(7, 0), start, end) and not in_quiet_hours(time(21, 59), start, end)


# ------------------------------------------------------------------------------ planning

def test_after_three_ignored_the_question_comes_once_and_then_every_other_slot():
    sched = Schedule(days=EVERY_DAY, at=time(9, 0))
    t0 = next_due(sched, TOKYO, after=datetime(2026, 1, 5, tzinfo=UTC))
    state = PlanState(next_due_at=t0)
    kinds = []
    ignored = 0
    for day in range(8):
        now = state.next_due_at
        plan = plan_due_slots(state, sched, TOKYO, now=now, grace=timedelta(hours=6), ignored=ignored)
        [row] = plan.rows
        kinds.append(row.kind if row.status == "pending" else "skipped")
        if row.kind == "nudge" and row.status == "pending":
            ignored += 1  # nobody answers
        state = plan.state
    assert kinds == ["nudge", "nudge", "nudge", "backoff", "skipped", "nudge", "skipped", "nudge"]
    assert state.frequency_factor == 2


def test_slots_missed_while_down_are_recorded_not_sent_in_a_burst():
    sched = Schedule(days=EVERY_DAY, at=time(9, 0))
    first = next_due(sched, TOKYO, after=datetime(2026, 1, 5, tzinfo=UTC))
    now = first + timedelta(days=3, hours=2)  # down for three days; back two hours after a slot
    plan = plan_due_slots(PlanState(next_due_at=first), sched, TOKYO, now=now, grace=timedelta(hours=6), ignored=0)
    assert [(r.status, r.reason) for r in plan.rows] == [("skipped", "missed: worker was not running")] * 3 + [
        ("pending", None)]
    assert plan.state.next_due_at == first + timedelta(days=4)


def user(**kw) -> UserState:
    base = dict(active=True, crisis_paused=False, last_message_at=None, conversation_expires_at=None, tz=TOKYO,
                reminders_enabled=True, paused_until=None, quiet_start=time(22), quiet_end=time(7),
                chosen_time=time(9))
    base.update(kw)
    return UserState(**base)


NOW = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
GRACE = timedelta(hours=6)


@pytest.mark.parametrize("state, expected", [
    (user(), ("send", None)),
    (user(active=False), ("skip", None)),
    (user(crisis_paused=True), ("skip", None)),
    (user(reminders_enabled=False), ("skip", None)),
    (user(conversation_expires_at=NOW + timedelta(hours=3)), ("postpone", NOW + timedelta(minutes=15))),
    (user(last_message_at=NOW - timedelta(minutes=20)), ("postpone", NOW + timedelta(minutes=40))),
    (user(last_message_at=NOW - timedelta(minutes=61)), ("send", None)),
    (user(tz=ZoneInfo("Europe/London")), ("postpone", datetime(2026, 1, 6, 7, 0, tzinfo=UTC))),  # 00:00 there
])
def test_decide_for_a_nudge(state, expected):
    d = decide("nudge", due_at=NOW, user=state, now=NOW, grace=GRACE)
    assert (d.action, d.until) == expected


def test_a_time_chosen_inside_quiet_hours_is_honoured_but_follow_ups_wait():
    late = user(chosen_time=time(23, 0))
    at_23 = datetime(2026, 1, 6, 14, 0, tzinfo=UTC)  # 23:00 JST
    assert decide("nudge", due_at=at_23, user=late, now=at_23, grace=GRACE).action == "send"
    d = decide("followup", due_at=at_23, user=late, now=at_23, grace=GRACE)
    assert (d.action, d.until.astimezone(TOKYO).strftime("%d %H:%M")) == ("postpone", "07 07:00")


def test_a_pause_skips_nudges_and_holds_follow_ups():
    paused = user(paused_until=NOW + timedelta(days=2))
    assert decide("nudge", due_at=NOW, user=paused, now=NOW, grace=GRACE).reason == "reminders paused"
    assert decide("followup", due_at=NOW, user=paused, now=NOW, grace=GRACE).until == NOW + timedelta(days=2)


# ------------------------------------------------------------------------------ picking

def test_no_nudge_repeats_until_its_theme_is_used_up():
    nudges = list(shipped_content().nudges.values())
    by_theme = Counter(n.theme for n in nudges)
    rng = random.Random(7)
    history: dict[str, ThemeRound] = {}
    seen: list[str] = []
    for _ in range(len(nudges) * 2):
        nudge, rnd = pick_nudge(nudges, history=history, recent_kinds=set(), rng=rng)
        prev = history.get(nudge.theme)
        used = prev.used if prev and prev.round == rnd else frozenset()
        assert nudge.id not in used
        history[nudge.theme] = ThemeRound(rnd, used | {nudge.id})
        seen.append(nudge.id)
    assert len(set(seen[:len(nudges)])) == len(nudges)  # the first full cycle: every nudge once
    # Every theme went round exactly twice.
    assert {t: r.round for t, r in history.items()} == {t: 2 for t in by_theme}


def test_recent_signals_tilt_the_choice_deterministically():
    nudges = list(shipped_content().nudges.values())
    tagged = {n.id for n in nudges if "controlling" in n.signals}
    assert 0 < len(tagged) < len(nudges)
    expected = sum(nudge_weight(n, {"controlling"}) for n in nudges if n.id in tagged) / sum(
        nudge_weight(n, {"controlling"}) for n in nudges)
    rng = random.Random(2026)
    picks = [pick_nudge(nudges, history={}, recent_kinds={"controlling"}, rng=rng)[0].id for _ in range(4000)]
    share = sum(p in tagged for p in picks) / len(picks)
    base_share = len(tagged) / len(nudges)
    assert share > base_share + 0.2
    assert abs(share - expected) < 0.03
    # The same seed gives the same sequence.
    rng2 = random.Random(2026)
    assert [pick_nudge(nudges, history={}, recent_kinds={"controlling"}, rng=rng2)[0].id for _ in range(50)] == picks[:50]
