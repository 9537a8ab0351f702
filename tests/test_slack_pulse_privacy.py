"""Issue 17 (4): the team pulse cannot be made to give a member away.

* at least SLACK_PULSE_MIN_MEMBERS people (default 5, never below 3);
* a week is posted once and weeks only go forward, whatever happens to the team's time zone or
  the pulse being turned off and on (before: ``due_pulse_week`` compared with ``==``, so a zone
  behind made last week due again, and two overlapping windows gave a difference);
* no two releases whose contributor sets differ by fewer than the minimum (before: an admin with
  one account of their own recovered a member's scores by subtraction)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from bot.errors import ConfigError
from bot.settings import load_settings
from bot.store.slack_models import SlackPulseRelease, SlackTeam
from handlers.slack.pulse import due_pulse_week, release_allowed, run_team_pulse
from tests.fake_slack_api import TEAM
from tests.test_slack_home_pulse import _checkin, _member

MONDAY_TOKYO_0930 = datetime(2026, 1, 12, 0, 30, tzinfo=timezone.utc)


def test_the_minimum_is_five_by_default_and_never_below_three():
    assert load_settings({}).slack_pulse_min_members == 5
    load_settings({"SLACK_PULSE_MIN_MEMBERS": "3"}).check()
    with pytest.raises(ConfigError, match="SLACK_PULSE_MIN_MEMBERS"):
        load_settings({"SLACK_PULSE_MIN_MEMBERS": "2"}).check()


def test_a_zone_behind_never_makes_an_earlier_week_due_again():
    week = due_pulse_week(MONDAY_TOKYO_0930, tz_name="Asia/Tokyo", last_week_id=None)
    assert week.week_id == "2026-W02"
    # posted; then the admin's zone becomes Honolulu, where it is still Sunday afternoon
    assert due_pulse_week(MONDAY_TOKYO_0930, tz_name="Pacific/Honolulu", last_week_id="2026-W02") is None
    # and across a year boundary the order still holds
    assert due_pulse_week(datetime(2026, 1, 5, 3, tzinfo=timezone.utc), tz_name="Asia/Tokyo",
                          last_week_id="2026-W01") is None


def test_releases_whose_contributors_differ_by_a_few_are_refused():
    five = frozenset("abcde")
    assert release_allowed(five, [], min_members=5)
    assert release_allowed(five, [five], min_members=5)  # the same people: nothing to subtract
    assert not release_allowed(five | {"f"}, [five], min_members=5)  # f alone is the difference
    assert not release_allowed(five - {"e"} | {"f"}, [five], min_members=5)
    assert release_allowed(frozenset("fghij"), [five], min_members=5)


async def _pulse_on(slack):
    await slack.slash("UADMIN", "team-pulse <#C0PULSE|team-pulse>", trigger_id="950.1")
    await slack.process()
    async with slack.runtime.db.session() as s:
        await s.execute(update(SlackTeam).values(pulse_timezone="Asia/Tokyo"))
        await s.commit()


def _pulses(slack):
    return [p for p in slack.posts() if p.params["channel"] == "C0PULSE"]


async def test_a_time_zone_change_and_a_toggle_never_post_a_week_again(slack, clock):
    rt = slack.runtime
    await _pulse_on(slack)
    members = [await _member(rt, f"UM{i}") for i in range(5)]
    for week_start in (datetime(2025, 12, 30, 3, tzinfo=timezone.utc), datetime(2026, 1, 6, 3, tzinfo=timezone.utc)):
        for i, m in enumerate(members):
            await _checkin(rt, m, week_start + timedelta(hours=i), 3, 3, 3)
    clock.now = MONDAY_TOKYO_0930
    assert (await run_team_pulse(rt))["posted"] == 1
    # the admin's zone moves behind (Honolulu: still last Sunday), the pulse goes off and on again
    await slack.slash("UADMIN", "team-pulse off", trigger_id="950.2")
    await slack.process()
    await _pulse_on(slack)
    async with rt.db.session() as s:
        await s.execute(update(SlackTeam).values(pulse_timezone="Pacific/Honolulu"))
        await s.commit()
    for hours in (0, 1, 6, 12):
        clock.now = MONDAY_TOKYO_0930 + timedelta(hours=hours)
        assert (await run_team_pulse(rt))["posted"] == 0
    assert len(_pulses(slack)) == 1
    async with rt.db.session() as s:
        assert (await s.execute(select(SlackTeam.last_pulse_week))).scalar_one() == "2026-W02"


async def test_an_admin_adding_one_account_of_their_own_does_not_get_a_release(slack, clock):
    rt = slack.runtime
    await _pulse_on(slack)
    members = [await _member(rt, f"UM{i}") for i in range(5)]
    sock = await _member(rt, "USOCK")  # the admin's own extra account
    week1 = datetime(2026, 1, 6, 3, tzinfo=timezone.utc)
    for m in members:
        await _checkin(rt, m, week1, 2, 2, 2)
    clock.now = MONDAY_TOKYO_0930
    assert (await run_team_pulse(rt))["posted"] == 1
    # next week: the same five and the sock account; one person's difference: held back
    for m in members + [sock]:
        await _checkin(rt, m, week1 + timedelta(weeks=1), 4, 4, 4)
    clock.now += timedelta(weeks=1)
    counts = await run_team_pulse(rt)
    assert counts["posted"] == 0 and counts["held"] == 1
    # the week after, the same five as the first release: allowed
    for m in members:
        await _checkin(rt, m, week1 + timedelta(weeks=2), 3, 3, 3)
    clock.now += timedelta(weeks=1)
    assert (await run_team_pulse(rt))["posted"] == 1
    assert len(_pulses(slack)) == 2
    async with rt.db.session() as s:
        releases = (await s.execute(select(SlackPulseRelease).order_by(SlackPulseRelease.week_id))).scalars().all()
    assert [r.week_id for r in releases] == ["2026-W02", "2026-W04"]
    assert all(len(r.contributors) == 5 for r in releases)
    assert not any("UM" in d or TEAM in d for r in releases for d in r.contributors)


async def test_four_people_are_not_enough_by_default(slack, clock):
    rt = slack.runtime
    await _pulse_on(slack)
    for i in range(4):
        await _checkin(rt, await _member(rt, f"UM{i}"), datetime(2026, 1, 6, 3, tzinfo=timezone.utc), 3, 3, 3)
    clock.now = MONDAY_TOKYO_0930
    assert (await run_team_pulse(rt))["skipped"] == 1 and _pulses(slack) == []
