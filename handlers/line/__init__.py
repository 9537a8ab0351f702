"""LINE adapter: ``POST /line/webhook`` into the durable inbox, replies through the Messaging API.

``build_channel(runtime)`` mounts it when LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are
set (None otherwise); ``build_sender(runtime)`` gives reminders a push sender. Both share one SDK
client (``edge_of(runtime).line_api``), pointed at LINE_API_BASE_URL.
"""
from __future__ import annotations

from bot.runtime import Runtime
from handlers.channel import Channel
from handlers.edge import edge_of
from handlers.line.api import LineApi, LineSender
from handlers.line.processor import LineProcessor
from handlers.line.webhook import AckFirst, LineWebhook


def line_api(runtime: Runtime) -> LineApi:
    """The process's one LINE client."""
    edge = edge_of(runtime)
    if edge.line_api is None:
        edge.line_api = LineApi(runtime.settings)
    return edge.line_api


def build_sender(runtime: Runtime) -> LineSender | None:
    """A push sender for reminders, or None when LINE is off (also installs the quota watch)."""
    if not runtime.settings.line_enabled:
        return None
    from handlers.line import quota

    quota.install(runtime)
    return LineSender(line_api(runtime), runtime=runtime)


def build_channel(runtime: Runtime) -> Channel | None:
    """The LINE channel (webhook route, inbox processor), or None when LINE is off."""
    if not runtime.settings.line_enabled:
        return None
    from handlers.line import quota
    from handlers.line.richmenu import load_spec

    # A broken rich menu file stops start-up like any broken content (the images are checked by setup).
    load_spec(runtime.settings.content_dir, flows=set(runtime.content.flows),
              commands=set(runtime.content.commands))
    quota.install(runtime)
    api = line_api(runtime)
    ack_first = AckFirst()
    return Channel(name="line",
                   asgi_paths={"/line/webhook": LineWebhook(runtime, ack_first)},
                   processor=LineProcessor(runtime, api, ack_first=ack_first),
                   on_stop=[api.close])


__all__ = ["build_channel", "build_sender", "LineSender", "LineApi", "LineProcessor"]
