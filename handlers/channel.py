"""What an adapter gives the app: its routes, its inbox processor, and start/stop hooks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from starlette.routing import BaseRoute

from bot.inbox import InboxProcessor


@dataclass
class Channel:
    """One platform adapter mounted into the ASGI app."""

    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    # Paths answered by a plain ASGI app ahead of the framework's routing (hot webhooks).
    asgi_paths: dict[str, Callable[..., Awaitable[None]]] = field(default_factory=dict)
    processor: InboxProcessor | None = None
    on_start: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
