"""The issue's "done when", read literally: the whole app (create_app, uvicorn on 127.0.0.1, the
inbox worker running on its own) with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_BASE_URL
pointed at a local server that plays the Slack Web API."""
from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import uvicorn

from bot.runtime import build_runtime
from bot.store import repo
from bot.types import UserKey
from handlers.app import create_app
from tests.fake_slack_api import SIGNING_SECRET, dm, event_body, signed_headers, slack_settings


async def test_done_when_a_signed_dm_is_answered_a_retry_is_not_coach_acks_and_app_home_shows_the_trend(
        settings, slack_api):
    runtime = await build_runtime(slack_settings(settings, slack_api), migrate=False)  # real clock
    app = create_app(runtime, scheduler=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            # 1. a signed DM event gets its answer through chat.postMessage within a second
            body = json.dumps(event_body(dm("UBEN", "hello"), event_id="Ev-done-1"))
            r = await http.post("/slack/events", content=body,
                                headers=signed_headers(SIGNING_SECRET, body, content_type="application/json"))
            assert r.status_code == 200
            [answer] = await slack_api.wait_for("chat.postMessage", 1, timeout=1.0)
            assert answer.params["channel"] == "DBEN"

            # 2. Slack's retry of the same event gets nothing
            r = await http.post("/slack/events", content=body, headers=signed_headers(
                SIGNING_SECRET, body, content_type="application/json", retry_num=1))
            assert r.status_code == 200
            await asyncio.sleep(0.5)
            assert len(slack_api.calls_to("chat.postMessage")) == 1

            # 3. /coach acks within 3 seconds (Slack's contract), then the menu arrives
            form = ("token=legacy&team_id=T0001&channel_id=DBEN&channel_name=directmessage&user_id=UBEN"
                    "&command=%2Fcoach&text=&api_app_id=A0001&trigger_id=987.654"
                    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1")
            started = time.monotonic()
            r = await http.post("/slack/events", content=form, headers=signed_headers(
                SIGNING_SECRET, form, content_type="application/x-www-form-urlencoded"))
            assert r.status_code == 200
            assert time.monotonic() - started < 3.0
            posts = await slack_api.wait_for("chat.postMessage", 2, timeout=5.0)
            assert "c:menu:choose:checkin" in json.dumps(posts[-1].params["blocks"])

            # 4. opening App Home publishes the trend (Ben has one check-in this week)
            async with runtime.db.session() as s:
                ben = await repo.get_user(s, UserKey("slack", "T0001:UBEN"))
                await repo.save_checkin(s, ben, now=runtime.clock(), energy=4, boundaries=2, client_respect=5,
                                        reflection=None)
                await s.commit()
            home = json.dumps(event_body({"type": "app_home_opened", "user": "UBEN", "channel": "DBEN",
                                          "tab": "home", "event_ts": "1700000000.5"}, event_id="Ev-done-home"))
            r = await http.post("/slack/events", content=home,
                                headers=signed_headers(SIGNING_SECRET, home, content_type="application/json"))
            assert r.status_code == 200
            [published] = await slack_api.wait_for("views.publish", 1, timeout=5.0)
            view = json.dumps(published.params["view"], ensure_ascii=False)
            assert published.params["user_id"] == "UBEN"
            assert "Check-ins, last 8 weeks" in view
            assert "·······▆  latest 4.0" in view and "·······▃  latest 2.0" in view
    finally:
        server.should_exit = True
        await serving
