"""Local stand-ins for the LINE Messaging API and the Slack Web API, with fault injection.

Each is a real HTTP server (aiohttp) on 127.0.0.1 that the real SDK clients talk to through
``LINE_API_BASE_URL`` / ``SLACK_API_BASE_URL``. They keep what a user would have seen:

* LINE: a reply token works once (a second use is refused with 400, as LINE does), and a push
  carrying an ``X-Line-Retry-Key`` already accepted is refused with 409 and not shown again, as
  LINE does. ``deliveries`` holds only what reached the user's screen.
* Slack: every accepted ``chat.postMessage`` is a message on screen (Slack has no idempotency key).

Faults (``Fault``) make the next requests fail with 500, 429 + Retry-After, or a response that
never comes in time ("timeout"). A LINE timeout is, by default, *processed* before the response
is withheld: the hard case, where only the retry key keeps a retry from doubling the message.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from starlette.responses import JSONResponse

from tests.fake_line_api import FakeLineApi


@dataclass
class Fault:
    """Fail requests to matching paths: the next ``count`` of them, or all until ``seconds`` pass."""

    mode: str  # "500" | "429" | "timeout"
    count: int | None = None
    seconds: float | None = None
    retry_after: int = 1
    hold: float = 30.0  # how long a "timeout" response is withheld
    processed: bool = True  # "timeout": the request takes effect before its response is withheld
    paths: tuple[str, ...] = ()  # empty: every path
    _deadline: float | None = None
    hits: int = 0

    def active(self, path: str) -> bool:
        if self.paths and not any(path.endswith(p) for p in self.paths):
            return False
        if self.count is not None:
            return self.hits < self.count
        if self.seconds is not None:
            if self._deadline is None:
                self._deadline = time.monotonic() + self.seconds
            return time.monotonic() < self._deadline
        return True


@dataclass
class Delivery:
    """Something that reached the user's screen."""

    kind: str  # line: reply | push; slack: the method name
    to: str | None
    key: str | None  # reply token, retry key, or None
    messages: list[Any]
    at: float = field(default_factory=time.perf_counter)
    body: dict[str, Any] = field(default_factory=dict)


class _FakeServer:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.deliveries: list[Delivery] = []
        self.statuses: Counter[int] = Counter()
        self.requests: Counter[str] = Counter()
        self.on_delivery: list[Callable[[Delivery], None]] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._holding: set[asyncio.Task] = set()

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        app = self._app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=2048)
        await site.start()
        sock = site._server.sockets[0]  # noqa: SLF001 - the only way to learn an ephemeral port
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    def _deliver(self, d: Delivery) -> None:
        self.deliveries.append(d)
        for cb in self.on_delivery:
            cb(d)
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked on each delivery and every 0.2 s)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.2))
            except asyncio.TimeoutError:
                pass
        return True

    def _fault_for(self, path: str) -> Fault | None:
        for f in self.faults:
            if f.active(path):
                f.hits += 1
                return f
        return None

    async def _apply_fault(self, fault: Fault, effect: Callable[[], Any]) -> web.StreamResponse:
        """Answer as the fault says. A processed timeout runs ``effect`` first, then withholds the answer."""
        if fault.mode == "500":
            return self._json({"message": "Internal server error (injected)"}, 500)
        if fault.mode == "429":
            return self._json({"message": "Too many requests (injected)", "ok": False, "error": "ratelimited"},
                              429, headers={"Retry-After": str(fault.retry_after)})
        if fault.mode == "timeout":
            if fault.processed:
                effect()
            await asyncio.sleep(fault.hold)
            return self._json({"message": "too late"}, 504)
        raise ValueError(fault.mode)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        self.statuses[status] += 1
        return web.json_response(data, status=status, headers=headers)


class FaultyLineApi(FakeLineApi):
    """The LINE engineer's fake Messaging API (tests/fake_line_api.py: single-use reply tokens,
    409 for an accepted X-Line-Retry-Key, spec validation) plus time-window faults and timeouts
    whose request *did* take effect (the answer is withheld, so the caller cannot tell)."""

    def __init__(self, *, latency: tuple[float, float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults: list[Fault] = []
        self.injected: Counter[str] = Counter()
        # (min, max) seconds each reply/push waits, body already read, before LINE acts on it: a
        # caller killed meanwhile leaves a request that still takes effect, as it would at LINE.
        self.latency = latency

    async def _reply(self, request):  # noqa: ANN001 - starlette Request
        return await self._faulty("reply", request, super()._reply)

    async def _push(self, request):  # noqa: ANN001
        return await self._faulty("push", request, super()._push)

    async def _faulty(self, endpoint: str, request, handler):  # noqa: ANN001
        if self.latency:
            await request.body()  # starlette keeps it for the handler
            await asyncio.sleep(random.uniform(*self.latency))
        fault = next((f for f in self.faults if f.active(endpoint)), None)
        if fault is None:
            return await handler(request)
        fault.hits += 1
        self.injected[f"{endpoint}:{fault.mode}"] += 1
        if fault.mode == "timeout":
            response = await handler(request) if fault.processed else None
            await asyncio.sleep(fault.hold)
            return response or JSONResponse({"message": "too late"}, status_code=504)
        if fault.mode == "429":
            return JSONResponse({"message": "Too many requests"}, status_code=429,
                                headers={"Retry-After": str(fault.retry_after)})
        return JSONResponse({"message": "Internal server error"}, status_code=int(fault.mode))

    # ---- what a test asserts on
    def deliveries_by_key(self) -> Counter[str]:
        """How often each reply token / retry key reached the user's screen (each must be 1)."""
        return Counter((s.token or s.retry_key) for s in self.sent if (s.token or s.retry_key))

    def statuses(self, path_end: str) -> Counter[int]:
        return Counter(r.status for r in self.requests if r.path.endswith(path_end))


class FakeSlackAPI(_FakeServer):
    """The Slack Web API methods bansou calls; any other method answers ``{"ok": true}``."""

    def __init__(self, *, bot_token: str | None = None, team_id: str = "T0000000001",
                 bot_user_id: str = "U0BOT00001") -> None:
        super().__init__()
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self._ts = 1_700_000_000.000100

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 2**20)
        app.router.add_post("/api/{method}", self._method)
        app.router.add_get("/api/{method}", self._method)
        return app

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        params: dict[str, Any] = dict(request.query)
        if "json" in ctype:
            try:
                params.update(json.loads(raw or b"{}"))
            except ValueError:
                pass
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8", "replace")))
        for k in ("blocks", "metadata", "view", "attachments"):
            if isinstance(params.get(k), str):
                try:
                    params[k] = json.loads(params[k])
                except ValueError:
                    pass
        return params

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.requests[method] += 1
        params = await self._params(request)
        if self.bot_token is not None:
            auth = request.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth else params.get("token")
            if token != self.bot_token:
                return self._json({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return self._json({"ok": True, "url": "https://example.invalid/", "team": "Test", "user": "bansou",
                               "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "B0BOT00001"})
        posting = method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.publish",
                             "chat.scheduleMessage", "views.open")
        self._ts += 0.000100
        ts = f"{self._ts:.6f}"

        def effect() -> None:
            if posting:
                to = params.get("channel") or params.get("user_id") or params.get("user")
                self._deliver(Delivery(method, to, None, [params.get("text"), params.get("blocks")], body=params))

        if posting and (fault := self._fault_for(request.path)) is not None:
            return await self._apply_fault(fault, effect)
        effect()
        if method == "conversations.open":
            user = params.get("users") or "U0"
            return self._json({"ok": True, "channel": {"id": "D" + str(user)[1:]}})
        if method in ("chat.postMessage", "chat.update", "chat.scheduleMessage"):
            return self._json({"ok": True, "channel": params.get("channel"), "ts": ts,
                               "message": {"text": params.get("text"), "ts": ts}})
        if method == "chat.postEphemeral":
            return self._json({"ok": True, "message_ts": ts})
        if method in ("views.publish", "views.open"):
            return self._json({"ok": True, "view": {"id": "V" + ts.replace(".", "")}})
        if method == "users.info":
            user = params.get("user", "U0")
            return self._json({"ok": True, "user": {"id": user, "tz": "Asia/Tokyo", "locale": "ja-JP",
                                                    "profile": {"display_name": "Tester"}}})
        return self._json({"ok": True})

    def posts_to(self, channel: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.to == channel]


def start_in_thread(fake: _FakeServer) -> Callable[[], None]:
    """Run an aiohttp fake in its own thread and event loop (for sync tests); returns stop()."""
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(fake.stop())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return stop
