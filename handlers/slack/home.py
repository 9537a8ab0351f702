"""App Home: the user's check-in trend, the patterns noticed lately, and reminder buttons.

The core reads what a home shows into a ``bot.types.HomeView`` (``bot.home.load_home``); this
module only encodes it (``encode_home``) as a Block Kit ``home`` view in the user's language.
Never any text the user wrote.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from bot.insights import SCORES as METRICS
from bot.insights import WeekScores, weekly_patterns, weekly_trend
from bot.types import SIGNAL_KINDS, HomeView, ReminderStatus
from handlers.slack.blocks import ACTION_PREFIX, button, escape, section

__all__ = ["build_home_view", "encode_home", "reminder_line", "sparkline", "trend_lines",
           "weekly_patterns", "weekly_trend", "WeekScores"]  # the last three: from bot.insights
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


def reminder_line(status: ReminderStatus | None, *, lang: str, text: Callable[..., str], content) -> str | None:
    """The reminders section's status line, in ``lang``; None when there is nothing to say."""
    if status is None:
        return None
    if status.state == "off":
        return text("slack.home.reminders_off")
    if status.state == "paused":
        return text("slack.home.reminders_paused", {"date": short_date(status.paused_until, lang)})
    if status.preset_label is not None:
        schedule = content.text(status.preset_label, lang)
    else:
        days = ", ".join(text(f"slack.day.{d}") for d in status.days)
        schedule = f"{days} {status.time_of_day}"
    return text("slack.home.reminders_on", {"schedule": schedule})


def encode_home(view: HomeView, *, content) -> dict[str, Any]:
    """The core's ``HomeView`` as the Block Kit ``home`` view for ``views.publish``, in its language."""
    lang = view.language

    def text(mid: str, values: dict[str, Any] | None = None) -> str:
        return content.text(mid, lang, values)

    return build_home_view(trend=view.trend, patterns=[(ws, Counter(dict(kinds))) for ws, kinds in view.patterns],
                           lang=lang, text=text,
                           reminder_status=reminder_line(view.reminders, lang=lang, text=text, content=content))
