"""``bansou serve``: build the runtime, then run the ASGI app under uvicorn, guarded against clients
that hold connections without using them.

uvicorn closes a kept-alive connection after ``timeout_keep_alive``, but never one that connects
and sends nothing (or trickles its headers), and counts every such connection towards
``limit_concurrency``, past which every request (``/healthz`` too) gets a 503. ``ConnectionGuard``
fills that gap without touching uvicorn's internals: it wraps each connection's protocol (by
composition) and learns from an ASGI middleware when a request starts and ends, so it knows which
connections are idle. An idle connection is closed after ``idle_timeout`` seconds, and when more
than ``max_idle`` are idle the longest-idle go first, so a flood of idle connections never leaves
a real request without a slot. Slow bodies are ``handlers.hardening.RequestLimits``' part.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from typing import Any, Callable

import uvicorn

from bot.runtime import build_runtime
from handlers.app import create_app

log = logging.getLogger("bansou.server")

IDLE_TIMEOUT_SECONDS = 10.0  # a connection with no request in progress (headers included)
MAX_IDLE_CONNECTIONS = 512
LIMIT_CONCURRENCY = 2000  # uvicorn's own cap (connections + tasks), kept above MAX_IDLE_CONNECTIONS
KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024  # h11: the largest incomplete request head it buffers


class GuardedConnection:
    """An asyncio protocol that hands everything to the server's own protocol and reports to the guard."""

    def __init__(self, guard: "ConnectionGuard", inner: asyncio.Protocol):
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.peer: tuple | None = None
        self.idle_since = guard.clock()

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = tuple(peer[:2]) if isinstance(peer, (tuple, list)) else None
        self.inner.connection_made(transport)
        self.guard.opened(self)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self):
        return self.inner.eof_received()

    def connection_lost(self, exc) -> None:  # noqa: ANN001
        self.guard.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class ConnectionGuard:
    """Every connection of one server: which are idle, since when; closes the ones idle too long."""

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS, max_idle: int = MAX_IDLE_CONNECTIONS,
                 clock: Callable[[], float] = time.monotonic):
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle
        self.clock = clock
        self._idle: OrderedDict[int, GuardedConnection] = OrderedDict()  # longest idle first
        self._by_peer: dict[tuple, GuardedConnection] = {}
        self._busy: dict[tuple, int] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed_idle = 0

    # -- the protocol side --------------------------------------------------------------------
    def protocol_factory(self, inner_class) -> Callable[..., GuardedConnection]:  # noqa: ANN001
        def create(**kwargs: Any) -> GuardedConnection:
            return GuardedConnection(self, inner_class(**kwargs))
        return create

    def opened(self, conn: GuardedConnection) -> None:
        if conn.peer is None:  # e.g. a Unix socket: requests cannot be matched to it; left alone
            return
        self._by_peer[conn.peer] = conn
        self._mark_idle(conn)
        while len(self._idle) > self.max_idle:
            _, oldest = self._idle.popitem(last=False)
            self._close(oldest)
        self._schedule()

    def closed(self, conn: GuardedConnection) -> None:
        self._idle.pop(id(conn), None)
        if conn.peer is not None and self._by_peer.get(conn.peer) is conn:
            del self._by_peer[conn.peer]
            self._busy.pop(conn.peer, None)

    # -- the ASGI side ------------------------------------------------------------------------
    def request_started(self, peer: tuple | None) -> None:
        conn = self._by_peer.get(peer) if peer is not None else None
        if conn is not None:
            self._busy[peer] = self._busy.get(peer, 0) + 1
            self._idle.pop(id(conn), None)

    def request_finished(self, peer: tuple | None) -> None:
        conn = self._by_peer.get(peer) if peer is not None else None
        if conn is None:
            return
        left = self._busy.get(peer, 1) - 1
        if left > 0:
            self._busy[peer] = left
        else:
            self._busy.pop(peer, None)
            self._mark_idle(conn)

    def wrap(self, app):  # noqa: ANN001
        """The ASGI app that tells this guard when each request starts and ends."""
        async def tracked(scope, receive, send) -> None:  # noqa: ANN001
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            client = scope.get("client")
            peer = tuple(client[:2]) if client else None
            self.request_started(peer)
            try:
                await app(scope, receive, send)
            finally:
                self.request_finished(peer)
        return tracked

    # -- housekeeping -------------------------------------------------------------------------
    def _mark_idle(self, conn: GuardedConnection) -> None:
        conn.idle_since = self.clock()
        self._idle.pop(id(conn), None)
        self._idle[id(conn)] = conn

    def _close(self, conn: GuardedConnection) -> None:
        self.closed_idle += 1
        conn.close()

    def _schedule(self) -> None:
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(min(1.0, self.idle_timeout / 2), self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = self.clock() - self.idle_timeout
        while self._idle:
            key, conn = next(iter(self._idle.items()))
            if conn.idle_since > cutoff:
                break
            del self._idle[key]
            self._close(conn)
        if self._idle or self._by_peer:
            self._schedule()


def server_config(app, *, host: str, port: int, guard: ConnectionGuard | None = None, **overrides) -> uvicorn.Config:
    """uvicorn's config with our limits and timeouts, the app wrapped by ``guard``."""
    guard = guard or ConnectionGuard()
    options: dict[str, Any] = dict(host=host, port=port, log_config=None, access_log=False,
                                   timeout_graceful_shutdown=10, limit_concurrency=LIMIT_CONCURRENCY,
                                   timeout_keep_alive=KEEP_ALIVE_SECONDS, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                                   http="auto")
    options.update(overrides)
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    http = options.pop("http")
    inner = import_from_string(HTTP_PROTOCOLS[http]) if isinstance(http, str) else http
    # The guard must see the connection's own address (it finds the connection by it), so the
    # proxy headers are applied inside it, with uvicorn's own defaults, instead of by uvicorn.
    trusted = options.pop("forwarded_allow_ips", None) or os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    if options.pop("proxy_headers", True):
        app = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
    return uvicorn.Config(guard.wrap(app), http=guard.protocol_factory(inner), proxy_headers=False, **options)


async def _serve(host: str, port: int | None, scheduler: bool) -> int:
    runtime = await build_runtime()
    port = port or runtime.settings.port
    app = create_app(runtime, scheduler=scheduler)
    server = uvicorn.Server(server_config(app, host=host, port=port))
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
