"""The ceiling for the webhook benchmark: a bare ASGI app that reads the body, checks LINE's
signature and answers 200, with no framework, database or processing. Run under uvicorn with the
same settings as ``bansou serve``; whatever it reaches, a real webhook cannot beat on this machine."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

SECRET = os.environ.get("LINE_CHANNEL_SECRET", "").encode()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/healthz":
        status = 200
    else:
        given = dict(scope["headers"]).get(b"x-line-signature", b"")
        expected = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest())
        status = 200 if hmac.compare_digest(given, expected) else 401
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"OK" if status == 200 else b"bad signature"})
