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


def install_senders(runtime: Runtime) -> None:
    """Give ``runtime`` a sender for each channel that is on, so reminders and retries can push."""
    s = runtime.settings
    builders = [web.build_sender]
    if s.line_enabled:
        builders.append(line.build_sender)
    if s.slack_enabled:
        builders.append(slack.build_sender)
    for build in builders:
        sender = build(runtime)
        if sender is not None:
            runtime.senders[sender.platform] = sender


def build_channels(runtime: Runtime) -> list[Channel]:
    """The channels this configuration turns on: the web chat always, LINE and Slack when set."""
    s = runtime.settings
    builders = [web.build_channel]
    if s.line_enabled:
        builders.append(line.build_channel)
    if s.slack_enabled:
        builders.append(slack.build_channel)
    channels = [channel for build in builders if (channel := build(runtime)) is not None]
    return channels


async def build(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow,
                migrate: bool | None = None, **db_kwargs) -> Runtime:
    """The core's runtime with every enabled channel's sender installed."""
    runtime = await build_runtime(settings, clock=clock, migrate=migrate, **db_kwargs)
    install_senders(runtime)
    return runtime
