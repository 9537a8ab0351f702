"""The web chat: try bansou in a browser with no LINE or Slack account (always on; platform "web").

``build_channel`` mounts the page and its JSON API (``handlers.web.api``); the web needs no inbox
processor, because a page request waits for its own answer (``coach.handle`` under the user lock).
``build_sender`` gives reminders a way to reach web visitors: messages wait in
``web_pending_messages`` until the page picks them up.
"""
from __future__ import annotations

from bot.runtime import Runtime
from handlers.channel import Channel
from handlers.edge import edge_of
from handlers.web.outbox import PLATFORM, WebSender, idle_visitor_job, purge_job

PURGE_INTERVAL_SECONDS = 3600.0


def build_channel(runtime: Runtime) -> Channel:
    from handlers.web.api import WebChat

    chat = WebChat(runtime)
    edge_of(runtime).web = chat

    async def warm_secret() -> None:
        await chat.cookies.serializer()  # create the shared secret at start-up, not on the first visit

    return Channel(name=PLATFORM, routes=chat.routes(), processor=None, on_start=[warm_secret])


def build_sender(runtime: Runtime) -> WebSender:
    if not any(name == "web_pending_purge" for name, _, _ in runtime.periodic):
        runtime.periodic.append(("web_pending_purge", PURGE_INTERVAL_SECONDS, purge_job))
        runtime.periodic.append(("web_idle_visitor_purge", PURGE_INTERVAL_SECONDS, idle_visitor_job))
    return WebSender(runtime.db, clock=runtime.clock)
