"""``bansou worker``: the reminder scheduler alone, with every enabled channel's sender."""
from __future__ import annotations

import asyncio
import signal

from handlers.compose import build


async def run_worker() -> int:
    from bot.reminders.worker import scheduler_task

    runtime = await build()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await scheduler_task(runtime, stop)
    finally:
        await runtime.close()
    return 0
