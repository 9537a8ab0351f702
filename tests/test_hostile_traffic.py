"""Issue 17 (3): traffic nobody signed cannot exhaust the server.

The real app (``create_app``) runs under uvicorn with the production config
(``handlers.server.server_config``: limits, timeouts, the connection guard) on a loopback port;
attackers are raw sockets and httpx clients."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import httpx
import pytest
import uvicorn

from bot.runtime import build_runtime
from handlers.edge import edge_of
from tests.conftest import settings_with
from tests.fake_line_api import callback_body, line_id, text_event, webhook_headers
from tests.fake_slack_api import SIGNING_SECRET, signed_headers

LINE_SECRET = "hostile-line-secret"


@contextlib.asynccontextmanager
async def serve(settings, clock, **guard_options):
    from handlers.app import create_app
    from handlers.server import ConnectionGuard, server_config

    rt = await build_runtime(settings_with(settings, line_channel_secret=LINE_SECRET, line_channel_access_token="t",
                                           line_api_base_url="http://127.0.0.1:9", slack_signing_secret=SIGNING_SECRET,
                                           slack_bot_token="xoxb-test", slack_api_base_url="http://127.0.0.1:9/api/"),
                             clock=clock, migrate=False)
    guard = ConnectionGuard(**guard_options)
    app = create_app(rt, scheduler=False)
    assert edge_of(rt).asgi_app is app  # a test below adds a route to it
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=0, guard=guard))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield rt, guard, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def server(settings, clock):
    async with serve(settings, clock) as s:
        yield s


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """What the server sent before closing (raises TimeoutError if it keeps the connection open)."""
    data = b""
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            data += chunk
    return data


# -- body limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/slack/events", "/line/webhook", "/api/message", "/healthz", "/"])
async def test_a_60_mib_body_is_refused_before_it_is_read(server, path):
    """Before: /slack/events read all 60 MiB and parsed its JSON (RSS 136 → 1,687 MB), then said 401."""
    _, _, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {60 * 1024 * 1024}\r\n\r\n").encode()
    writer.write(head + b"[{},{},")  # then nothing: the answer must not wait for the rest
    await writer.drain()
    answer = await _closed_by_server(reader, 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


async def test_a_chunked_body_is_cut_off_at_the_limit(server):
    _, _, port = server
    sent = 0

    async def flood():
        nonlocal sent
        piece = b"[{}," * 16384
        for _ in range(1000):  # 64 MiB if nobody stops it
            sent += len(piece)
            yield piece

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            r = await http.post(f"http://127.0.0.1:{port}/slack/events", content=flood(),
                                headers={"Content-Type": "application/json"})
            assert r.status_code == 413
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            pass  # the server answered 413 and hung up while the body was still going
    assert sent < 8 * 1024 * 1024 and time.monotonic() - started < 10


# -- Slack: signature first ---------------------------------------------------------------------------

async def test_malformed_slack_timestamps_get_a_4xx_and_no_error_log(server, caplog):
    """Before: a non-numeric X-Slack-Request-Timestamp gave a 500 and an ERROR log line."""
    _, _, port = server
    body = json.dumps({"type": "event_callback", "event": {"type": "message"}})
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for ts in ("soon", "", "1e9", "-5", "9" * 5000, "１７００００００００", str(int(time.time())) + ".5"):
            headers = signed_headers(SIGNING_SECRET, body, content_type="application/json")
            headers["X-Slack-Request-Timestamp"] = ts.encode("utf-8")
            r = await http.post("/slack/events", content=body, headers=headers)
            assert 400 <= r.status_code < 500, (ts[:20], r.status_code)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_unsigned_body_is_refused_before_its_json_is_parsed(server, monkeypatch):
    """The shape check (which parses JSON) runs only on signed bodies now."""
    import handlers.slack.guard as guard

    parsed = []
    real = guard.jsonwire.loads
    monkeypatch.setattr(guard.jsonwire, "loads", lambda data: parsed.append(1) or real(data))
    _, _, port = server
    body = "[" + "{}," * 100_000 + "{}]"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        r = await http.post("/slack/events", content=body, headers={"Content-Type": "application/json",
                                                                    "X-Slack-Request-Timestamp": str(int(time.time())),
                                                                    "X-Slack-Signature": "v0=" + "0" * 64})
    assert r.status_code == 401 and parsed == []


# -- idle and slow clients --------------------------------------------------------------------------

async def test_two_thousand_idle_connections_do_not_starve_healthz(server):
    """Before: 2,010 idle connections made every request, /healthz included, 503 (limit_concurrency)."""
    _, guard, port = server
    idle = []
    for _ in range(2010):
        idle.append(await asyncio.open_connection("127.0.0.1", port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            r = await http.get("/healthz")
        assert r.status_code == 200, r.text
        assert guard.closed_idle >= 2010 - guard.max_idle
    finally:
        for _, writer in idle:
            writer.close()


async def test_idle_and_slow_header_connections_are_closed(settings, clock):
    async with serve(settings, clock, idle_timeout=1.0) as (_, guard, port):
        silent = await asyncio.open_connection("127.0.0.1", port)
        trickle = await asyncio.open_connection("127.0.0.1", port)
        trickle[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()

        async def drip():
            with contextlib.suppress(ConnectionError):
                for _ in range(40):
                    trickle[1].write(b"X-Slow: 1\r\n")
                    await trickle[1].drain()
                    await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        assert await _closed_by_server(silent[0], 4) == b""
        await _closed_by_server(trickle[0], 4)
        assert time.monotonic() - started < 4
        dripping.cancel()
        # a client that sends its request in time is served as before
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200


async def test_a_slow_body_is_answered_408_and_closed(settings, clock, monkeypatch):
    import handlers.hardening as hardening

    monkeypatch.setattr(hardening, "BODY_TIMEOUT_SECONDS", 1.0)
    async with serve(settings, clock) as (_, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /line/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"events\": [")
        await writer.drain()
        answer = await _closed_by_server(reader, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


# -- LINE: pacing counts only signed requests -----------------------------------------------------------

async def test_slow_unsigned_line_bodies_do_not_hold_back_the_inbox(server):
    """Before: 8 slow unsigned bodies counted as webhooks in flight, so the inbox waited its full
    pause before every event (100 events: 0.8 s → 53.8 s) and reply tokens expired."""
    rt, _, port = server
    ack_first = edge_of(rt).channels["line"].asgi_paths["/line/webhook"].ack_first
    slow = []
    for _ in range(8):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /line/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Line-Signature: bm90LWEtc2lnbmF0dXJl\r\nContent-Length: 5000\r\n\r\n{\"events\": [")
        await writer.drain()
        slow.append(writer)
    await asyncio.sleep(0.3)
    try:
        assert ack_first.in_flight == 0 and not ack_first.bursting()
        started = time.monotonic()
        await ack_first.wait_for_acks()
        assert time.monotonic() - started < 0.05
        # a signed webhook meanwhile is acknowledged at once
        body = callback_body(text_event(line_id(), "hello", reply_token=None))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            r = await http.post("/line/webhook", content=body, headers=webhook_headers(body, LINE_SECRET))
        assert r.status_code == 200
    finally:
        for writer in slow:
            writer.close()


async def test_a_long_request_behind_a_trusted_proxy_is_never_taken_for_an_idle_connection(settings, clock):
    """The guard finds a request's connection by its address; with X-Forwarded-For from a trusted
    proxy the app sees the forwarded address, which must not hide the connection from the guard."""
    async with serve(settings, clock, idle_timeout=0.5) as (rt, guard, port):
        from starlette.routing import Route

        seen = []

        async def slow(request):
            from starlette.responses import PlainTextResponse

            seen.append(request.client.host)
            await asyncio.sleep(2.0)  # longer than the idle timeout
            return PlainTextResponse("done")

        edge_of(rt).asgi_app.router.routes.append(Route("/slow", slow))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            r = await http.get("/slow", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 200 and r.text == "done"
        assert seen == ["203.0.113.9"]
