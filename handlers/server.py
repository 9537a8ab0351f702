"""``bansou serve``: build the runtime, then run the ASGI app under uvicorn."""
from __future__ import annotations

import asyncio
import logging

import uvicorn

from bot.runtime import build_runtime
from handlers.app import create_app

log = logging.getLogger("bansou.server")


async def _serve(host: str, port: int | None, scheduler: bool) -> int:
    runtime = await build_runtime()
    port = port or runtime.settings.port
    app = create_app(runtime, scheduler=scheduler)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10, limit_concurrency=2000)
    server = uvicorn.Server(config)
    log.info("serving", extra={"host": host, "port": port})
    await server.serve()
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (what uvicorn picks itself when it owns the loop), else asyncio's:
    a cheaper HTTP transport for the webhooks' acknowledgements."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(*, host: str, port: int | None, scheduler: bool) -> int:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_serve(host, port, scheduler))
