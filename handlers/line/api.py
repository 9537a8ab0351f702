"""Talking to the LINE Messaging API through the official async SDK, with LINE's failure modes
turned into ``DeliveryError``s the inbox understands.

* reply (free of quota) with the event's reply token; a used or expired token ("Invalid reply
  token") falls back to push;
* push carries ``X-Line-Retry-Key``: a retried push is never delivered twice, and LINE's 409 for an
  already-accepted key means it went out;
* 5xx, rate-limit 429 and network errors are retryable (with Retry-After when given); the
  monthly-quota 429 and other 4xx are final.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration, ShowLoadingAnimationRequest
from linebot.v3.messaging.exceptions import ApiException
from yarl import URL

from bot.delivery import Delivery, DeliveryError
from bot.outbox import MemoryPartLedger, PartLedger
from bot.settings import Settings
from bot.types import Reply
from handlers.line.events import profile_language
from handlers.line.messages import batches, to_line_messages

log = logging.getLogger("bansou.line")

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10.0)  # one object: a number is turned into one per request
PROFILE_TIMEOUT = aiohttp.ClientTimeout(total=3.0)
LOADING_TIMEOUT = aiohttp.ClientTimeout(total=3.0)
LOADING_SECONDS = 20  # LINE hides the animation as soon as our reply arrives
MONTHLY_LIMIT = "monthly limit"
INVALID_REPLY_TOKEN = "invalid reply token"


class _WireBody:
    """A request body that is already LINE's JSON (``to_line_messages``, checked against LINE's OpenAPI
    file in tests): the SDK posts it as is instead of validating every message into pydantic models
    and walking them back to dicts (~1 ms of CPU per request)."""

    __slots__ = ("wire",)

    def __init__(self, wire: dict[str, Any]):
        self.wire = wire

    def to_dict(self) -> dict[str, Any]:
        return self.wire


# The SDK's own request builders without pydantic's ``validate_arguments`` wrapper, which copies every
# argument into a model on each call (~0.1 ms of CPU per push). What we pass is already the right type:
# a ``_WireBody`` and a retry key we made ourselves.
_PUSH = AsyncMessagingApi.push_message_with_http_info.raw_function
_REPLY = AsyncMessagingApi.reply_message_with_http_info.raw_function


def _env_proxy_applies(host: str) -> bool:
    """Whether HTTP(S)_PROXY/NO_PROXY route requests to ``host`` through a proxy."""
    try:
        get_env_proxy_for_url(URL(host))
    except LookupError:
        return False
    return True


class _Client(AsyncApiClient):
    """The SDK's client and transport, with three per-request costs taken out:

    * the SDK's aiohttp session is made with ``trust_env=True``, so EVERY request looks up ~/.netrc
      and the proxy variables in worker threads (two thread hops per request). When no proxy variable
      applies to the LINE host we move the SDK's own connector to a session without that; with a
      proxy configured the SDK's session is kept as it is. (A netrc entry for the host would clash
      with the Bearer header anyway.)
    * parsing the bodies of successful sends, which we never read. Errors are raised by the SDK's
      transport before this point, with their bodies;
    * walking our wire bodies (``_WireBody``), which are JSON types already.
    """

    _UNREAD = frozenset({"PushMessageResponse", "ReplyMessageResponse"})

    def __init__(self, configuration: Configuration):
        super().__init__(configuration)
        # Why the session swap stays (issue 19 asked to delete it unless a benchmark missed a goal
        # without it): without it every push costs the two thread hops above, and the reminder pass
        # no longer fits its time goal (benchmarks/RESULTS.md, "Issue 19: driver and SDK patches").
        # The SDK's Configuration has no public trust_env or session option to ask for this instead.
        # tests/test_line_client_contract.py fences it: it fails when the SDK stops building its
        # session this way (then drop the swap, or use the SDK's option if it has grown one).
        rest = self.rest_client
        if rest.proxy is None and not _env_proxy_applies(configuration.host):
            sdk_session = rest.pool_manager
            rest.pool_manager = aiohttp.ClientSession(connector=sdk_session.connector, trust_env=False)
            sdk_session.detach()  # the connector now belongs to the new session

    def sanitize_for_serialization(self, obj):
        if isinstance(obj, _WireBody):
            return obj.wire  # already plain JSON types: no need to walk it
        return super().sanitize_for_serialization(obj)

    def deserialize(self, response, response_type):
        if response_type in self._UNREAD:
            return None
        return super().deserialize(response, response_type)


class ReplyTokenUnusable(Exception):
    """LINE refused the reply token (used or expired): push instead."""


def batch_retry_key(key: str, index: int) -> str:
    """The retry key of request ``index`` of a send: the key itself first, then UUIDs derived from it."""
    if index == 0:
        return key
    try:
        base = uuid.UUID(key)
    except ValueError:
        base = uuid.uuid5(uuid.NAMESPACE_URL, key)
    return str(uuid.uuid5(base, f"batch:{index}"))


def _line_message(body: Any) -> str:
    """The ``message`` of a LINE error body (never user text), shortened."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if isinstance(body, str) else {}
    except json.JSONDecodeError:
        return (body or "")[:200]
    msg = data.get("message") if isinstance(data, dict) else None
    return str(msg)[:200] if msg else ""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def delivery_error(exc: ApiException, *, op: str) -> DeliveryError:
    """Classify a LINE API failure: retryable (5xx, rate limit) or final (quota, other 4xx)."""
    status = int(exc.status or 0)
    message = _line_message(exc.body)
    headers = exc.headers or {}
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if status == 429 and MONTHLY_LIMIT in message.lower():
        return DeliveryError(f"LINE {op}: monthly message quota reached", retryable=False, status=429)
    if status == 429 or status >= 500:
        return DeliveryError(f"LINE {op} {status}: {message or exc.reason}", retryable=True,
                             retry_after=retry_after, status=status)
    return DeliveryError(f"LINE {op} {status}: {message or exc.reason}", retryable=False, status=status)


class LineApi:
    """One SDK client per process, made on first use inside the running event loop."""

    def __init__(self, settings: Settings, *, ledger: PartLedger | None = None):
        self.configuration = Configuration(host=settings.line_api_base_url.rstrip("/"),
                                           access_token=settings.line_channel_access_token)
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        # Requests of a multi-request send already accepted, by retry key, so a retry after a later
        # request failed (here or in another process after a restart) does not send them again: the
        # reply API has no retry key of its own. The runtime passes the database ledger; a client
        # made on its own keeps one in memory.
        self.ledger: PartLedger = ledger if ledger is not None else MemoryPartLedger()
        from handlers.line.richmenu_setup import MenuLinker

        self.menus = MenuLinker(lambda: self.api)
        self._loading: set[asyncio.Task] = set()
        # The monthly quota as last fetched (handlers.line.quota), and pushes sent since then.
        self.quota = None
        self.pushed_since_quota = 0

    @property
    def api(self) -> AsyncMessagingApi:
        if self._api is None:
            self._client = _Client(self.configuration)
            self._api = AsyncMessagingApi(self._client)
        return self._api

    async def close(self) -> None:
        for task in list(self._loading):
            task.cancel()
        client, self._client, self._api = self._client, None, None
        if client is not None:
            await client.close()

    async def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> None:
        request = _WireBody({"replyToken": reply_token, "messages": messages})
        try:
            await _REPLY(self.api, request, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 400 and INVALID_REPLY_TOKEN in _line_message(exc.body).lower():
                raise ReplyTokenUnusable() from None
            raise delivery_error(exc, op="reply") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"LINE reply: {type(exc).__name__}", retryable=True) from None

    def show_loading(self, chat_id: str, *, seconds: int = LOADING_SECONDS) -> None:
        """Start LINE's loading animation in a one-to-one chat, without waiting for it: it is a
        courtesy while the reply is prepared, never a reason to hold the reply (or a transaction)."""
        task = asyncio.create_task(self._show_loading(chat_id, seconds))
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)

    async def _show_loading(self, chat_id: str, seconds: int) -> None:
        try:
            await self.api.show_loading_animation(
                ShowLoadingAnimationRequest(chatId=chat_id, loadingSeconds=seconds), _request_timeout=LOADING_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a missing animation is harmless
            log.info("LINE loading animation not shown", extra={"error": type(exc).__name__,
                                                                "status": getattr(exc, "status", None)})

    async def push(self, to: str, messages: list[dict[str, Any]], *, retry_key: str) -> None:
        request = _WireBody({"to": to, "messages": messages})
        self.pushed_since_quota += 1
        try:
            await _PUSH(self.api, request, x_line_retry_key=retry_key, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 409:
                log.info("LINE push already accepted for this retry key", extra={"status": 409})
                return
            raise delivery_error(exc, op="push") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"LINE push: {type(exc).__name__}", retryable=True) from None

    async def send(self, *, to: str, messages: Sequence[dict[str, Any]], retry_key: str,
                   reply_token: str | None = None) -> None:
        """Send ``messages`` in order, five per request: the first request by reply when there is a
        usable token, everything else by push with a per-request retry key. Requests the ledger
        says went out under ``retry_key`` are not sent again."""
        parts = list(batches(messages))
        done = await self.ledger.done(retry_key) if len(parts) > 1 else set()
        for index, batch in enumerate(parts):
            if index in done:
                continue
            if index == 0 and reply_token:
                try:
                    await self.reply(reply_token, batch)
                    await self._mark(retry_key, index, parts)
                    continue
                except ReplyTokenUnusable:
                    log.info("LINE reply token unusable, pushing instead", extra={"reason": "invalid reply token"})
            await self.push(to, batch, retry_key=batch_retry_key(retry_key, index))
            await self._mark(retry_key, index, parts)

    async def _mark(self, key: str, index: int, parts: list) -> None:
        """Record an accepted request of a multi-request send (a single request needs no ledger:
        its retry is the whole send, and a push's retry key already makes it once-only)."""
        if len(parts) > 1 and index < len(parts) - 1:
            await self.ledger.mark(key, index)

    async def profile_language(self, user_id: str) -> str | None:
        """'ja' or 'en' from the user's LINE profile; None on any failure (onboarding goes on)."""
        try:
            profile = await self.api.get_profile(user_id, _request_timeout=PROFILE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a profile is a nicety, never a blocker
            log.warning("LINE profile unavailable", extra={"error": type(exc).__name__,
                                                          "status": getattr(exc, "status", None)})
            return None
        return profile_language(getattr(profile, "language", None))


class LineSender:
    """Pushes replies to a LINE user (reminders): ``delivery.idempotency_key`` is the retry key."""

    platform = "line"

    def __init__(self, api: LineApi, *, runtime=None):
        self.line = api
        self.runtime = runtime

    async def push_hold_reason(self) -> str | None:
        """Why reminders should wait (the monthly quota is nearly used), or None."""
        if self.runtime is None:
            return None
        from handlers.line.quota import current_hold

        return await current_hold(self.runtime)

    async def send(self, delivery: Delivery, replies: Sequence[Reply]) -> None:
        messages = to_line_messages(replies)
        if not messages:
            return
        to = delivery.context.get("to") or delivery.user.user_id
        await self.line.send(to=to, messages=messages, retry_key=delivery.idempotency_key)

    async def close(self) -> None:
        await self.line.close()
