"""Socket Mode (SLACK_APP_TOKEN): events arrive over a WebSocket instead of HTTP and take the same
path: the same Bolt listeners, the durable inbox, the same answer."""
from __future__ import annotations

import asyncio

from bot.runtime import build_runtime
from tests.fake_slack_api import SlackHarness, dm, event_body, slack_settings


async def test_socket_mode_events_go_through_the_inbox_and_are_acked(settings, clock, slack_api):
    rt = await build_runtime(slack_settings(settings, slack_api, slack_app_token="xapp-1-A0001-test"), clock=clock,
                             migrate=False)
    harness = SlackHarness(rt, slack_api)
    try:
        assert harness.channel.on_start and harness.channel.on_stop
        for hook in harness.channel.on_start:
            await hook()
        [opened] = slack_api.calls_to("apps.connections.open")
        assert opened.token == "xapp-1-A0001-test"
        envelope = {"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                    "retry_attempt": 0, "retry_reason": "",
                    "payload": event_body(dm("UBEN", "hello"), event_id="Ev-socket")}
        await slack_api.socket_envelopes.put(envelope)
        await slack_api.socket_envelopes.put(dict(envelope, envelope_id="env-2", retry_attempt=1))  # a retry
        for _ in range(300):
            if len([a for a in slack_api.socket_acks if a.get("envelope_id")]) >= 2:
                break
            await asyncio.sleep(0.01)
        assert {a["envelope_id"] for a in slack_api.socket_acks} >= {"env-1", "env-2"}
        await harness.process()
        [post] = harness.posts()
        assert post.params["channel"] == "DBEN"
    finally:
        for hook in harness.channel.on_stop:
            await hook()
        await harness.close()
        await rt.close()
