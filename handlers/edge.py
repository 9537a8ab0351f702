"""What only the edge keeps for a running process: the adapters' SDK clients and app objects.

The core's ``Runtime`` has one slot for it (``runtime.edge``) and never reads it; the adapters
reach it through ``edge_of(runtime)`` and find named, typed fields, not a string registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

if TYPE_CHECKING:  # pragma: no cover
    from starlette.applications import Starlette

    from bot.runtime import Runtime
    from handlers.channel import Channel
    from handlers.line.api import LineApi
    from handlers.line.quota import QuotaGauges
    from handlers.slack import SlackParts
    from handlers.web.api import WebChat


@dataclass(slots=True)
class Edge:
    """The adapters' shared parts, built once per runtime by the first adapter that needs each."""

    channels: dict[str, Channel] = field(default_factory=dict)  # the channels mounted in the ASGI app
    asgi_app: Starlette | None = None
    web: WebChat | None = None
    line_api: LineApi | None = None  # one LINE client for the webhook's replies and the pushes
    line_quota_gauges: QuotaGauges | None = None
    slack: SlackParts | None = None  # Slack's client, sender, OAuth stores, Bolt app
    # Run on each /metrics scrape before rendering (e.g. LINE's quota gauges from the database).
    metrics_scrape_hooks: list[Callable[[Runtime], Awaitable[None]]] = field(default_factory=list)


def edge_of(runtime: Runtime) -> Edge:
    """The runtime's edge parts (created empty on first use)."""
    if runtime.edge is None:
        runtime.edge = Edge()
    return runtime.edge
