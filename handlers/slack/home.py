"""App Home: the user's check-in trend, the patterns noticed lately, and reminder buttons.

The numbers come from pure functions over rows (``weekly_trend``, ``weekly_patterns``) so they
can be tested on their own; ``build_home_view`` turns them into a Block Kit ``home`` view in the
user's language, and ``load_home_view`` reads the rows. Never any text the user wrote.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.types import SIGNAL_KINDS
from handlers.slack.blocks import ACTION_PREFIX, button, escape, section

TREND_WEEKS = 8
PATTERN_WEEKS = 4
METRICS = ("energy", "boundaries", "client_respect")
SPARK = "▁▂▃▄▅▆▇█"
NO_DATA = "·"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HOME_BUTTONS = (  # (message id of the label, action name, engine choice value)
    ("slack.home.btn_checkin", "checkin", "go:checkin"),
    ("slack.home.btn_settings", "settings", "go:settings"),
    ("slack.home.btn_stop", "stop", "cmd:stop_reminders"),
    ("slack.home.btn_resume", "resume", "cmd:resume"),
    ("slack.home.btn_menu", "menu", "cmd:menu"),
)


@dataclass(frozen=True, slots=True)
class WeekScores:
    """Averages (1–5) of one week's check-ins; None where nothing was recorded."""

    week_start: date
    count: int
    energy: float | None
    boundaries: float | None
    client_respect: float | None


def zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def week_start(at: datetime, tz: ZoneInfo) -> date:
    """The Monday (in ``tz``) of the week ``at`` falls in."""
    local = at.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def weekly_trend(checkins: Sequence[Any], *, now: datetime, tz: ZoneInfo, weeks: int = TREND_WEEKS) -> list[WeekScores]:
    """One entry per week for the last ``weeks`` weeks (oldest first, this week last).

    ``checkins`` are rows with ``at``, ``energy``, ``boundaries``, ``client_respect``."""
    this_week = week_start(now, tz)
    starts = [this_week - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    buckets: dict[date, list[Any]] = {s: [] for s in starts}
    for c in checkins:
        ws = week_start(c.at, tz)
        if ws in buckets:
            buckets[ws].append(c)
    out = []
    for s in starts:
        rows = buckets[s]
        avg = {m: _mean([getattr(r, m) for r in rows]) for m in METRICS}
        out.append(WeekScores(week_start=s, count=len(rows), **avg))
    return out


def _mean(values: Sequence[int | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def weekly_patterns(signals: Sequence[Any], *, now: datetime, tz: ZoneInfo,
                    weeks: int = PATTERN_WEEKS) -> list[tuple[date, Counter]]:
    """(week start, Counter of signal kinds) for the last ``weeks`` weeks that had any, newest first.
    ``signals`` are rows with ``at`` and ``kind``; their evidence is never looked at."""
    this_week = week_start(now, tz)
    oldest = this_week - timedelta(weeks=weeks - 1)
    per: dict[date, Counter] = {}
    for s in signals:
        ws = week_start(s.at, tz)
        if oldest <= ws <= this_week and s.kind in SIGNAL_KINDS:
            per.setdefault(ws, Counter())[s.kind] += 1
    return sorted(per.items(), key=lambda kv: kv[0], reverse=True)


def spark(value: float | None, *, low: float = 1.0, high: float = 5.0) -> str:
    """One bar character for a score between ``low`` and ``high`` (``·`` for no data)."""
    if value is None:
        return NO_DATA
    frac = (min(max(value, low), high) - low) / (high - low)
    return SPARK[round(frac * (len(SPARK) - 1))]


def sparkline(values: Sequence[float | None]) -> str:
    return "".join(spark(v) for v in values)


def short_date(d: date, lang: str) -> str:
    return f"{d.month}/{d.day}" if lang == "ja" else f"{_MONTHS[d.month - 1]} {d.day}"


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _pad(s: str, width: int) -> str:
    return s + " " * max(width - _width(s), 0)


def trend_lines(trend: Sequence[WeekScores], *, label: Callable[[str], str], latest: Callable[[str], str]) -> list[str]:
    """Aligned lines: metric label, one bar per week, the latest week's average that has one."""
    labels = {m: label(m) for m in METRICS}
    width = max(_width(v) for v in labels.values()) + 2
    lines = []
    for m in METRICS:
        values = [getattr(w, m) for w in trend]
        last = next((v for v in reversed(values) if v is not None), None)
        tail = f"  {latest(f'{last:.1f}')}" if last is not None else ""
        lines.append(_pad(labels[m], width) + sparkline(values) + tail)
    return lines


def build_home_view(*, trend: Sequence[WeekScores], patterns: Sequence[tuple[date, Counter]], lang: str,
                    text: Callable[..., str], reminder_status: str | None = None) -> dict[str, Any]:
    """The Block Kit ``home`` view. ``text(message_id, values=None)`` gives our words in ``lang``."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text("slack.home.title")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text("slack.home.intro"))}]},
        {"type": "divider"},
        section(f"*{escape(text('slack.home.trend_title'))}*"),
    ]
    if any(w.count for w in trend):
        lines = trend_lines(trend, label=lambda m: text(f"slack.home.metric.{m}"),
                            latest=lambda v: text("slack.home.latest", {"value": v}))
        blocks.append(section("```" + escape("\n".join(lines)) + "```"))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text(
            "slack.home.trend_legend", {"first": short_date(trend[0].week_start, lang),
                                        "last": short_date(trend[-1].week_start, lang)}))}]})
    else:
        blocks.append(section(escape(text("slack.home.trend_empty"))))
    blocks.append({"type": "actions", "elements": [
        button(text("slack.home.btn_checkin"), "go:checkin", f"{ACTION_PREFIX}home.checkin", style="primary")]})
    blocks += [{"type": "divider"}, section(f"*{escape(text('slack.home.patterns_title'))}*")]
    if patterns:
        rows = []
        for ws, counts in patterns:
            kinds = " · ".join(f"{text(f'slack.kind.{k}')} ×{n}"
                               for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], SIGNAL_KINDS.index(kv[0]))))
            rows.append(f"*{escape(text('slack.home.week_of', {'date': short_date(ws, lang)}))}*  {escape(kinds)}")
        blocks.append(section("\n".join(rows)))
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": escape(text("slack.home.patterns_note"))}]})
    else:
        blocks.append(section(escape(text("slack.home.patterns_empty"))))
    blocks += [{"type": "divider"}, section(f"*{escape(text('slack.home.reminders_title'))}*")]
    status = escape(reminder_status) + "\n" if reminder_status else ""
    blocks.append(section(status + escape(text("slack.home.reminders_text"))))
    blocks.append({"type": "actions", "elements": [
        button(text(mid), value, f"{ACTION_PREFIX}home.{name}")
        for mid, name, value in HOME_BUTTONS if name != "checkin"]})
    return {"type": "home", "blocks": blocks}


async def reminder_status(session, user, *, lang: str, text: Callable[..., str], content,
                          now: datetime) -> str | None:
    """A line about the user's reminders, read from the reminders domain's table when it exists."""
    try:
        from bot.reminders.models import ReminderPrefs
    except ImportError:  # reminders not installed in this build
        return None
    prefs = await session.get(ReminderPrefs, user.id)
    if prefs is None or not prefs.enabled:
        return text("slack.home.reminders_off")
    tz = zone(user.timezone, "UTC")
    if prefs.paused_until is not None and prefs.paused_until > now:
        return text("slack.home.reminders_paused", {"date": short_date(prefs.paused_until.astimezone(tz).date(), lang)})
    preset = content.presets.get(prefs.preset) if prefs.preset else None
    if preset is not None:
        schedule = content.text(preset.label, lang)
    else:
        days = ", ".join(text(f"slack.day.{d}") for d in prefs.days.split(",") if d)
        schedule = f"{days} {prefs.time_of_day}"
    return text("slack.home.reminders_on", {"schedule": schedule})


async def load_home_view(session, runtime, *, user, lang: str, now: datetime) -> dict[str, Any]:
    """Read the user's recent check-ins and signals and build their home view (user may be None)."""
    from bot.store import repo

    def text(mid: str, values: dict[str, Any] | None = None) -> str:
        return runtime.content.text(mid, lang, values)

    tz = zone(user.timezone if user is not None else None, runtime.settings.default_timezone)
    since = datetime.combine(week_start(now, tz) - timedelta(weeks=TREND_WEEKS - 1), datetime.min.time(), tz)
    checkins = await repo.checkins_since(session, user.id, since) if user is not None else []
    signals = await repo.signals_since(session, user.id, since) if user is not None else []
    status = None
    if user is not None:
        status = await reminder_status(session, user, lang=lang, text=text, content=runtime.content, now=now)
    return build_home_view(trend=weekly_trend(checkins, now=now, tz=tz),
                           patterns=weekly_patterns(signals, now=now, tz=tz), lang=lang, text=text,
                           reminder_status=status)
