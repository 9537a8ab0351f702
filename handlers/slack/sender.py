"""Sending to Slack: replies, reminders, App Home views and team pulses, through one client.

* One ``AsyncWebClient`` (base URL from SLACK_API_BASE_URL); the token is chosen per call: the
  single workspace's SLACK_BOT_TOKEN, or the team's bot token from the installation store.
* A per-channel pacer keeps to Slack's one message a second per channel, shared by replies and
  reminders (one sender per process).
* Errors become ``DeliveryError``: 429 carries Retry-After, so the inbox (or the reminder
  scheduler) backs off exactly as long as Slack asked; the pacer holds the channel as well.
* The shared part ledger (``bot.outbox.DatabasePartLedger``, table ``delivery_parts``) records each
  message that went out under an idempotency key, so a delivery retried after a failure part-way,
  in this process or another one after a restart, never posts a message twice.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import Delivery, DeliveryError
from bot.outbox import DatabasePartLedger
from bot.store import repo
from bot.types import Reply, UserKey
from handlers.slack.blocks import SlackMessage, render_replies
from handlers.slack.identity import slack_user_id

log = logging.getLogger("bansou.slack")

# Slack error codes worth trying again later; anything else (channel_not_found, invalid_auth,
# account_inactive, not_in_channel, ...) will not get better by retrying.
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})


class ChannelPacer:
    """At most one message per ``interval`` seconds per channel, in order of arrival.

    ``clock`` and ``sleep`` are injectable so tests can check the pacing without waiting."""

    def __init__(self, interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, max_channels: int = 10_000):
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.max_channels = max_channels
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str) -> None:
        """Return when a message may go to ``channel`` now, and book the next slot."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            ready = self._next.get(channel, 0.0)
            now = self.clock()
            if ready > now:
                await self.sleep(ready - now)
                now = self.clock()
            self._next[channel] = max(now, ready) + self.interval
        self._prune()

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said to wait (Retry-After): nothing more to this channel for ``seconds``."""
        self._next[channel] = max(self._next.get(channel, 0.0), self.clock() + seconds)

    def _prune(self) -> None:
        if len(self._next) <= self.max_channels:
            return
        now = self.clock()
        for ch in [c for c, t in self._next.items() if t < now and not self._locks[c].locked()]:
            self._next.pop(ch, None)
            self._locks.pop(ch, None)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return v[0] if isinstance(v, list) else v
    return None


def delivery_error(exc: Exception, *, what: str) -> DeliveryError:
    """A Slack SDK or transport failure as a DeliveryError that says whether to retry."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        data = getattr(exc.response, "data", None)
        error = data.get("error") if isinstance(data, dict) else None
        if status == 429 or error == "ratelimited":
            raw = _header(exc.response.headers, "Retry-After")
            try:
                retry_after = float(raw) if raw is not None else 1.0
            except ValueError:
                retry_after = 1.0
            return DeliveryError(f"{what}: rate limited", retryable=True, retry_after=retry_after, status=429)
        retryable = (status is not None and status >= 500) or error in RETRYABLE_ERRORS
        return DeliveryError(f"{what}: {error or status}", retryable=retryable, status=status)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, SlackRequestError, OSError)):
        return DeliveryError(f"{what}: {type(exc).__name__}", retryable=True)
    return DeliveryError(f"{what}: {type(exc).__name__}", retryable=True)


class SlackSender:
    """Implements ``bot.delivery.Sender`` for Slack, plus the Slack-only sends (views, channels)."""

    platform = "slack"

    def __init__(self, runtime, *, client: AsyncWebClient, installation_store=None,
                 pacer: ChannelPacer | None = None, refresher=None):
        self.runtime = runtime
        self.client = client
        self.installation_store = installation_store
        self.pacer = pacer or ChannelPacer()
        self.refresher = refresher  # handlers.slack.rotation.TokenRefresher (OAuth mode)
        self.ledger = DatabasePartLedger(runtime.db, clock=runtime.clock)

    # -- tokens and routing -------------------------------------------------------------------
    async def token_for(self, *, team_id: str | None, enterprise_id: str | None = None,
                        is_enterprise_install: bool = False) -> str:
        """The bot token for a workspace: from the installation store in OAuth mode (refreshed first
        when it rotates and is about to expire), else SLACK_BOT_TOKEN."""
        if self.installation_store is not None and (team_id or enterprise_id):
            # A workspace of an organisation may be served by an org-wide install (Enterprise Grid):
            # when the caller could not say which, the organisation's installation is tried second.
            tries = [is_enterprise_install]
            if enterprise_id and not is_enterprise_install:
                tries.append(True)
            for org_wide in tries:
                token = await self._stored_token(team_id=team_id, enterprise_id=enterprise_id,
                                                 is_enterprise_install=org_wide)
                if token:
                    return token
        if self.runtime.settings.slack_bot_token:
            return self.runtime.settings.slack_bot_token
        raise DeliveryError(f"no Slack installation for team {team_id}", retryable=False)

    async def _stored_token(self, *, team_id: str | None, enterprise_id: str | None,
                            is_enterprise_install: bool) -> str | None:
        if self.refresher is not None:
            try:
                return await self.refresher.bot_token(enterprise_id=enterprise_id, team_id=team_id,
                                                      is_enterprise_install=is_enterprise_install)
            except Exception as exc:  # noqa: BLE001 - e.g. Slack refused the refresh token
                raise delivery_error(exc, what="token rotation") from exc
        bot = await self.installation_store.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        return bot.bot_token if bot is not None and bot.bot_token else None

    async def _user_route(self, user: UserKey) -> dict[str, Any]:
        """Team, DM channel and language for a user we have met (reminders carry no context); {} if unknown."""
        async with self.runtime.db.session() as session:
            row = await repo.get_user(session, user)
            if row is None:  # e.g. an admin setting up the team pulse before ever talking to us
                return {}
            meta = dict(row.platform_meta or {})
            return {"team_id": meta.get("team_id"), "enterprise_id": meta.get("enterprise_id"),
                    "is_enterprise_install": bool(meta.get("is_enterprise_install")),
                    "dm_channel": meta.get("dm_channel"), "lang": row.language}

    async def remember_dm(self, user: UserKey, channel: str) -> None:
        async with self.runtime.db.session() as session:
            row = await repo.get_user(session, user)
            if row is not None and (row.platform_meta or {}).get("dm_channel") != channel:
                row.platform_meta = {**(row.platform_meta or {}), "dm_channel": channel}
                await session.commit()

    async def open_dm(self, *, token: str, user_id: str) -> str:
        try:
            resp = await self.client.conversations_open(token=token, users=user_id)
        except Exception as exc:  # noqa: BLE001 - mapped to retry / give up
            raise delivery_error(exc, what="conversations.open") from exc
        return resp["channel"]["id"]

    # -- the Sender protocol -----------------------------------------------------------------------
    async def send(self, delivery: Delivery, replies: Sequence[Reply]) -> None:
        """Post ``replies`` to the channel in the delivery context, or to the user's DM."""
        ctx = dict(delivery.context)
        if not ctx.get("team_id") or not ctx.get("lang") or not (ctx.get("channel") or ctx.get("dm_channel")):
            route = await self._user_route(delivery.user)
            for k, v in route.items():
                if ctx.get(k) is None:
                    ctx[k] = v
        token = await self.token_for(team_id=ctx.get("team_id"), enterprise_id=ctx.get("enterprise_id"),
                                     is_enterprise_install=bool(ctx.get("is_enterprise_install")))
        channel = ctx.get("channel") or ctx.get("dm_channel")
        if not channel:
            channel = await self.open_dm(token=token, user_id=slack_user_id(delivery.user))
            await self.remember_dm(delivery.user, channel)
        lang = ctx.get("lang") or self.runtime.settings.default_language
        messages = render_replies(replies, texts=lambda mid: self.runtime.content.text(mid, lang))
        await self.post_messages(messages, token=token, channel=channel, thread_ts=ctx.get("thread_ts"),
                                 key=delivery.idempotency_key)

    async def post_messages(self, messages: Sequence[SlackMessage], *, token: str, channel: str,
                            thread_ts: str | None, key: str) -> list[str]:
        """Post each message once per idempotency key (parts already posted are skipped)."""
        done = await self.ledger.done(key)
        stamps = []
        for part, msg in enumerate(messages):
            if part in done:
                continue
            await self.pacer.wait(channel)
            kwargs: dict[str, Any] = {"token": token, "channel": channel, "text": msg.text, "blocks": msg.blocks,
                                      "unfurl_links": False, "unfurl_media": False}
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            try:
                resp = await self.client.chat_postMessage(**kwargs)
            except Exception as exc:  # noqa: BLE001
                err = delivery_error(exc, what="chat.postMessage")
                if err.retry_after:
                    self.pacer.hold(channel, err.retry_after)
                raise err from exc
            stamps.append(resp.get("ts"))
            await self.ledger.mark(key, part, f"{channel}:{resp.get('ts') or ''}")
        return stamps

    # -- Slack-only sends ---------------------------------------------------------------------------
    async def publish_home(self, *, token: str, user_id: str, view: dict[str, Any]) -> None:
        try:
            await self.client.views_publish(token=token, user_id=user_id, view=view)
        except Exception as exc:  # noqa: BLE001
            raise delivery_error(exc, what="views.publish") from exc

    async def users_info(self, *, token: str, user_id: str) -> dict[str, Any]:
        try:
            resp = await self.client.users_info(token=token, user=user_id, include_locale=True)
        except Exception as exc:  # noqa: BLE001
            raise delivery_error(exc, what="users.info") from exc
        return dict(resp.get("user") or {})

    async def close(self) -> None:
        session = getattr(self.client, "session", None)
        if session is not None and not session.closed:
            await session.close()
