"""The "my trend" JSON: check-in scores over time and pattern counts per week (never text).

The weekly numbers come from the core (``bot.insights``); this module only shapes them into the
web chat's JSON. Weeks start on Monday in the user's own timezone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from bot.insights import SCORES, week_start, weekly_kind_counts, weekly_trend, window_start
from bot.types import SIGNAL_KINDS

__all__ = ["CheckinPoint", "SignalPoint", "summarise", "window_start", "SCORES", "TREND_KINDS"]

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


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def summarise(checkins: Iterable[CheckinPoint], signals: Iterable[SignalPoint], *, tz: ZoneInfo,
              now: datetime, weeks: int) -> dict[str, Any]:
    """Check-ins (each, and averaged per week) and signal counts per week over the last ``weeks`` weeks."""
    start = window_start(now, tz=tz, weeks=weeks)
    checkins = sorted(checkins, key=lambda c: c.at)
    trend = weekly_trend(checkins, now=now, tz=tz, weeks=weeks)
    kinds = weekly_kind_counts(signals, now=now, tz=tz, weeks=weeks, kinds=TREND_KINDS)
    in_window = {w.week_start for w in trend}
    points = [{"at": c.at.isoformat(), "date": c.at.astimezone(tz).date().isoformat(),
               **{s: getattr(c, s) for s in SCORES}}
              for c in checkins if week_start(c.at, tz) in in_window]
    week_rows = [{
        "week": w.week_start.isoformat(),
        "checkins": w.count,
        "average": {s: _rounded(getattr(w, s)) for s in SCORES},
        "patterns": {k: kinds[w.week_start][k] for k in TREND_KINDS if kinds[w.week_start][k]},
    } for w in trend]
    return {
        "timezone": tz.key,
        "from": start.date().isoformat(),
        "weeks": week_rows,
        "checkins": points,
        "scores": list(SCORES),
        "kinds": list(TREND_KINDS),
    }
