"""Team pulse: an anonymous weekly summary of a workspace's check-ins, posted in a channel an admin chose.

Privacy rules, enforced by ``summarize_team_week``, ``release_allowed`` and ``render_pulse`` (pure):
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

MIN_MEMBERS = 5
MIN_FLOOR = 3  # bot.settings.PULSE_MIN_FLOOR: SLACK_PULSE_MIN_MEMBERS is refused below it
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


def week_order(wid: str) -> tuple[int, int]:
    """(ISO year, ISO week) of a week id, for comparing weeks in time order."""
    year, _, week = wid.partition("-W")
    return int(year), int(week)


def due_pulse_week(now: datetime, *, tz_name: str, last_week_id: str | None, default_tz: str = "UTC") -> PulseWeek | None:
    """The last complete week (Monday to Sunday in the team's zone) once its report time
    (the next Monday at 9:00) has passed, unless that week or a later one was already handled
    (compared in order: a zone that is behind must not make an earlier week due again)."""
    tz = zone(tz_name, default_tz)
    local = now.astimezone(tz)
    this_monday = local.date() - timedelta(days=local.weekday())
    report_at = datetime.combine(this_monday, POST_AT, tz)
    monday = this_monday - timedelta(weeks=1 if local >= report_at else 2)
    wid = week_id(monday)
    if last_week_id is not None and week_order(wid) <= week_order(last_week_id):
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


def release_allowed(contributors: frozenset[str], earlier: Sequence[frozenset[str]], *, min_members: int) -> bool:
    """May a release with these contributors go out, given the earlier releases' contributors?
    Not when it differs from any of them by fewer than ``min_members`` people (but by at least
    one): the difference of the two aggregates would describe those few."""
    for before in earlier:
        if 0 < len(contributors ^ before) < min_members:
            return False
    return True


def contributor_digest(secret: str, team_id: str, person: str) -> str:
    """A keyed digest of a contributor (never their id) for the release record."""
    import hashlib
    import hmac

    return hmac.new(secret.encode(), f"pulse:{team_id}:{person}".encode(), hashlib.sha256).hexdigest()[:32]


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


async def run_team_pulse(runtime, *, now: datetime | None = None) -> dict[str, int]:
    """One pass of the weekly job; returns counts (posted, skipped for too few members, failed)."""
    from bot.store.slack_models import SlackPulseRelease, SlackTeam

    sender = runtime.senders.get("slack") or runtime.extras.get("slack_sender")
    now = now or runtime.clock()
    min_members = max(runtime.settings.slack_pulse_min_members, MIN_FLOOR)
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
