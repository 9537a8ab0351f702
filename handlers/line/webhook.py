"""``POST /line/webhook``: verify, store, acknowledge. Nothing slow happens before the 200."""
from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from bot.inbox import enqueue
from bot.runtime import Runtime
from handlers.line.events import BadWebhook, parse_callback, signature_ok, sort_events

log = logging.getLogger("bansou.line")

MAX_BODY_BYTES = 1024 * 1024  # LINE's bodies are a few KB; anything near this is not LINE


def _reject(status: int, reason: str) -> Response:
    log.warning("LINE webhook rejected", extra={"status": status, "reason": reason})
    return PlainTextResponse(reason, status_code=status)


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None as soon as it passes ``limit`` (never buffers more than that)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            raise BadWebhook("bad Content-Length") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def make_endpoint(runtime: Runtime):
    secret = runtime.settings.line_channel_secret or ""

    async def line_webhook(request: Request) -> Response:
        try:
            body = await read_body(request)
        except BadWebhook as exc:
            return _reject(400, exc.reason)
        except ClientDisconnect:
            return _reject(400, "client went away")
        if body is None:
            return _reject(413, f"body larger than {MAX_BODY_BYTES} bytes")
        signature = request.headers.get("x-line-signature")
        if not signature:
            return _reject(400, "missing X-Line-Signature")
        if not signature_ok(body, signature, secret):
            return _reject(401, "invalid X-Line-Signature")
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
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
                new = await enqueue(runtime.db, sorted_events.keep, now=runtime.clock())
            except Exception:  # noqa: BLE001 - LINE redelivers on a non-2xx; nothing is lost
                log.exception("LINE events could not be stored")
                return PlainTextResponse("storage unavailable", status_code=503)
            if new:
                inbox = runtime.extras.get("inbox")
                if inbox is not None:
                    inbox.wake()
            log.info("LINE events stored", extra={"events": len(sorted_events.keep), "new": new})
        return PlainTextResponse("OK")

    return line_webhook
