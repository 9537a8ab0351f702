"""``GET /metrics``: this process's Prometheus metrics, with inbox and database gauges read at scrape.

With ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <METRICS_TOKEN>`` (401
otherwise). Without it the endpoint stays open (a fresh install on a laptop) but leaves out what
says something about people: how often crisis came up (signals and crisis care)."""
from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.metrics import CONTENT_TYPE, metrics_of, read_reminder_statuses
from bot.runtime import Runtime
from handlers.edge import edge_of


def metrics_route(runtime: Runtime) -> Route:
    """The route serving ``runtime``'s metrics in the Prometheus text format."""
    metrics = metrics_of(runtime)
    token = runtime.settings.metrics_token

    async def endpoint(request: Request) -> Response:
        if token and not bearer_ok(request.headers.get("authorization"), token):
            return PlainTextResponse("a bearer token is required", status_code=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        up = await runtime.db.ping()
        metrics.database_up.set(1 if up else 0)
        inbox = runtime.inbox
        if up and inbox is not None:
            try:
                metrics.set_inbox_counts(await inbox.counts())
            except Exception:  # noqa: BLE001 - a scrape must still answer when the query fails
                metrics.database_up.set(0)
        if up:
            try:
                await read_reminder_statuses(runtime)
                for hook in edge_of(runtime).metrics_scrape_hooks:  # e.g. LINE's quota gauges
                    await hook(runtime)
            except Exception:  # noqa: BLE001
                metrics.database_up.set(0)
        body = metrics.render()
        return Response(body if token else without_private_series(body), media_type=CONTENT_TYPE)

    return Route("/metrics", endpoint, methods=["GET"])


def bearer_ok(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


PRIVATE_LABELS = (b'kind="crisis"',)
PRIVATE_METRICS = (b"bansou_crisis_care",)


def without_private_series(body: bytes) -> bytes:
    """The exposition without what counts crises: the crisis signal samples and the crisis care
    metric (shown only to an authorised scraper)."""
    def private(line: bytes) -> bool:
        name = line[7:] if line.startswith((b"# HELP ", b"# TYPE ")) else line
        return any(label in line for label in PRIVATE_LABELS) or name.startswith(PRIVATE_METRICS)

    return b"".join(line for line in body.splitlines(keepends=True) if not private(line))
