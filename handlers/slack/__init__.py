"""Slack adapter: Bolt (AsyncApp) over the durable inbox and the shared coach.

``build_channel(runtime)`` mounts ``POST /slack/events`` (events, the ``/coach`` command and
interactivity on one Request URL), and ``/slack/install`` + ``/slack/oauth_redirect`` when
SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are set; with SLACK_APP_TOKEN it also connects over Socket
Mode (same listeners, same inbox). ``build_sender(runtime)`` gives reminders the same sender and
registers the weekly team pulse job. Both return None when Slack is off.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.runtime import Runtime
from handlers.edge import edge_of

if TYPE_CHECKING:  # pragma: no cover
    from slack_sdk.web.async_client import AsyncWebClient

    from handlers.slack.processor import ProfileCache
    from handlers.slack.sender import SlackSender

log = logging.getLogger("bansou.slack")
PULSE_INTERVAL_SECONDS = 900.0
LEDGER_PURGE_INTERVAL_SECONDS = 6 * 3600.0
LEDGER_KEEP = timedelta(days=7)
OAUTH_STATE_PURGE_INTERVAL_SECONDS = 600.0


async def purge_expired_oauth_states(runtime: Runtime, *, now) -> int:  # noqa: ANN001
    """Delete OAuth states past their expiry (``GET /slack/install`` makes one for anyone who asks;
    the SDK deletes a state only when it is used)."""
    from datetime import timezone

    from sqlalchemy import delete

    from bot.store.slack_models import slack_oauth_states

    naive_utc = now.astimezone(timezone.utc).replace(tzinfo=None)  # the SDK's column is naive UTC
    async with runtime.db.session() as session:
        result = await session.execute(delete(slack_oauth_states).where(slack_oauth_states.c.expire_at < naive_utc))
        await session.commit()
    gone = result.rowcount or 0
    if gone:
        log.info("purged expired Slack OAuth states", extra={"count": gone})
    return gone


@dataclass(slots=True)
class SlackParts:
    """Slack's client, sender, OAuth stores and profile cache, built once per runtime and shared
    by the channel and the sender; the Bolt app and Socket Mode handler once the channel is built."""

    client: AsyncWebClient
    sender: SlackSender
    installation_store: Any
    state_store: Any
    profiles: ProfileCache
    bolt: Any = None
    socket: Any = None


def _parts(runtime: Runtime) -> SlackParts:
    """The runtime's Slack parts (built on first use)."""
    edge = edge_of(runtime)
    if edge.slack is not None:
        return edge.slack
    from slack_sdk.web.async_client import AsyncWebClient

    from handlers.slack.processor import ProfileCache
    from handlers.slack.sender import SlackSender

    s = runtime.settings
    installation_store = state_store = None
    if s.slack_oauth_enabled:
        from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
        from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

        # Tables come from migration 0003 (never create_tables() at run time).
        installation_store = AsyncSQLAlchemyInstallationStore(client_id=s.slack_client_id, engine=runtime.db.engine)
        state_store = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=runtime.db.engine)
    token = None if s.slack_oauth_enabled else s.slack_bot_token
    client = AsyncWebClient(token=token, base_url=s.slack_api_base_url, timeout=10)
    refresher = None
    if installation_store is not None:
        from handlers.slack.rotation import TokenRefresher

        refresher = TokenRefresher(installation_store, client_id=s.slack_client_id, client_secret=s.slack_client_secret,
                                   client=AsyncWebClient(base_url=s.slack_api_base_url, timeout=10))
    sender = SlackSender(runtime, client=client, installation_store=installation_store, refresher=refresher)
    edge.slack = SlackParts(client=client, sender=sender, installation_store=installation_store,
                            state_store=state_store, profiles=ProfileCache(sender))
    return edge.slack


def build_sender(runtime: Runtime):
    """The Slack sender for reminders (None when Slack is off); also registers Slack's periodic jobs."""
    if not runtime.settings.slack_enabled:
        return None
    sender = _parts(runtime).sender
    names = {name for name, _, _ in runtime.periodic}
    if "slack_team_pulse" not in names:
        from handlers.slack.pulse import run_team_pulse
        from handlers.slack.sender import purge_posted_parts

        async def team_pulse(rt: Runtime):
            return await run_team_pulse(rt, sender=sender)

        async def purge_ledger(rt: Runtime):
            return await purge_posted_parts(rt, before=rt.clock() - LEDGER_KEEP)

        async def purge_states(rt: Runtime):
            return await purge_expired_oauth_states(rt, now=rt.clock())

        runtime.periodic.append(("slack_team_pulse", PULSE_INTERVAL_SECONDS, team_pulse))
        runtime.periodic.append(("slack_posted_purge", LEDGER_PURGE_INTERVAL_SECONDS, purge_ledger))
        runtime.periodic.append(("slack_oauth_state_purge", OAUTH_STATE_PURGE_INTERVAL_SECONDS, purge_states))
    return sender


def build_channel(runtime: Runtime):
    """The Slack channel for the ASGI app, or None when Slack's credentials are unset."""
    if not runtime.settings.slack_enabled:
        return None
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from starlette.requests import Request
    from starlette.routing import Route

    from handlers.channel import Channel
    from handlers.slack.app import build_bolt_app
    from handlers.slack.processor import SlackProcessor

    parts = _parts(runtime)
    bolt = build_bolt_app(runtime, client=parts.client, installation_store=parts.installation_store,
                          state_store=parts.state_store)
    handler = AsyncSlackRequestHandler(bolt)

    async def endpoint(request: Request):
        if request.method == "POST":
            from starlette.responses import PlainTextResponse

            from handlers.hardening import MAX_BODY_BYTES, declared_length
            from handlers.slack.guard import signed_by_slack, slack_body_problem

            # Nothing is parsed before the signature and timestamp are checked on the raw bytes: an
            # unsigned body costs us reading it (at most MAX_BODY_BYTES; the app's RequestLimits
            # cuts off a longer stream) and one HMAC.
            declared = declared_length(request.scope)
            if declared is not None and declared > MAX_BODY_BYTES:
                return PlainTextResponse(f"body larger than {MAX_BODY_BYTES} bytes", status_code=413)
            body = await request.body()
            if not signed_by_slack(runtime.settings.slack_signing_secret, body, request.headers):
                return PlainTextResponse("invalid request signature", status_code=401)
            problem = slack_body_problem(request.headers.get("content-type"), body)
            if problem:  # Bolt would answer a malformed body with a 500 (and Slack would retry it)
                return PlainTextResponse(problem, status_code=400)
        return await handler.handle(request)

    routes = [Route("/slack/events", endpoint, methods=["POST"])]
    if runtime.settings.slack_oauth_enabled:
        routes += [Route("/slack/install", endpoint, methods=["GET"]),
                   Route("/slack/oauth_redirect", endpoint, methods=["GET"])]
    channel = Channel(name="slack", routes=routes,
                      processor=SlackProcessor(runtime, parts.sender, parts.profiles))
    if runtime.settings.slack_app_token:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(bolt, app_token=runtime.settings.slack_app_token)

        async def connect():
            await socket.connect_async()
            log.info("Slack Socket Mode connected", extra={"platform": "slack"})

        async def disconnect():
            await socket.close_async()

        channel.on_start.append(connect)
        channel.on_stop.append(disconnect)
        parts.socket = socket
    parts.bolt = bolt
    return channel
