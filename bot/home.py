"""A person's home as data (``bot.types.HomeView``): their check-in trend, the patterns noticed
lately and where their reminders stand, read from the store. The adapters decide how to show it
(Slack: an App Home view); nothing here knows a platform. Never any text the person wrote."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.insights import TREND_WEEKS, weekly_patterns, weekly_trend, window_start, zone
from bot.types import HomeView, ReminderStatus


async def reminder_status(session: AsyncSession, user, *, content, now: datetime) -> ReminderStatus | None:
    """Where the user's reminders stand, read from the reminders domain's table when it exists."""
    try:
        from bot.reminders.models import ReminderPrefs
    except ImportError:  # reminders not installed in this build
        return None
    prefs = await session.get(ReminderPrefs, user.id)
    if prefs is None or not prefs.enabled:
        return ReminderStatus(state="off")
    if prefs.paused_until is not None and prefs.paused_until > now:
        tz = zone(user.timezone, "UTC")
        return ReminderStatus(state="paused", paused_until=prefs.paused_until.astimezone(tz).date())
    preset = content.presets.get(prefs.preset) if prefs.preset else None
    if preset is not None:
        return ReminderStatus(state="on", preset_label=preset.label)
    return ReminderStatus(state="on", days=tuple(d for d in prefs.days.split(",") if d),
                          time_of_day=prefs.time_of_day)


async def load_home(session: AsyncSession, *, user, lang: str, now: datetime, content,
                    default_timezone: str) -> HomeView:
    """The home of ``user`` (None: someone with no user row yet, whose home is empty) at ``now``."""
    from bot.store import repo

    tz = zone(user.timezone if user is not None else None, default_timezone)
    since = window_start(now, tz=tz, weeks=TREND_WEEKS)
    checkins = await repo.checkins_since(session, user.id, since) if user is not None else []
    signals = await repo.signals_since(session, user.id, since) if user is not None else []
    status = await reminder_status(session, user, content=content, now=now) if user is not None else None
    patterns = weekly_patterns(signals, now=now, tz=tz)
    return HomeView(language=lang, trend=tuple(weekly_trend(checkins, now=now, tz=tz)),
                    patterns=tuple((ws, tuple(counts.items())) for ws, counts in patterns),
                    reminders=status)
