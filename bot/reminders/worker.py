"""The scheduler: APScheduler (3.x) ticks; the state lives in our tables.

An interval job runs a dispatch pass every few seconds (``REMINDER_TICK_SECONDS``, default 5),
and each ``runtime.periodic`` job runs at its own interval. The job store is in memory on
purpose: nothing about reminders is kept in APScheduler, so a restart loses nothing.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from bot.reminders.dispatch import Dispatcher

log = logging.getLogger("bansou.scheduler")
DEFAULT_TICK_SECONDS = 5.0


def tick_seconds(runtime) -> float:
    raw = runtime.settings.extra.get("REMINDER_TICK_SECONDS") if runtime.settings.extra else None
    try:
        return max(0.2, float(raw)) if raw else DEFAULT_TICK_SECONDS
    except ValueError:
        return DEFAULT_TICK_SECONDS


def _guarded(name: str, fn):
    async def run(*args):
        try:
            await fn(*args)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next tick tries again
            log.exception("scheduled job failed", extra={"job": name})
    return run


def build_scheduler(runtime, dispatcher: Dispatcher):
    """An AsyncIOScheduler with the dispatch tick and every periodic job (not started)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    first = datetime.now(timezone.utc)
    scheduler.add_job(_guarded("reminders", dispatcher.run_pass), "interval", seconds=tick_seconds(runtime),
                      id="reminders", max_instances=1, coalesce=True, next_run_time=first)
    for name, seconds, fn in runtime.periodic:
        scheduler.add_job(_guarded(name, fn), "interval", seconds=seconds, args=[runtime], id=f"periodic:{name}",
                          max_instances=1, coalesce=True)
    return scheduler


async def scheduler_task(runtime, stop: asyncio.Event) -> None:
    """Run the scheduler until ``stop`` is set, then let a pass in flight finish."""
    dispatcher = Dispatcher(runtime)
    runtime.extras["reminder_dispatcher"] = dispatcher
    scheduler = build_scheduler(runtime, dispatcher)
    scheduler.start()
    log.info("scheduler started", extra={"jobs": len(scheduler.get_jobs())})
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        async with dispatcher.lock:  # wait for a pass in flight
            pass
        log.info("scheduler stopped")
