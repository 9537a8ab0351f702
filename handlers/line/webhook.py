"""``POST /line/webhook``: verify, store, acknowledge. Nothing slow happens before the 200.

It is a plain ASGI app, dispatched ahead of the framework's routing (``handlers/app.py``): LINE's
platform waits on every acknowledgement, and at a few thousand webhooks a second Starlette's
request, response, routing and exception layers cost more CPU than the work itself."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.inbox import IncomingEvent, enqueue
from bot.runtime import Runtime
from handlers.line.events import BadWebhook, parse_callback, signature_ok, sort_events

log = logging.getLogger("bansou.line")

MAX_BODY_BYTES = 1024 * 1024  # LINE's bodies are a few KB; anything near this is not LINE
MAX_EVENTS_PER_COMMIT = 500


class AckFirst:
    """Acknowledgements before work: engine work shares the event loop with the webhook, so the inbox
    processor waits before each event while webhooks are being acknowledged.

    * Normally it waits until none is in flight, for ``max_wait`` seconds at most.
    * In a burst it waits until the burst is over, for ``max_wait_busy`` seconds at most. A burst is
      ``busy`` or more in flight, or webhooks arriving at ``busy_rate`` a second or more (over the
      last ``window`` seconds): in a closed burst the in-flight count falls to nothing between
      waves of requests, and the processor must not take each of those instants for the end.
      LINE waits on every acknowledgement; the stored events are answered a little later, and at
      such rates the inbox could not keep up with them anyway.

    The caps keep processing moving however long the traffic lasts."""

    def __init__(self, *, max_wait: float = 0.005, max_wait_busy: float = 1.0, busy: int = 8,
                 busy_rate: float = 1000.0, window: float = 0.1, clock: Callable[[], float] = time.monotonic):
        self.max_wait = max_wait
        self.max_wait_busy = max_wait_busy
        self.busy = busy
        self.busy_rate = busy_rate
        self.window = window
        self.clock = clock
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._slot = 0  # which window the count is for (clock / window, rounded down)
        self._count = 0
        self._last_count = 0  # arrivals in the window before it

    def __enter__(self) -> "AckFirst":
        self.in_flight += 1
        self._idle.clear()
        slot = int(self.clock() / self.window)
        if slot != self._slot:
            self._last_count = self._count if slot == self._slot + 1 else 0
            self._slot, self._count = slot, 0
        self._count += 1
        return self

    def __exit__(self, *exc) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def arrival_rate(self) -> float:
        """Webhooks per second lately: the fuller of this window and the one before."""
        slot = int(self.clock() / self.window)
        current = self._count if slot == self._slot else 0
        last = self._last_count if slot == self._slot else (self._count if slot == self._slot + 1 else 0)
        return max(current, last) / self.window

    def bursting(self) -> bool:
        return self.in_flight >= self.busy or self.arrival_rate() >= self.busy_rate

    async def wait_for_acks(self) -> None:
        """Return when no webhook is mid-acknowledgement, or after the cap for the current load."""
        if self.bursting():
            deadline = self.clock() + self.max_wait_busy
            while self.bursting() and (left := deadline - self.clock()) > 0:
                await asyncio.sleep(min(left, self.window / 4))
        if self.in_flight:
            try:
                await asyncio.wait_for(self._idle.wait(), self.max_wait)
            except asyncio.TimeoutError:
                pass


class GroupCommit:
    """Stores webhook events with group commit: webhooks that arrive while a commit is in flight
    are written together in the next transaction, so under load the database sees a few larger
    commits instead of one per request (and the requests don't queue on the database's write lock).
    Each caller returns only after its own events are committed."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._waiting: list[tuple[Sequence[IncomingEvent], asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def store(self, events: Sequence[IncomingEvent]) -> int:
        """Commit ``events`` (with whatever else is waiting); returns how many in that commit were new."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._waiting:
            batch, taken = [], 0
            while self._waiting and (not batch or taken + len(self._waiting[0][0]) <= MAX_EVENTS_PER_COMMIT):
                item = self._waiting.pop(0)
                batch.append(item)
                taken += len(item[0])
            try:
                new = await enqueue(self.runtime.db, [e for events, _ in batch for e in events],
                                    now=self.runtime.clock())
            except Exception as exc:  # noqa: BLE001
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                else:  # one request's rows must never fail the others': each is stored on its own
                    await self._one_by_one(batch)
                continue
            for _, future in batch:
                _settle(future, result=new)

    async def _one_by_one(self, batch) -> None:
        for events, future in batch:
            try:
                new = await enqueue(self.runtime.db, events, now=self.runtime.clock())
            except Exception as exc:  # noqa: BLE001 - this request answers 503; LINE redelivers it
                _settle(future, exc=exc)
            else:
                _settle(future, result=new)


def _settle(future: asyncio.Future, *, result: int = 0, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientGone(Exception):
    """The sender hung up before the whole body arrived."""


def headers_of(scope: dict[str, Any], *names: bytes) -> dict[bytes, str]:
    """The named headers (lower-case bytes, as ASGI gives them) that the request has, decoded."""
    found = {}
    for name, value in scope["headers"]:
        if name in names:
            found[name] = value.decode("latin-1")
    return found


async def read_body(receive: Receive, *, declared: str | None, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None as soon as it passes ``limit`` (never buffers more than that)."""
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            raise BadWebhook("bad Content-Length") from None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


class LineWebhook:
    """The ASGI app for ``/line/webhook``: answers every request with a short plain-text status."""

    def __init__(self, runtime: Runtime, ack_first: AckFirst | None = None):
        self.runtime = runtime
        self.secret = runtime.settings.line_channel_secret or ""
        self.store = GroupCommit(runtime)
        self.ack_first = ack_first or AckFirst()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            status, text, extra = 405, "Method Not Allowed", [(b"allow", b"POST")]
        else:
            status, text = await self.answer(scope, receive)
            extra = []
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: dict[str, Any], receive: Receive) -> tuple[int, str]:
        """Verify, store and say so: (status, text) for the platform."""
        headers = headers_of(scope, b"content-length", b"x-line-signature", b"content-type")
        try:
            body = await read_body(receive, declared=headers.get(b"content-length"))
        except BadWebhook as exc:
            return _reject(400, exc.reason)
        except ClientGone:
            return _reject(400, "client went away")
        if body is None:
            return _reject(413, f"body larger than {MAX_BODY_BYTES} bytes")
        signature = headers.get(b"x-line-signature")
        if not signature:
            return _reject(400, "missing X-Line-Signature")
        if not signature_ok(body, signature, self.secret):
            return _reject(401, "invalid X-Line-Signature")
        # Only a request LINE signed counts as in flight for the inbox's pacing: unsigned or slow
        # bodies must not make the inbox wait (and reply tokens expire meanwhile).
        with self.ack_first:
            return await self._accept(headers, body)

    async def _accept(self, headers: dict[bytes, str], body: bytes) -> tuple[int, str]:
        """Parse and store a signed body."""
        content_type = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            return _reject(415, "expected application/json")
        try:
            events = parse_callback(body)
        except BadWebhook as exc:
            return _reject(400, exc.reason)
        sorted_events = sort_events(events)
        for etype in sorted_events.skipped:
            log.info("LINE event ignored", extra={"kind": etype})
        if sorted_events.keep:
            try:
                new = await self.store.store(sorted_events.keep)
            except Exception:  # noqa: BLE001 - LINE redelivers on a non-2xx; nothing is lost
                log.exception("LINE events could not be stored")
                return 503, "storage unavailable"
            if new:
                inbox = self.runtime.inbox
                if inbox is not None:
                    inbox.wake()
            log.debug("LINE events stored", extra={"events": len(sorted_events.keep), "new": new})
        return 200, "OK"


def _reject(status: int, reason: str) -> tuple[int, str]:
    log.warning("LINE webhook rejected", extra={"status": status, "reason": reason})
    return status, reason
