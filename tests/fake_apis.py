"""A recording stand-in for the LINE Messaging API, run on 127.0.0.1 in its own thread, for tests
that drive real ``bansou`` processes (which reach it through LINE_API_BASE_URL).

It keeps LINE's rules that matter for "never twice": a reply token works once (400 "Invalid reply
token" after), and a push whose X-Line-Retry-Key was already accepted gets 409 and is not
delivered again. ``hold()`` makes reply calls wait until ``release()``, to catch a process with a
send in flight. Every accepted send is kept in ``sent`` in arrival order.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Delivered:
    """One accepted send: a reply (by ``token``) or a push (to ``to``), with its texts."""

    via: str
    user: str
    token: str | None
    retry_key: str | None
    texts: list[str]
    at: float = field(default_factory=time.monotonic)


class FakeLine:
    """The fake's state and server. Use as a context manager: ``with FakeLine(token) as line:``."""

    def __init__(self, token: str = "fake-line-access-token"):
        self.token = token
        self.sent: list[Delivered] = []
        self.rejected: list[tuple[str, int, str]] = []  # (endpoint, status, reason)
        self.attempts: list[tuple[str, str | None]] = []  # every call: ("reply", token) or ("push", to)
        self.arrived_replies = 0
        self.token_owner: dict[str, str] = {}
        self.used_tokens: set[str] = set()
        self.retry_keys: set[str] = set()
        self.profiles: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._hold = threading.Event()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting -------------------------------------------------------------------------
    def reply_token(self, user_id: str) -> str:
        """A fresh reply token for an event from ``user_id``, as LINE issues one per event."""
        token = uuid.uuid4().hex
        with self._lock:
            self.token_owner[token] = user_id
        return token

    def hold(self) -> None:
        """Make reply calls wait (their arrival is counted) until ``release()``."""
        self._hold.set()

    def release(self) -> None:
        self._hold.clear()

    def delivered_to(self, user_id: str) -> list[Delivered]:
        with self._lock:
            return [d for d in self.sent if d.user == user_id]

    def texts_to(self, user_id: str) -> list[str]:
        return [t for d in self.delivered_to(user_id) for t in d.texts]

    def wait_for(self, predicate, *, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"{len(self.sent)} sends so far, rejected: {self.rejected[-5:]}")
            time.sleep(0.02)

    async def wait_for_async(self, predicate, *, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"{len(self.sent)} sends so far, rejected: {self.rejected[-5:]}")
            await asyncio.sleep(0.02)

    # ---- handlers --------------------------------------------------------------------------
    def _refuse(self, endpoint: str, status: int, message: str) -> Response:
        with self._lock:
            self.rejected.append((endpoint, status, message))
        return JSONResponse({"message": message}, status_code=status)

    async def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def _reply(self, request: Request) -> Response:
        body = json.loads(await request.body())
        with self._lock:
            self.arrived_replies += 1
            self.attempts.append(("reply", body.get("replyToken")))
        while self._hold.is_set():
            await asyncio.sleep(0.02)
        if not await self._authorised(request):
            return self._refuse("reply", 401, "Authentication failed")
        token = body.get("replyToken")
        with self._lock:
            if token not in self.token_owner or token in self.used_tokens:
                pass
            else:
                self.used_tokens.add(token)
                self.sent.append(Delivered("reply", self.token_owner[token], token, None,
                                           [m.get("text", "") for m in body.get("messages", [])]))
                return JSONResponse({"sentMessages": [{"id": str(uuid.uuid4().int)[:18]}
                                                      for _ in body.get("messages", [])]})
        return self._refuse("reply", 400, "Invalid reply token")

    async def _push(self, request: Request) -> Response:
        body = json.loads(await request.body())
        with self._lock:
            self.attempts.append(("push", body.get("to")))
        if not await self._authorised(request):
            return self._refuse("push", 401, "Authentication failed")
        key = request.headers.get("x-line-retry-key")
        with self._lock:
            if key and key in self.retry_keys:
                self.rejected.append(("push", 409, "retry key already accepted"))
                return JSONResponse({"message": "The retry key is already accepted"}, status_code=409,
                                    headers={"x-line-accepted-request-id": str(uuid.uuid4())})
            if key:
                self.retry_keys.add(key)
            self.sent.append(Delivered("push", body["to"], None, key,
                                       [m.get("text", "") for m in body.get("messages", [])]))
        return JSONResponse({"sentMessages": [{"id": str(uuid.uuid4().int)[:18]} for _ in body.get("messages", [])]})

    async def _profile(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        profile = self.profiles.get(user_id)
        if profile is None:
            return JSONResponse({"message": "Not found"}, status_code=404)
        return JSONResponse({"userId": user_id, "displayName": "someone", **profile})

    # ---- running ---------------------------------------------------------------------------
    def __enter__(self) -> "FakeLine":
        app = Starlette(routes=[
            Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
            Route("/v2/bot/message/push", self._push, methods=["POST"]),
            Route("/v2/bot/profile/{user_id}", self._profile, methods=["GET"]),
        ])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake LINE API did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


# ---- LINE's side of a webhook -------------------------------------------------------------------

def line_user_id() -> str:
    return "U" + uuid.uuid4().hex


def text_event(user_id: str, text: str, *, reply_token: str, event_id: str | None = None) -> dict[str, Any]:
    """A one-to-one text message event as LINE posts it."""
    return {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": event_id or uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False}, "replyToken": reply_token,
            "message": {"type": "text", "id": str(uuid.uuid4().int)[:18], "text": text,
                        "quoteToken": uuid.uuid4().hex}}


def follow_event(user_id: str, *, reply_token: str) -> dict[str, Any]:
    return {"type": "follow", "mode": "active", "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id}, "webhookEventId": uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False}, "replyToken": reply_token,
            "follow": {"isUnblocked": False}}


def signed_webhook(events: list[dict[str, Any]], secret: str) -> tuple[bytes, dict[str, str]]:
    """The body LINE posts and its headers, signed as LINE signs (HMAC-SHA256, base64)."""
    import base64
    import hashlib
    import hmac

    body = json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": signature,
                  "User-Agent": "LineBotWebhook/2.0"}
