"""App Home (the user's own trend) and the team pulse (anonymous, for the whole workspace)."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.store import repo
from bot.store.slack_models import SlackTeam
from bot.types import Signal, UserKey
from handlers.slack.home import sparkline, weekly_patterns, weekly_trend
from handlers.slack.pulse import due_pulse_week, run_team_pulse, summarize_team_week
from tests.fake_slack_api import TEAM

TOKYO = ZoneInfo("Asia/Tokyo")


async def _member(rt, slack_id: str, *, team: str = TEAM, consent: bool = True, lang: str = "en"):
    async with rt.db.session() as s:
        user, _ = await repo.get_or_create_user(s, UserKey("slack", f"{TEAM}:{slack_id}"), language=lang, timezone="Asia/Tokyo",
                                                now=rt.clock())
        user.platform_meta = {"team_id": team}
        user.consent_store_text = consent
        await s.commit()
        return user


async def _checkin(rt, user, at: datetime, e: int, b: int, r: int, reflection: str | None = None):
    async with rt.db.session() as s:
        user = await s.merge(user)
        await repo.save_checkin(s, user, now=at, energy=e, boundaries=b, client_respect=r, reflection=reflection)
        await s.commit()


async def _signal(rt, user, at: datetime, kind: str, evidence: str):
    async with rt.db.session() as s:
        user = await s.merge(user)
        await repo.record_signals(s, user, [Signal(kind, evidence, 0, len(evidence), 0.9)], now=at)
        await s.commit()


# -- App Home --------------------------------------------------------------------------------------

def test_sparkline_reads_low_to_high_with_gaps():
    assert sparkline([1, None, 3, 5]) == "▁·▅█"


def test_weekly_trend_and_patterns_group_by_the_users_weeks():
    class Row:
        def __init__(self, at, **kw):
            self.at, self.__dict__ = at, {**kw, "at": at}

    now = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)  # Monday 09:00 in Tokyo
    rows = [Row(now - timedelta(days=49), energy=1, boundaries=2, client_respect=None),
            Row(now - timedelta(days=1), energy=4, boundaries=None, client_respect=5),  # Sunday: last week
            Row(now - timedelta(days=1, hours=1), energy=2, boundaries=None, client_respect=3),
            Row(now, energy=3, boundaries=3, client_respect=3)]
    trend = weekly_trend(rows, now=now, tz=TOKYO)
    assert [w.week_start.isoformat() for w in trend][0] == "2025-11-17"
    assert trend[-1].week_start.isoformat() == "2026-01-05"
    assert (trend[0].energy, trend[-2].energy, trend[-2].client_respect, trend[-1].energy) == (1, 3, 4, 3)
    assert [w.count for w in trend] == [1, 0, 0, 0, 0, 0, 1 + 1, 1]
    sig = [Row(now, kind="overwork"), Row(now, kind="overwork"), Row(now - timedelta(days=3), kind="resentment"),
           Row(now - timedelta(days=60), kind="controlling")]
    assert weekly_patterns(sig, now=now, tz=TOKYO) == [
        (trend[-1].week_start, Counter({"overwork": 2})), (trend[-2].week_start, Counter({"resentment": 1}))]


async def test_opening_app_home_publishes_the_trend_patterns_and_reminder_buttons(slack):
    rt = slack.runtime
    now = rt.clock()
    ben = await _member(rt, "UBEN")
    await _checkin(rt, ben, now - timedelta(weeks=7), 1, 2, 2)
    await _checkin(rt, ben, now - timedelta(days=2), 5, 4, 4)
    await _checkin(rt, ben, now, 3, 3, 4, reflection="the client emailed at 2am again")
    await _signal(rt, ben, now, "overwork", "worked until 3am")
    await _signal(rt, ben, now, "overwork", "no weekend again")
    await _signal(rt, ben, now - timedelta(days=3), "people_pleasing", "I said yes to everything")

    r = await slack.post_event({"type": "app_home_opened", "user": "UBEN", "channel": "DBEN", "tab": "home",
                                "event_ts": "1700000000.1"}, event_id="Ev-home")
    assert r.status_code == 200
    await slack.process()
    [call] = slack.api.calls_to("views.publish")
    assert call.params["user_id"] == "UBEN"
    view = call.params["view"]
    assert view["type"] == "home"
    shown = json.dumps(view, ensure_ascii=False)
    assert "Energy" in shown and "Boundaries" in shown and "Client respect" in shown
    assert "▁······█▅" not in shown  # 8 weeks, not 9
    assert "▁·····█▅  latest 3.0" in shown  # energy: oldest week 1, last week 5, this week 3
    assert "overwork ×2" in shown and "people-pleasing ×1" in shown
    for words in ("worked until 3am", "no weekend again", "said yes", "2am"):
        assert words not in shown  # never the user's words
    values = {el["value"] for b in view["blocks"] if b["type"] == "actions" for el in b["elements"]}
    assert {"go:settings", "cmd:stop_reminders", "cmd:resume", "go:checkin"} <= values


async def test_app_home_speaks_the_users_language(slack):
    await slack.post_event({"type": "app_home_opened", "user": "UAKI", "channel": "DAKI", "tab": "home",
                            "event_ts": "1700000000.2"}, event_id="Ev-home-ja")
    await slack.process()
    view = slack.api.calls_to("views.publish")[0].params["view"]
    shown = json.dumps(view, ensure_ascii=False)
    assert "まだチェックインがありません" in shown  # a newcomer: language from the Slack locale (ja-JP)


async def test_a_home_button_runs_through_the_engine_and_answers_in_the_dm(slack):
    await _member(slack.runtime, "UBEN")
    r = await slack.click("UBEN", "cmd:stop_reminders", action_id="bansou.home.stop", in_home=True)
    assert r.status_code == 200
    await slack.process()
    [post] = slack.posts()
    assert post.params["channel"] == "DBEN"  # opened with conversations.open
    # this member never set reminders, and is told so rather than "reminders are off"
    assert "You don't have any reminders set" in slack.texts(post)
    await slack.click("UBEN", "go:settings", action_id="bansou.home.settings", in_home=True)
    await slack.process()
    assert any(b["value"] == "c:settings:choose:reminders" for b in slack.buttons(slack.posts()[-1]))
    assert len(slack.api.calls_to("conversations.open")) == 1  # the DM id is remembered


# -- team pulse: the pure parts ---------------------------------------------------------------------------

def test_team_summary_needs_the_minimum_of_people_and_reports_only_aggregates():
    two = [("a", 3, 3, 3), ("a", 5, 5, 5), ("b", 2, 2, 2)]
    assert summarize_team_week(two, [], min_members=3) is None
    three = two + [("c", 4, None, 1)]
    assert summarize_team_week(three, []) is None  # five people by default
    signals = [("a", "overwork"), ("b", "overwork"), ("a", "overwork"), ("c", "resentment"),
               ("a", "crisis"), ("b", "crisis"), ("c", "crisis")]
    s = summarize_team_week(three, signals, min_members=3)
    assert s.members == 3
    assert s.energy == round((4 + 2 + 4) / 3, 1)  # each person's mean first: a=4, b=2, c=4
    assert s.boundaries == round((4 + 2) / 2, 1)
    assert s.patterns == (("overwork", 2),)  # resentment: one person only; crisis: never reported


def test_the_pulse_week_is_the_last_full_week_once_monday_morning_has_come():
    ny = "America/New_York"
    sunday_night = datetime(2026, 1, 12, 4, 0, tzinfo=timezone.utc)  # Sun 23:00 in New York
    week = due_pulse_week(sunday_night, tz_name=ny, last_week_id=None)
    assert week.monday.isoformat() == "2025-12-29"
    monday_late_morning = datetime(2026, 1, 12, 15, 0, tzinfo=timezone.utc)  # Mon 10:00
    week = due_pulse_week(monday_late_morning, tz_name=ny, last_week_id="2026-W01")
    assert (week.monday.isoformat(), week.week_id) == ("2026-01-05", "2026-W02")
    assert week.start == datetime(2026, 1, 5, 5, 0, tzinfo=timezone.utc)
    assert due_pulse_week(monday_late_morning, tz_name=ny, last_week_id="2026-W02") is None


# -- team pulse: set-up by an admin and the weekly post -----------------------------------------------------

async def test_only_an_admin_can_choose_the_pulse_channel(slack):
    r = await slack.slash("UBEN", "team-pulse <#C0PULSE|team-pulse>", trigger_id="900.1")
    assert r.status_code == 200
    await slack.process()
    assert "Only a workspace admin" in slack.texts(slack.posts()[-1])
    async with slack.runtime.db.session() as s:
        assert await s.get(SlackTeam, TEAM) is None

    await slack.slash("UADMIN", "team-pulse <#C0PULSE|team-pulse>", trigger_id="900.2")
    await slack.process()
    confirmation = slack.posts()[-1]
    assert confirmation.params["channel"] == "DADMIN"
    assert "<#C0PULSE>" in slack.texts(confirmation)  # a real channel link, not escaped
    async with slack.runtime.db.session() as s:
        team = await s.get(SlackTeam, TEAM)
    assert (team.pulse_channel_id, team.pulse_timezone, team.pulse_language) == ("C0PULSE", "America/New_York", "en")
    info_calls = [c for c in slack.api.calls_to("users.info") if c.params["user"] == "UADMIN"]
    assert info_calls  # admin rights were checked with users.info


async def test_the_weekly_pulse_is_anonymous_and_posted_only_with_three_people(slack, clock):
    rt = slack.runtime
    rt.settings = rt.settings.model_copy(update={"slack_pulse_min_members": 3})  # the lowest an operator may set
    await slack.slash("UADMIN", "team-pulse <#C0PULSE|team-pulse>", trigger_id="901.1")
    await slack.process()
    clock.now = datetime(2026, 1, 12, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 in New York
    in_week = datetime(2026, 1, 7, 12, 0, tzinfo=timezone.utc)
    people = {}
    for sid in ("UAKI", "UBEN"):
        people[sid] = await _member(rt, sid)
    outsider = await _member(rt, "UOTHER", team="T0OTHER")
    await _checkin(rt, people["UAKI"], in_week, 2, 2, 3, reflection="Tanaka-san called me at midnight")
    await _checkin(rt, people["UBEN"], in_week, 4, 3, 3)
    await _checkin(rt, outsider, in_week, 1, 1, 1)
    await _signal(rt, people["UAKI"], in_week, "overwork", "answered mails at midnight")

    counts = await run_team_pulse(rt)
    assert counts == {"posted": 0, "skipped": 1, "failed": 0, "held": 0}
    assert not [p for p in slack.posts() if p.params["channel"] == "C0PULSE"]

    # the next week three people check in, two of them overworked
    clock.now += timedelta(weeks=1)
    in_week += timedelta(weeks=1)
    people["UCARA"] = await _member(rt, "UCARA")
    await _checkin(rt, people["UAKI"], in_week, 2, 2, 3, reflection="Tanaka-san called me at midnight")
    await _checkin(rt, people["UBEN"], in_week, 4, 3, 3)
    await _checkin(rt, people["UCARA"], in_week, 3, 4, 5)
    await _checkin(rt, outsider, in_week, 1, 1, 1)
    await _signal(rt, people["UAKI"], in_week, "overwork", "answered mails at midnight")
    await _signal(rt, people["UCARA"], in_week, "overwork", "three weekends in a row")
    await _signal(rt, people["UBEN"], in_week, "crisis", "I can't go on")

    assert await run_team_pulse(rt) == {"posted": 1, "skipped": 0, "failed": 0, "held": 0}
    assert await run_team_pulse(rt) == {"posted": 0, "skipped": 0, "failed": 0, "held": 0}  # once per week
    [pulse] = [p for p in slack.posts() if p.params["channel"] == "C0PULSE"]
    shown = json.dumps(pulse.params, ensure_ascii=False)
    assert "3 people checked in" in shown
    assert "energy 3.0" in shown and "boundaries 3.0" in shown and "client respect 3.7" in shown
    assert "overwork (2 people)" in shown
    assert "very hard" not in shown  # crisis is never part of a team summary
    for private in ("UAKI", "UBEN", "UCARA", "Aki", "Ben", "Tanaka", "midnight", "weekends", "go on", "2026-01"):
        assert private not in shown
    async with rt.db.session() as s:
        team = (await s.execute(select(SlackTeam))).scalar_one()
    assert team.last_pulse_week == "2026-W03"


async def test_a_pulse_that_fails_to_post_is_tried_again(slack, clock):
    rt = slack.runtime
    rt.settings = rt.settings.model_copy(update={"slack_pulse_min_members": 3})
    await slack.slash("UADMIN", "team-pulse C0PULSE", trigger_id="902.1")
    await slack.process()
    clock.now = datetime(2026, 1, 12, 15, 0, tzinfo=timezone.utc)
    for sid in ("UA", "UB", "UC"):
        await _checkin(rt, await _member(rt, sid), datetime(2026, 1, 7, tzinfo=timezone.utc), 3, 3, 3)
    slack.api.fail_next("chat.postMessage", status=500, body={"ok": False, "error": "internal_error"})
    assert (await run_team_pulse(rt))["failed"] == 1
    assert (await run_team_pulse(rt))["posted"] == 1
    assert len([p for p in slack.posts() if p.params["channel"] == "C0PULSE"]) == 2  # one failed try, one post


async def test_team_pulse_off(slack):
    await slack.slash("UADMIN", "team-pulse <#C0PULSE>", trigger_id="903.1")
    await slack.slash("UADMIN", "team-pulse off", trigger_id="903.2")
    await slack.process()
    assert "off" in slack.texts(slack.posts()[-1])
    async with slack.runtime.db.session() as s:
        assert (await s.get(SlackTeam, TEAM)).pulse_channel_id is None


async def test_when_slack_cannot_confirm_the_admin_nothing_changes(slack):
    slack.api.fail_next("users.info", status=500, body={"ok": False, "error": "internal_error"})
    await slack.slash("UADMIN", "team-pulse <#C0PULSE>", trigger_id="904.1")
    await slack.process()
    assert "もう一度コマンド" in slack.texts(slack.posts()[-1])  # no profile, so the default language
    async with slack.runtime.db.session() as s:
        assert await s.get(SlackTeam, TEAM) is None
