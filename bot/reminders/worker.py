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


STOP_WAIT_SECONDS = 8.0


def _guarded(name: str, fn, running: set[asyncio.Task]):
    async def run(*args):
        task = asyncio.current_task()
        running.add(task)
        try:
            await fn(*args)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next tick tries again
            log.exception("scheduled job failed", extra={"job": name})
        finally:
            running.discard(task)
    return run


def build_scheduler(runtime, dispatcher: Dispatcher, running: set[asyncio.Task] | None = None):
    """An AsyncIOScheduler with the dispatch tick and every periodic job (not started). Jobs in
    flight are kept in ``running`` so shutdown can wait for them."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    running = running if running is not None else set()
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    first = datetime.now(timezone.utc)
    scheduler.add_job(_guarded("reminders", dispatcher.run_pass, running), "interval",
                      seconds=tick_seconds(runtime), id="reminders", max_instances=1, coalesce=True,
                      next_run_time=first)
    for name, seconds, fn in runtime.periodic:
        scheduler.add_job(_guarded(name, fn, running), "interval", seconds=seconds, args=[runtime],
                          id=f"periodic:{name}", max_instances=1, coalesce=True)
    return scheduler


async def scheduler_task(runtime, stop: asyncio.Event) -> None:
    """Run the scheduler until ``stop`` is set, then let a pass in flight finish."""
    dispatcher = Dispatcher(runtime)
    runtime.reminder_dispatcher = dispatcher
    running: set[asyncio.Task] = set()
    scheduler = build_scheduler(runtime, dispatcher, running)
    scheduler.start()
    log.info("scheduler started", extra={"jobs": len(scheduler.get_jobs())})
    try:
        await stop.wait()
    finally:
        # Stop starting jobs, let the ones in flight finish (the database closes after us), and
        # only then shut down: APScheduler's shutdown cancels job tasks that are still running.
        scheduler.pause()
        await asyncio.sleep(0)  # a job task created this instant registers itself
        if running:
            await asyncio.wait(set(running), timeout=STOP_WAIT_SECONDS)
        scheduler.shutdown(wait=False)
        if running:
            await asyncio.wait(set(running), timeout=1.0)
        log.info("scheduler stopped")
