"""``GET /metrics``: this process's Prometheus metrics, with inbox and database gauges read at scrape."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.metrics import CONTENT_TYPE, metrics_of, read_reminder_statuses
from bot.runtime import Runtime


def metrics_route(runtime: Runtime) -> Route:
    """The route serving ``runtime``'s metrics in the Prometheus text format."""
    metrics = metrics_of(runtime)

    async def endpoint(_: Request) -> Response:
        up = await runtime.db.ping()
        metrics.database_up.set(1 if up else 0)
        inbox = runtime.extras.get("inbox")
        if up and inbox is not None:
            try:
                metrics.set_inbox_counts(await inbox.counts())
            except Exception:  # noqa: BLE001 - a scrape must still answer when the query fails
                metrics.database_up.set(0)
        if up:
            try:
                await read_reminder_statuses(runtime)
                for hook in runtime.extras.get("metrics_scrape_hooks", ()):  # e.g. LINE's quota gauges
                    await hook(runtime)
            except Exception:  # noqa: BLE001
                metrics.database_up.set(0)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Route("/metrics", endpoint, methods=["GET"])
