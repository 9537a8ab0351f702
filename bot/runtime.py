"""Wiring: settings → database, content, detectors, coach, senders. Shared by every entry point."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from bot.content import Content, load_content
from bot.delivery import Sender
from bot.service import Coach, utcnow
from bot.settings import Settings, load_settings
from bot.store.db import Database

if TYPE_CHECKING:  # pragma: no cover
    from bot.inbox import InboxWorker
    from bot.metrics import Metrics
    from bot.reminders.dispatch import Dispatcher
    from bot.reminders.service import Reminders
    from bot.retention import Purger

log = logging.getLogger("bansou")


@dataclass(slots=True)
class Runtime:
    """Everything a process needs, built once at start-up."""

    settings: Settings
    db: Database
    content: Content
    detector: Any
    coach: Coach
    clock: Callable[[], datetime]
    senders: dict[str, Sender] = field(default_factory=dict)
    # Housekeeping the scheduler runs on an interval: (name, seconds, async fn(runtime)).
    periodic: list[tuple[str, float, Callable[["Runtime"], Awaitable[Any]]]] = field(default_factory=list)
    # Services the core's domains and loops install (bot.metrics, bot.retention, bot.reminders).
    metrics: Metrics | None = None
    metrics_unhook: Callable[[], None] | None = None  # stops counting the inbox's enqueues
    retention_purgers: list[Purger] = field(default_factory=list)  # domains' stored text, same schedule
    reminders: Reminders | None = None
    reminder_dispatcher: Dispatcher | None = None  # set while this process runs the scheduler
    inbox: InboxWorker | None = None  # set while this process runs the inbox worker
    # The edge's own parts (``handlers.edge.Edge``: SDK clients, the ASGI app); the core never reads it.
    edge: Any = None

    async def close(self) -> None:
        unhook, self.metrics_unhook = self.metrics_unhook, None
        if unhook is not None:
            unhook()
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
        await self.db.dispose()


def load_core(settings: Settings) -> tuple[Content, Any]:
    """Load and validate content and lexicons; raises ContentInvalid (start-up refuses broken content)."""
    from bot.detect import load_detector

    content = load_content(settings.content_dir)
    detector = load_detector(settings.content_dir)
    unverified = content.crisis.book.unverified() if content.crisis else []
    if unverified:  # content/README.md, "When the shipped lines were last checked"
        log.warning("crisis resources not yet checked against their sources (verify_before_release)",
                    extra={"count": len(unverified)})
    return content, detector


def _install_domains(runtime: Runtime) -> None:
    """Let each domain beyond the core register its interpreters and effect handlers."""
    from bot import metrics, retention
    from bot.domain import domains

    metrics.install(runtime)
    retention.install(runtime)
    for domain in domains():
        if domain.install is not None:
            domain.install(runtime)


async def build_runtime(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow,
                        migrate: bool | None = None, **db_kwargs) -> Runtime:
    """Build the runtime. ``migrate`` defaults to True on SQLite (a newcomer's `make run` just works);
    production runs ``bansou db upgrade`` in the release phase instead."""
    settings = settings or load_settings()
    settings.check()
    content, detector = load_core(settings)
    if migrate is None:
        migrate = settings.is_sqlite
    if migrate:
        from bot.store.migrate import upgrade

        await upgrade(settings.database_url)
    db = Database(settings.database_url, **db_kwargs)
    coach = Coach(db=db, content=content, detector=detector, default_language=settings.default_language,
                  default_timezone=settings.default_timezone, clock=clock)
    runtime = Runtime(settings=settings, db=db, content=content, detector=detector, coach=coach, clock=clock)
    _install_domains(runtime)
    return runtime
