"""A fake API for the benchmarks: an aiohttp app on 127.0.0.1, in a process of its own."""
from __future__ import annotations

import asyncio


def serve_routes(routes, port_queue, *, backlog: int = 2048) -> None:
    """Serve ``routes`` (aiohttp ``web.post(...)``/``web.get(...)``) on 127.0.0.1 at a free port, put
    the port on ``port_queue``, and run until the process is killed."""
    from aiohttp import web

    async def main() -> None:
        app = web.Application()
        app.router.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())
