"""Serve the real ASGI app (``handlers.app.create_app``) with uvicorn on a loopback port inside the
test's own event loop, so a test can change module-level knobs (e.g. a client timeout) and still
go through real HTTP, the real inbox worker and the real SDK clients."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from bot.runtime import Runtime


@contextlib.asynccontextmanager
async def serve_app(runtime: Runtime, *, scheduler: bool = False,
                    inbox_poll: float | None = 0.2) -> AsyncIterator[str]:
    """Run ``create_app(runtime)`` (lifespan included: inbox worker, channel hooks); yields its base URL."""
    from handlers.app import create_app

    app = create_app(runtime, scheduler=scheduler)
    if inbox_poll is not None and runtime.inbox is not None:
        runtime.inbox.poll_interval = inbox_poll
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
