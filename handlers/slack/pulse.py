"""Team pulse: an anonymous weekly summary of a workspace's check-ins, posted in a channel an admin chose.

Privacy rules, enforced by ``summarize_team_week`` (pure) and ``render_pulse`` (pure):
* nothing is posted for a week in which fewer than ``MIN_MEMBERS`` people checked in;
* only aggregates: how many checked in, per-person-then-team averages, and pattern kinds that
  came up for at least ``MIN_PATTERN_PEOPLE`` people (counted in people, not messages);
* the crisis kind is never reported to a team; no names, ids, reflections or evidence ever.
``run_team_pulse`` is the periodic job: it finds teams whose last complete week is due, claims
the week (so two runs never post twice), builds and posts the summary.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from bot.types import SIGNAL_KINDS
from handlers.slack.blocks import escape, section
from handlers.slack.home import short_date, zone

log = logging.getLogger("bansou.slack")

MIN_MEMBERS = 3
MIN_PATTERN_PEOPLE = 2
TOP_PATTERNS = 3
POST_AT = time(9, 0)  # Monday, the team's local time
PRIVATE_KINDS = frozenset({"crisis"})


@dataclass(frozen=True, slots=True)
class PulseWeek:
    """The week to summarise: [start, end) in UTC, its Monday and its ISO week id."""

    start: datetime
    end: datetime
    monday: date
    week_id: str


@dataclass(frozen=True, slots=True)
class TeamWeekSummary:
    members: int
    energy: float | None
    boundaries: float | None
    client_respect: float | None
    patterns: tuple[tuple[str, int], ...]  # (kind, number of people), most common first


def week_id(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def due_pulse_week(now: datetime, *, tz_name: str, last_week_id: str | None, default_tz: str = "UTC") -> PulseWeek | None:
    """The last complete week (Monday to Sunday in the team's zone) once its report time
    (the next Monday at 9:00) has passed, unless that week was already handled."""
    tz = zone(tz_name, default_tz)
    local = now.astimezone(tz)
    this_monday = local.date() - timedelta(days=local.weekday())
    report_at = datetime.combine(this_monday, POST_AT, tz)
    monday = this_monday - timedelta(weeks=1 if local >= report_at else 2)
    wid = week_id(monday)
    if wid == last_week_id:
        return None
    start = datetime.combine(monday, time(0), tz)
    return PulseWeek(start=start, end=start + timedelta(weeks=1), monday=monday, week_id=wid)


def summarize_team_week(checkins: Sequence[tuple[Any, int | None, int | None, int | None]],
                        signals: Sequence[tuple[Any, str]], *, min_members: int = MIN_MEMBERS,
                        min_pattern_people: int = MIN_PATTERN_PEOPLE) -> TeamWeekSummary | None:
    """Aggregate one week: ``checkins`` are (person, energy, boundaries, client_respect),
    ``signals`` are (person, kind). ``person`` is any opaque key; it never leaves this function.
    None when fewer than ``min_members`` people checked in."""
    per_person: dict[Any, list[tuple[int | None, int | None, int | None]]] = defaultdict(list)
    for person, e, b, r in checkins:
        per_person[person].append((e, b, r))
    if len(per_person) < min_members:
        return None

    def team_mean(i: int) -> float | None:
        person_means = []
        for rows in per_person.values():
            vals = [row[i] for row in rows if row[i] is not None]
            if vals:
                person_means.append(sum(vals) / len(vals))
        return round(sum(person_means) / len(person_means), 1) if person_means else None

    people_by_kind: dict[str, set] = defaultdict(set)
    for person, kind in signals:
        if kind in SIGNAL_KINDS and kind not in PRIVATE_KINDS:
            people_by_kind[kind].add(person)
    ranked = sorted(((k, len(p)) for k, p in people_by_kind.items() if len(p) >= min_pattern_people),
                    key=lambda kv: (-kv[1], SIGNAL_KINDS.index(kv[0])))
    return TeamWeekSummary(members=len(per_person), energy=team_mean(0), boundaries=team_mean(1),
                           client_respect=team_mean(2), patterns=tuple(ranked[:TOP_PATTERNS]))


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
    """The week's check-ins and signal kinds of the team's users, keyed by our internal user id."""
    from bot.store.models import CheckIn, SignalRecord, User

    members = select(User.id).where(User.platform == "slack",
                                    User.platform_meta["team_id"].as_string() == team_id).scalar_subquery()
    checkins = (await session.execute(
        select(CheckIn.user_id, CheckIn.energy, CheckIn.boundaries, CheckIn.client_respect)
        .where(CheckIn.user_id.in_(members), CheckIn.at >= week.start, CheckIn.at < week.end))).all()
    signals = (await session.execute(
        select(SignalRecord.user_id, SignalRecord.kind)
        .where(SignalRecord.user_id.in_(members), SignalRecord.at >= week.start, SignalRecord.at < week.end))).all()
    return [tuple(r) for r in checkins], [tuple(r) for r in signals]


async def run_team_pulse(runtime, *, now: datetime | None = None) -> dict[str, int]:
    """One pass of the weekly job; returns counts (posted, skipped for too few members, failed)."""
    from bot.store.slack_models import SlackTeam

    sender = runtime.senders.get("slack") or runtime.extras.get("slack_sender")
    now = now or runtime.clock()
    counts = {"posted": 0, "skipped": 0, "failed": 0}
    async with runtime.db.session() as session:
        teams = (await session.execute(select(SlackTeam).where(SlackTeam.pulse_channel_id.is_not(None)))).scalars().all()
    for team in teams:
        week = due_pulse_week(now, tz_name=team.pulse_timezone, last_week_id=team.last_pulse_week,
                              default_tz=runtime.settings.default_timezone)
        if week is None:
            continue
        async with runtime.db.session() as session:  # claim the week: only one run posts it
            claimed = await session.execute(
                update(SlackTeam).where(and_(SlackTeam.team_id == team.team_id, or_(
                    SlackTeam.last_pulse_week.is_(None), SlackTeam.last_pulse_week != week.week_id)))
                .values(last_pulse_week=week.week_id, updated_at=now))
            await session.commit()
            if not claimed.rowcount:
                continue
            checkins, signals = await team_week_rows(session, team_id=team.team_id, week=week)
        summary = summarize_team_week(checkins, signals)
        if summary is None:
            counts["skipped"] += 1
            log.info("team pulse skipped: too few check-ins", extra={"platform": "slack", "count": len({c[0] for c in checkins})})
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
        except Exception as exc:  # noqa: BLE001 - give the week back so the next run tries again
            counts["failed"] += 1
            log.warning("team pulse not posted", extra={"platform": "slack", "error": type(exc).__name__})
            async with runtime.db.session() as session:
                await session.execute(update(SlackTeam).where(SlackTeam.team_id == team.team_id)
                                      .values(last_pulse_week=team.last_pulse_week))
                await session.commit()
    return counts
