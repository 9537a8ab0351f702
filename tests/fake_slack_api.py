"""A local stand-in for the Slack Web API (and Socket Mode's WebSocket), for the REAL slack_sdk
AsyncWebClient to talk to over HTTP on 127.0.0.1. It records every call and answers the methods
bansou uses; tests can script failures (e.g. a 429 with Retry-After) for the next calls.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else self.params.get("token")


@dataclass
class FakeSlackApi:
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    team_id: str = "T0001"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(default_factory=dict)
    socket_envelopes: asyncio.Queue | None = None
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    # oauth.v2.access: what an install answers (None: a plain workspace install), and token rotation.
    install_answer: dict[str, Any] | None = None
    token_lifetime: int = 43200
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> bot token it replaced
    rotations: int = 0
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> "FakeSlackApi":
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.socket_envelopes = asyncio.Queue()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting and inspection ------------------------------------------------------------
    def fail_next(self, method: str, *, status: int = 200, body: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> None:
        self.failures.setdefault(method, []).append((status, body or {"ok": False, "error": "fatal_error"},
                                                     headers or {}))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, *, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.calls_to(method)
            if len(got) >= count:
                return got
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} call(s) to {method}, got {len(self.calls_to(method))}")

    # -- the API -----------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        if raw:
            if "json" in ctype:
                params = json.loads(raw)
            else:
                params = dict(parse_qsl(raw.decode()))
        params.update(dict(request.query))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        self.calls.append(Call(method=method, params=params, headers=dict(request.headers)))
        queued = self.failures.get(method)
        if queued:
            status, body, headers = queued.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "bansou",
                    "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id}
        if method == "chat.postMessage":
            return {"ok": True, "channel": p.get("channel"), "ts": f"1700000000.{next(self._ts):06d}",
                    "message": {"text": p.get("text")}}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V1", **(p.get("view") or {})}}
        if method == "views.open":
            if not p.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            return {"ok": True, "view": {"id": f"VMODAL{next(self._ts)}", "hash": "h1", **(p.get("view") or {})}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(p.get("users", "")).lstrip("UW")}}
        if method == "users.info":
            user = self.users.get(p.get("user"))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": p.get("user"), **user}}
        if method == "oauth.v2.access" and p.get("grant_type") == "refresh_token":
            if not str(p.get("refresh_token", "")).startswith("xoxe-"):
                return {"ok": False, "error": "invalid_refresh_token"}
            self.rotations += 1
            return {"ok": True, "app_id": "A0001", "token_type": "bot", "scope": "chat:write,commands",
                    "access_token": f"xoxe.xoxb-rotated-{self.rotations}", "refresh_token": f"xoxe-1-r{self.rotations}",
                    "expires_in": self.token_lifetime, "bot_user_id": "UBOT2",
                    "team": {"id": "T0NEW", "name": "New Team"}, "enterprise": None, "is_enterprise_install": False}
        if method == "oauth.v2.access" and self.install_answer is not None:
            return {"ok": True, **self.install_answer}
        if method == "oauth.v2.access":
            return {"ok": True, "app_id": "A0001", "authed_user": {"id": "UINSTALLER"}, "scope": "chat:write,commands",
                    "token_type": "bot", "access_token": "xoxb-installed-token", "bot_user_id": "UBOT2",
                    "team": {"id": "T0NEW", "name": "New Team"}, "enterprise": None, "is_enterprise_install": False}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"}
        return {"ok": False, "error": "unknown_method"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))

        async def pump():
            while not ws.closed:
                envelope = await self.socket_envelopes.get()
                await ws.send_str(json.dumps(envelope))

        pumping = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
        finally:
            pumping.cancel()
        return ws


def slack_signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}``, as Slack signs requests."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes | str, *, content_type: str, timestamp: int | None = None,
                   retry_num: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": slack_signature(secret, ts, body)}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


# ---------------------------------------------------------------------------------------------
# A harness: bansou's Slack channel mounted in an ASGI app, driven with signed requests.

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-0001-test-token"
TEAM = "T0001"


def event_body(event: dict[str, Any], *, event_id: str, team_id: str = TEAM) -> dict[str, Any]:
    """An Events API envelope as Slack sends it."""
    return {"token": "legacy", "team_id": team_id, "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "UBOT", "is_bot": True,
                                "is_enterprise_install": False}]}


def dm(user: str, text: str, *, ts: str = "1700000001.000100", channel: str | None = None, **extra) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "channel": channel or "D" + user.lstrip("U"), "user": user,
            "text": text, "ts": ts, "event_ts": ts, **extra}


class SlackHarness:
    """bansou's Slack channel behind httpx (ASGI), an inbox worker run by hand, the fake API."""

    def __init__(self, runtime, api: FakeSlackApi):
        import httpx
        from starlette.applications import Starlette

        from bot.inbox import InboxWorker
        from handlers.slack import build_channel, build_sender

        self.runtime = runtime
        self.api = api
        self.sender = build_sender(runtime)
        runtime.senders["slack"] = self.sender
        self.channel = build_channel(runtime)
        self.worker = InboxWorker(runtime.db, {"slack": self.channel.processor}, clock=runtime.clock)
        runtime.inbox = self.worker
        self.app = Starlette(routes=self.channel.routes)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="https://bansou.test")
        self.waits: list[float] = []
        self._mono = 1000.0
        from handlers.slack.sender import ChannelPacer

        async def fake_sleep(seconds: float) -> None:
            self.waits.append(seconds)
            self._mono += seconds

        self.sender.pacer = ChannelPacer(clock=lambda: self._mono, sleep=fake_sleep)

    async def close(self) -> None:
        await self.http.aclose()

    async def post_json(self, body: dict[str, Any], *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                        retry_num: int | None = None):
        raw = json.dumps(body)
        headers = signed_headers(secret, raw, content_type="application/json", timestamp=timestamp,
                                 retry_num=retry_num)
        return await self.http.post("/slack/events", content=raw, headers=headers)

    async def post_event(self, event: dict[str, Any], *, event_id: str, team_id: str = TEAM, **kw):
        return await self.post_json(event_body(event, event_id=event_id, team_id=team_id), **kw)

    async def post_form(self, form: dict[str, str], *, secret: str = SIGNING_SECRET, timestamp: int | None = None):
        from urllib.parse import urlencode

        raw = urlencode(form)
        headers = signed_headers(secret, raw, content_type="application/x-www-form-urlencoded", timestamp=timestamp)
        return await self.http.post("/slack/events", content=raw, headers=headers)

    async def slash(self, user: str, text: str = "", *, channel_id: str | None = None, trigger_id: str = "13345224609.1",
                    team_id: str = TEAM, **kw):
        return await self.post_form({
            "token": "legacy", "team_id": team_id, "team_domain": "example", "channel_id": channel_id or "C0GENERAL",
            "channel_name": "general", "user_id": user, "user_name": "someone", "command": "/coach", "text": text,
            "api_app_id": "A0001", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0001/1/abc", "trigger_id": trigger_id}, **kw)

    async def click(self, user: str, value: str, *, action_id: str = "bansou.choice.0", channel: str | None = None,
                    message_ts: str = "1700000000.000001", thread_ts: str | None = None, action_ts: str | None = None,
                    in_home: bool = False, team_id: str = TEAM, **kw):
        action = {"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                  "text": {"type": "plain_text", "text": "x"}, "action_ts": action_ts or f"{time.time():.6f}"}
        payload: dict[str, Any] = {"type": "block_actions", "user": {"id": user, "team_id": team_id},
                                   "api_app_id": "A0001", "token": "legacy", "team": {"id": team_id, "domain": "ex"},
                                   "trigger_id": f"trig.{action['action_ts']}", "actions": [action]}
        if in_home:
            payload["container"] = {"type": "view", "view_id": "V1"}
            payload["view"] = {"id": "V1", "type": "home"}
        else:
            ch = channel or "D" + user.lstrip("U")
            payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": ch,
                                    "is_ephemeral": False, **({"thread_ts": thread_ts} if thread_ts else {})}
            payload["channel"] = {"id": ch, "name": "directmessage"}
            payload["message"] = {"type": "message", "ts": message_ts, "text": "...",
                                  **({"thread_ts": thread_ts} if thread_ts else {})}
            payload["response_url"] = "https://hooks.slack.com/actions/T0001/1/abc"
        return await self.post_form({"payload": json.dumps(payload)}, **kw)

    async def submit_view(self, user: str, view: dict[str, Any], values: dict[str, Any], *, team_id: str = TEAM,
                          view_id: str = "VMODAL1", **kw):
        """A ``view_submission`` of ``view`` (as views.open showed it) with ``state.values``."""
        payload = {"type": "view_submission", "team": {"id": team_id, "domain": "ex"},
                   "user": {"id": user, "team_id": team_id}, "api_app_id": "A0001", "token": "legacy",
                   "trigger_id": f"trig.{time.time():.6f}",
                   "view": {**view, "id": view_id, "team_id": team_id, "hash": f"h.{time.time():.6f}",
                            "state": {"values": values}, "app_id": "A0001", "bot_id": "BBOT"},
                   "is_enterprise_install": False, "enterprise": None}
        return await self.post_form({"payload": json.dumps(payload)}, **kw)

    async def process(self) -> int:
        """Run the inbox until nothing is due (like the worker loop, without sleeping)."""
        total = 0
        for _ in range(20):
            n = await self.worker.run_once()
            total += n
            if n == 0:
                break
        return total

    def posts(self) -> list[Call]:
        return self.api.calls_to("chat.postMessage")

    @staticmethod
    def buttons(call: Call) -> list[dict[str, Any]]:
        return [el for b in call.params.get("blocks", []) if b["type"] == "actions" for el in b["elements"]]

    @staticmethod
    def texts(call: Call) -> str:
        out = []
        for b in call.params.get("blocks", []):
            if b["type"] in ("section", "header"):
                out.append(b["text"]["text"])
            elif b["type"] == "context":
                out.extend(e.get("text", "") for e in b["elements"])
        return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Fixtures (tests/conftest.py registers this module as a plugin: ``slack`` and ``slack_api`` are everywhere)

import pytest  # noqa: E402

PEOPLE = {
    "UAKI": {"name": "aki", "real_name": "Aki Tanaka", "tz": "Asia/Tokyo", "locale": "ja-JP", "is_admin": False},
    "UBEN": {"name": "ben", "real_name": "Ben Carter", "tz": "Europe/London", "locale": "en-GB", "is_admin": False},
    "UADMIN": {"name": "root", "real_name": "Rei Admin", "tz": "America/New_York", "locale": "en-US", "is_admin": True},
}


@pytest.fixture
async def slack_api():
    api = await FakeSlackApi(users={k: dict(v) for k, v in PEOPLE.items()}).start()
    yield api
    await api.stop()


def slack_settings(settings, api: FakeSlackApi, **changes):
    from tests.conftest import settings_with

    base = {"slack_signing_secret": SIGNING_SECRET, "slack_bot_token": BOT_TOKEN, "slack_api_base_url": api.base_url}
    base.update(changes)
    return settings_with(settings, **base)


@pytest.fixture
async def slack(settings, clock, slack_api):
    from bot.runtime import build_runtime

    rt = await build_runtime(slack_settings(settings, slack_api), clock=clock, migrate=False)
    harness = SlackHarness(rt, slack_api)
    yield harness
    await harness.close()
    await rt.close()
