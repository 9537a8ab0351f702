"""Weekly insights: a person's check-in averages and pattern counts per week, and a team's
anonymous weekly pulse. Never any text anyone wrote.

Pure: rows, the clock's ``now`` and a timezone in, plain data out. The adapters only render what
these return (the web chat's "my trend", Slack's App Home and team pulse, LINE's trend card).
Weeks run Monday to Sunday in the person's (or team's) own timezone.
"""
from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.types import SIGNAL_KINDS

SCORES = ("energy", "boundaries", "client_respect")
TREND_WEEKS = 8  # Slack's App Home and LINE's trend card
PATTERN_WEEKS = 4


def zone(name: str | None, default: str = "Asia/Tokyo") -> ZoneInfo:
    """The timezone called ``name``, falling back to ``default`` when unset or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_start(at: datetime, tz: ZoneInfo) -> date:
    """The Monday (in ``tz``) of the week ``at`` falls in."""
    return monday_of(at.astimezone(tz).date())


def window_start(now: datetime, *, tz: ZoneInfo, weeks: int) -> datetime:
    """Midnight (in ``tz``) on the Monday that opens the ``weeks``-week window ending this week."""
    first = week_start(now, tz) - timedelta(weeks=weeks - 1)
    return datetime(first.year, first.month, first.day, tzinfo=tz)


def _weeks(now: datetime, tz: ZoneInfo, weeks: int) -> list[date]:
    this_week = week_start(now, tz)
    return [this_week - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]


# ------------------------------------------------------------------------------- one person


@dataclass(frozen=True, slots=True)
class WeekScores:
    """Averages (1–5) of one week's check-ins; None where nothing was recorded."""

    week_start: date
    count: int
    energy: float | None
    boundaries: float | None
    client_respect: float | None


def _mean(values: Iterable[int | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def weekly_trend(checkins: Iterable[Any], *, now: datetime, tz: ZoneInfo, weeks: int = TREND_WEEKS) -> list[WeekScores]:
    """One entry per week for the last ``weeks`` weeks (oldest first, this week last).

    ``checkins`` are rows with ``at``, ``energy``, ``boundaries``, ``client_respect``."""
    starts = _weeks(now, tz, weeks)
    buckets: dict[date, list[Any]] = {s: [] for s in starts}
    for c in checkins:
        ws = week_start(c.at, tz)
        if ws in buckets:
            buckets[ws].append(c)
    out = []
    for s in starts:
        rows = buckets[s]
        avg = {m: _mean(getattr(r, m) for r in rows) for m in SCORES}
        out.append(WeekScores(week_start=s, count=len(rows), **avg))
    return out


def weekly_kind_counts(signals: Iterable[Any], *, now: datetime, tz: ZoneInfo, weeks: int,
                       kinds: Sequence[str] = SIGNAL_KINDS) -> dict[date, Counter]:
    """For each of the last ``weeks`` weeks (oldest first), how often each of ``kinds`` was noticed.
    ``signals`` are rows with ``at`` and ``kind``; their evidence is never looked at."""
    per: dict[date, Counter] = {w: Counter() for w in _weeks(now, tz, weeks)}
    for s in signals:
        if s.kind not in kinds:
            continue
        counter = per.get(week_start(s.at, tz))
        if counter is not None:
            counter[s.kind] += 1
    return per


def weekly_patterns(signals: Iterable[Any], *, now: datetime, tz: ZoneInfo,
                    weeks: int = PATTERN_WEEKS) -> list[tuple[date, Counter]]:
    """(week start, Counter of signal kinds) for the last ``weeks`` weeks that had any, newest first."""
    per = weekly_kind_counts(signals, now=now, tz=tz, weeks=weeks)
    return sorted(((w, c) for w, c in per.items() if c), key=lambda kv: kv[0], reverse=True)


# ----------------------------------------------------------------------------- a team's pulse
# Privacy rules (see handlers/slack/pulse.py for the job that posts it): nothing for a week with
# fewer than the minimum of people; weeks only go forward; no two releases' contributor sets differ
# by fewer than that minimum; only aggregates, patterns counted in people, never the crisis kind.

PULSE_MIN_MEMBERS = 5
PULSE_MIN_FLOOR = 3  # bot.settings.PULSE_MIN_FLOOR: SLACK_PULSE_MIN_MEMBERS is refused below it
MIN_PATTERN_PEOPLE = 2
TOP_PATTERNS = 3
PULSE_POST_AT = time(9, 0)  # Monday, the team's local time
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
    this_monday = monday_of(local.date())
    report_at = datetime.combine(this_monday, PULSE_POST_AT, tz)
    monday = this_monday - timedelta(weeks=1 if local >= report_at else 2)
    wid = week_id(monday)
    if last_week_id is not None and week_order(wid) <= week_order(last_week_id):
        return None
    start = datetime.combine(monday, time(0), tz)
    return PulseWeek(start=start, end=start + timedelta(weeks=1), monday=monday, week_id=wid)


def summarize_team_week(checkins: Sequence[tuple[Any, int | None, int | None, int | None]],
                        signals: Sequence[tuple[Any, str]], *, min_members: int = PULSE_MIN_MEMBERS,
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
    return hmac.new(secret.encode(), f"pulse:{team_id}:{person}".encode(), hashlib.sha256).hexdigest()[:32]
