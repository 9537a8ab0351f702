"""The ASGI app: every channel's routes, health, metrics, and the background loops.

``create_app(runtime)`` mounts the web chat always, LINE and Slack when their credentials are
set, and runs the inbox worker (and, unless told not to, the reminder scheduler) for the app's
lifetime. Shutdown lets in-flight work finish before the database closes.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.inbox import InboxWorker
from bot.runtime import Runtime
from handlers.compose import build_channels, install_senders
from handlers.edge import edge_of

log = logging.getLogger("bansou.app")
SHUTDOWN_GRACE_SECONDS = 10.0
HEALTH_TIMEOUT_SECONDS = 5.0


class AheadOfRouting:
    """ASGI middleware: a request for one of ``paths`` goes straight to that path's ASGI app, past
    the router and Starlette's per-request objects; everything else goes on to the router."""

    def __init__(self, app, *, paths: dict[str, Callable[..., Awaitable[None]]]):
        self.app = app
        self.paths = paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            target = self.paths.get(scope["path"])
            if target is not None:
                await target(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(runtime: Runtime, *, scheduler: bool = True,
               extra_tasks: list[Callable[[asyncio.Event], Awaitable[Any]]] | None = None) -> Starlette:
    from handlers import quiet_sdk_loggers

    quiet_sdk_loggers()  # again: a logging set-up since start-up may have lowered them
    install_senders(runtime)
    channels = build_channels(runtime)
    from bot.metrics import metrics_of, watch_inbox

    metrics = metrics_of(runtime)
    processors = {c.name: metrics.wrap_processor(c.name, c.processor) for c in channels if c.processor is not None}
    worker = InboxWorker(runtime.db, processors, clock=runtime.clock)
    watch_inbox(runtime, worker)
    runtime.inbox = worker
    edge = edge_of(runtime)
    edge.channels = {c.name: c for c in channels}

    async def healthz(_: Request) -> JSONResponse:
        try:  # a database that does not answer at all must still give a prompt 503
            ok = await asyncio.wait_for(runtime.db.ping(), HEALTH_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            ok = False
        return JSONResponse({"status": "ok" if ok else "database unreachable"}, status_code=200 if ok else 503)

    async def readyz(_: Request) -> JSONResponse:
        """200 only when the database takes a write (not read-only, its file not gone), else 503."""
        try:
            ok = await asyncio.wait_for(runtime.db.writable(now=runtime.clock()), HEALTH_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            ok = False
        return JSONResponse({"status": "ready" if ok else "database not writable"}, status_code=200 if ok else 503)

    from handlers.metrics import metrics_route

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
              metrics_route(runtime)]
    for c in channels:
        routes.extend(c.routes)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        for line in runtime.settings.channel_status():
            log.info(line)
        stop = asyncio.Event()
        tasks = []
        for c in channels:
            for hook in c.on_start:
                await hook()
        if processors:
            tasks.append(asyncio.create_task(worker.run(stop), name="inbox"))
        if scheduler:
            from bot.reminders.worker import scheduler_task

            tasks.append(asyncio.create_task(scheduler_task(runtime, stop), name="scheduler"))
        for task_factory in extra_tasks or []:
            tasks.append(asyncio.create_task(task_factory(stop)))
        try:
            yield
        finally:
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS) if tasks else (set(), set())
            for t in pending:
                t.cancel()
            for c in channels:
                for hook in c.on_stop:
                    await hook()
            await runtime.close()

    asgi_paths = {path: target for c in channels for path, target in c.asgi_paths.items()}
    from handlers.hardening import RequestLimits

    middleware = [Middleware(RequestLimits)]  # outermost: every endpoint, before anything reads a byte
    if asgi_paths:
        middleware.append(Middleware(AheadOfRouting, paths=asgi_paths))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = runtime
    edge.asgi_app = app
    return app
