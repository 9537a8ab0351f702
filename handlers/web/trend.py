"""The "my trend" summary: check-in scores over time and pattern counts per week (never text).

Pure: takes rows and the clock's ``now``, returns plain JSON-able data. Weeks start on Monday in
the user's own timezone.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from bot.types import SIGNAL_KINDS

SCORES = ("energy", "boundaries", "client_respect")
# Crisis moments are not drawn as a "pattern" on a chart; they are handled as safety, not trend.
TREND_KINDS = tuple(k for k in SIGNAL_KINDS if k != "crisis")


@dataclass(frozen=True, slots=True)
class CheckinPoint:
    at: datetime
    energy: int | None
    boundaries: int | None
    client_respect: int | None


@dataclass(frozen=True, slots=True)
class SignalPoint:
    at: datetime
    kind: str


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def window_start(now: datetime, *, tz: ZoneInfo, weeks: int) -> datetime:
    """Midnight (user's time) on the Monday that opens the ``weeks``-week window ending this week."""
    first = week_start(now.astimezone(tz).date()) - timedelta(weeks=weeks - 1)
    return datetime(first.year, first.month, first.day, tzinfo=tz)


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def summarise(checkins: Iterable[CheckinPoint], signals: Iterable[SignalPoint], *, tz: ZoneInfo,
              now: datetime, weeks: int) -> dict[str, Any]:
    """Check-ins (each, and averaged per week) and signal counts per week over the last ``weeks`` weeks."""
    start = window_start(now, tz=tz, weeks=weeks)
    first_week = start.date()
    week_list = [first_week + timedelta(weeks=i) for i in range(weeks)]
    per_week_scores: dict[date, dict[str, list[int]]] = {w: {s: [] for s in SCORES} for w in week_list}
    per_week_counts: dict[date, int] = {w: 0 for w in week_list}
    per_week_kinds: dict[date, Counter] = {w: Counter() for w in week_list}
    points = []
    for c in sorted(checkins, key=lambda c: c.at):
        if c.at < start:
            continue
        local = c.at.astimezone(tz)
        w = week_start(local.date())
        if w not in per_week_scores:
            continue
        points.append({"at": c.at.isoformat(), "date": local.date().isoformat(),
                       **{s: getattr(c, s) for s in SCORES}})
        per_week_counts[w] += 1
        for s in SCORES:
            v = getattr(c, s)
            if v is not None:
                per_week_scores[w][s].append(v)
    for sig in signals:
        if sig.at < start or sig.kind not in TREND_KINDS:
            continue
        w = week_start(sig.at.astimezone(tz).date())
        if w in per_week_kinds:
            per_week_kinds[w][sig.kind] += 1
    week_rows = []
    for w in week_list:
        week_rows.append({
            "week": w.isoformat(),
            "checkins": per_week_counts[w],
            "average": {s: _mean(per_week_scores[w][s]) for s in SCORES},
            "patterns": {k: per_week_kinds[w][k] for k in TREND_KINDS if per_week_kinds[w][k]},
        })
    return {
        "timezone": tz.key,
        "from": start.date().isoformat(),
        "weeks": week_rows,
        "checkins": points,
        "scores": list(SCORES),
        "kinds": list(TREND_KINDS),
    }
