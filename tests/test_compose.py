"""The composition root (handlers/compose.py): the channels and senders a configuration turns on."""
from __future__ import annotations

from bot.runtime import build_runtime
from handlers.compose import build_channels, install_senders
from handlers.edge import edge_of
from tests.conftest import settings_with


async def test_only_the_web_chat_is_on_when_no_platform_credentials_are_set(settings, clock):
    rt = await build_runtime(settings, clock=clock, migrate=False)
    try:
        install_senders(rt)
        assert [c.name for c in build_channels(rt)] == ["web"]
        assert set(rt.senders) == {"web"}
        edge = edge_of(rt)
        assert edge.line_api is None and edge.slack is None and edge.web is not None
    finally:
        await rt.close()


async def test_line_and_slack_come_on_with_their_credentials_(settings, clock):
    on = settings_with(settings, line_channel_secret="s", line_channel_access_token="t",
                       line_api_base_url="http://127.0.0.1:9", slack_signing_secret="s", slack_bot_token="xoxb-t",
                       slack_api_base_url="http://127.0.0.1:9/api/")
    rt = await build_runtime(on, clock=clock, migrate=False)
    try:
        install_senders(rt)
        channels = build_channels(rt)
        assert [c.name for c in channels] == ["web", "line", "slack"]
        assert set(rt.senders) == {"web", "line", "slack"}
        edge = edge_of(rt)
        assert edge.line_api is not None and rt.senders["line"].line is edge.line_api  # one LINE client
        assert rt.senders["slack"] is edge.slack.sender
    finally:
        await rt.close()


async def test_slack_alone_leaves_line_off(settings, clock):
    on = settings_with(settings, slack_signing_secret="s", slack_bot_token="xoxb-t",
                       slack_api_base_url="http://127.0.0.1:9/api/")
    rt = await build_runtime(on, clock=clock, migrate=False)
    try:
        install_senders(rt)
        assert [c.name for c in build_channels(rt)] == ["web", "slack"]
        assert "line" not in rt.senders and edge_of(rt).line_api is None
    finally:
        await rt.close()
