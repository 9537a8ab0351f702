"""Limits every request meets before any endpoint reads it: a body size, a body deadline.

``RequestLimits`` is plain ASGI middleware, outermost in the app:

* a declared ``Content-Length`` over the limit is answered 413 without reading a byte;
* a body that streams past the limit (chunked, or lying about its length) is cut off there: 413,
  and the endpoint sees the client as gone;
* a body that has not fully arrived ``body_timeout`` seconds after the request began is answered
  408 and the endpoint sees the client as gone (a slow sender cannot hold a worker for ever).

The 413 for a declared length and the 408 also close the connection: its unread body makes it
useless for another request.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger("bansou.http")

MAX_BODY_BYTES = 1024 * 1024  # as LINE's webhook: no endpoint of ours takes more
BODY_TIMEOUT_SECONDS = 15.0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestLimits:
    """ASGI middleware: body size and body deadline for every HTTP request."""

    def __init__(self, app, *, max_body: int | None = None, body_timeout: float | None = None):
        self.app = app
        self.max_body = MAX_BODY_BYTES if max_body is None else max_body
        self.body_timeout = BODY_TIMEOUT_SECONDS if body_timeout is None else body_timeout

    async def __call__(self, scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_body:
            await _answer(send, 413, f"body larger than {self.max_body} bytes", close=True)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        state = {"read": 0, "answered": False, "started": False, "complete": False}

        async def limited_receive() -> dict[str, Any]:
            if state["answered"]:
                return {"type": "http.disconnect"}
            if state["complete"]:  # the body is in: what comes now is the client going away
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # no task per call, unlike wait_for
                    message = await receive()
            except TimeoutError:
                await refuse(408, "the body did not arrive in time")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_body:
                    await refuse(413, f"body larger than {self.max_body} bytes")
                    return {"type": "http.disconnect"}
                state["complete"] = not message.get("more_body", False)
            return message

        async def refuse(status: int, reason: str) -> None:
            state["answered"] = True
            log.warning("request refused", extra={"status": status, "path": scope.get("path"), "reason": reason})
            if not state["started"]:
                state["started"] = True
                await _answer(send, status, reason, close=status == 408)

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["answered"]:
                return  # we have answered for the endpoint; what it says now goes nowhere
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _answer(send: Send, status: int, reason: str, *, close: bool = False) -> None:
    """A plain-text answer; ``close`` when the unread body makes the connection useless."""
    body = reason.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
