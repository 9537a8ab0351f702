"""The composition root: settings → the core's runtime → the channels that are on → senders.

Every entry point (``bansou serve``, ``bansou worker``, ``bansou nudges send-due``, the ASGI app)
builds its process here. The three adapters are imported by name, below; a channel whose
credentials are unset is left off (``Settings.channel_status`` says which, in one line each, when
the app starts).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from bot.runtime import Runtime, build_runtime
from bot.service import utcnow
from bot.settings import Settings
from handlers import line, slack, web
from handlers.channel import Channel


def enabled_adapters(settings: Settings) -> list:
    """The adapter modules this configuration turns on: the web chat always, LINE and Slack when set."""
    return [web] + ([line] if settings.line_enabled else []) + ([slack] if settings.slack_enabled else [])


def install_senders(runtime: Runtime) -> None:
    """Give ``runtime`` a sender for each channel that is on, so reminders and retries can push."""
    for adapter in enabled_adapters(runtime.settings):
        sender = adapter.build_sender(runtime)
        if sender is not None:
            runtime.senders[sender.platform] = sender


def build_channels(runtime: Runtime) -> list[Channel]:
    """The channels this configuration turns on: the web chat always, LINE and Slack when set."""
    return [channel for adapter in enabled_adapters(runtime.settings)
            if (channel := adapter.build_channel(runtime)) is not None]


async def build(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow,
                migrate: bool | None = None, **db_kwargs) -> Runtime:
    """The core's runtime with every enabled channel's sender installed."""
    runtime = await build_runtime(settings, clock=clock, migrate=migrate, **db_kwargs)
    install_senders(runtime)
    return runtime
