"""Team pulse: an anonymous weekly summary of a workspace's check-ins, posted in a channel an admin chose.

Privacy rules, enforced by the core's ``bot.insights.summarize_team_week``, ``release_allowed`` and
``due_pulse_week`` (pure) and by ``render_pulse`` here:
* nothing is posted for a week in which fewer than ``SLACK_PULSE_MIN_MEMBERS`` people (default 5,
  never below 3) checked in;
* a week is posted at most once, and weeks only go forward: a time zone change or turning the pulse
  off and on again never makes a posted (or earlier) week due again;
* no two releases' contributor sets differ by fewer than that minimum (one member added or missing
  would otherwise give them away by subtraction); a week that would is held back;
* only aggregates: how many checked in, per-person-then-team averages, and pattern kinds that
  came up for at least ``MIN_PATTERN_PEOPLE`` people (counted in people, not messages);
* the crisis kind is never reported to a team; no names, ids, reflections or evidence ever.
``run_team_pulse`` is the periodic job: it finds teams whose last complete week is due, claims
the week (so two runs never post twice), builds and posts the summary.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from bot.insights import (PULSE_MIN_FLOOR, PulseWeek, TeamWeekSummary, contributor_digest,
                          due_pulse_week, release_allowed, summarize_team_week)
from handlers.slack.blocks import escape, section
from handlers.slack.home import short_date

__all__ = ["render_pulse", "run_team_pulse", "team_week_rows",  # the rest: from bot.insights
           "PulseWeek", "TeamWeekSummary", "contributor_digest", "due_pulse_week", "release_allowed",
           "summarize_team_week"]

log = logging.getLogger("bansou.slack")


def render_pulse(summary: TeamWeekSummary, *, monday: date, lang: str,
                 text: Callable[..., str]) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) for a summary; words from content in ``lang``."""
    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    title = text("slack.pulse.title", {"date": short_date(monday, lang)})
    lines = [text("slack.pulse.members", {"count": summary.members}),
             text("slack.pulse.averages", {"energy": num(summary.energy), "boundaries": num(summary.boundaries),
                                           "client_respect": num(summary.client_respect)})]
    if summary.patterns:
        items = "、".join if lang == "ja" else ", ".join
        lines.append(text("slack.pulse.patterns", {"patterns": items(
            text("slack.pulse.pattern_item", {"kind": text(f"slack.kind.{k}"), "count": n})
            for k, n in summary.patterns)}))
    else:
        lines.append(text("slack.pulse.no_patterns"))
    lines.append(text("slack.pulse.nudge"))
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
              section(escape("\n".join(lines))),
              {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text("slack.pulse.footer"))}]}]
    return title + "\n" + lines[0], blocks


async def team_week_rows(session, *, team_id: str, week: PulseWeek) -> tuple[list, list]:
    """The week's check-ins and signal kinds of the team's users, keyed by their (tenant-scoped)
    Slack key, which is never reused the way a row id can be."""
    from bot.store.models import CheckIn, SignalRecord, User

    in_team = (User.platform == "slack", User.platform_meta["team_id"].as_string() == team_id)
    checkins = (await session.execute(
        select(User.platform_user_id, CheckIn.energy, CheckIn.boundaries, CheckIn.client_respect)
        .join(User, User.id == CheckIn.user_id)
        .where(*in_team, CheckIn.at >= week.start, CheckIn.at < week.end))).all()
    signals = (await session.execute(
        select(User.platform_user_id, SignalRecord.kind).join(User, User.id == SignalRecord.user_id)
        .where(*in_team, SignalRecord.at >= week.start, SignalRecord.at < week.end))).all()
    return [tuple(r) for r in checkins], [tuple(r) for r in signals]


async def run_team_pulse(runtime, *, now: datetime | None = None, sender=None) -> dict[str, int]:  # noqa: ANN001
    """One pass of the weekly job; returns counts (posted, skipped for too few members, failed).
    Posts through ``sender`` (default: the runtime's Slack sender)."""
    from bot.store.slack_models import SlackPulseRelease, SlackTeam

    from handlers.edge import edge_of

    parts = edge_of(runtime).slack
    sender = sender or runtime.senders.get("slack") or (parts.sender if parts is not None else None)
    now = now or runtime.clock()
    min_members = max(runtime.settings.slack_pulse_min_members, PULSE_MIN_FLOOR)
    secret = runtime.settings.slack_signing_secret or runtime.settings.slack_client_secret or ""
    counts = {"posted": 0, "skipped": 0, "failed": 0, "held": 0}
    async with runtime.db.session() as session:
        teams = (await session.execute(select(SlackTeam).where(SlackTeam.pulse_channel_id.is_not(None)))).scalars().all()
    for team in teams:
        week = due_pulse_week(now, tz_name=team.pulse_timezone, last_week_id=team.last_pulse_week,
                              default_tz=runtime.settings.default_timezone)
        if week is None:
            continue
        async with runtime.db.session() as session:  # claim the week: only one run posts it
            # "<" on week ids: the same format everywhere ("2026-W03"), so text order is week order.
            claimed = await session.execute(
                update(SlackTeam).where(and_(SlackTeam.team_id == team.team_id, or_(
                    SlackTeam.last_pulse_week.is_(None), SlackTeam.last_pulse_week < week.week_id)))
                .values(last_pulse_week=week.week_id, updated_at=now))
            await session.commit()
            if not claimed.rowcount:
                continue
            checkins, signals = await team_week_rows(session, team_id=team.team_id, week=week)
            earlier = [frozenset(r) for r in (await session.execute(
                select(SlackPulseRelease.contributors).where(SlackPulseRelease.team_id == team.team_id))).scalars()]
        summary = summarize_team_week(checkins, signals, min_members=min_members)
        if summary is None:
            counts["skipped"] += 1
            log.info("team pulse skipped: too few check-ins", extra={"platform": "slack", "count": len({c[0] for c in checkins})})
            continue
        contributors = frozenset(contributor_digest(secret, team.team_id, c[0]) for c in checkins)
        if not release_allowed(contributors, earlier, min_members=min_members):
            counts["held"] += 1
            log.info("team pulse held: too close to an earlier one", extra={"platform": "slack"})
            continue
        lang = team.pulse_language if team.pulse_language in ("ja", "en") else runtime.settings.default_language
        text_, blocks = render_pulse(summary, monday=week.monday, lang=lang,
                                     text=lambda mid, values=None: runtime.content.text(mid, lang, values))
        try:
            token = await sender.token_for(team_id=team.team_id, enterprise_id=team.enterprise_id)
            from handlers.slack.blocks import SlackMessage

            await sender.post_messages([SlackMessage(text=text_, blocks=blocks)], token=token,
                                       channel=team.pulse_channel_id, thread_ts=None,
                                       key=f"pulse:{team.team_id}:{week.week_id}")
            counts["posted"] += 1
            async with runtime.db.session() as session:
                session.add(SlackPulseRelease(team_id=team.team_id, week_id=week.week_id,
                                              contributors=sorted(contributors), released_at=now))
                await session.commit()
        except Exception as exc:  # noqa: BLE001 - give the week back so the next run tries again
            counts["failed"] += 1
            log.warning("team pulse not posted", extra={"platform": "slack", "error": type(exc).__name__})
            async with runtime.db.session() as session:
                await session.execute(update(SlackTeam).where(SlackTeam.team_id == team.team_id)
                                      .values(last_pulse_week=team.last_pulse_week))
                await session.commit()
    return counts
