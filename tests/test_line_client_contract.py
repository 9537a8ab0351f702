"""The fence around the one SDK internal we still touch: handlers.line.api._Client moves the LINE
SDK's connector to an aiohttp session without ``trust_env`` (see the comment there for why).

These tests fail when the SDK changes what the swap relies on (its ``rest_client.pool_manager`` is
an aiohttp session made with ``trust_env=True`` and no public option to turn that off), so an SDK
upgrade cannot silently break or outlive it; and they check that a client built this way still
sends through the SDK's own connector, and that a configured proxy is still honoured."""
from __future__ import annotations

import aiohttp
import pytest
from linebot.v3.messaging import AsyncApiClient, Configuration

from handlers.line.api import LineApi, _Client
from tests.fake_line_api import FakeLineApi, line_id, line_settings

pytestmark = pytest.mark.sqlite_only  # no database involved


async def test_the_sdk_still_makes_its_session_with_trust_env_and_offers_no_option_against_it():
    configuration = Configuration(host="http://127.0.0.1:9", access_token="t")
    assert not any("trust_env" in name or "session" in name for name in vars(configuration)), \
        "the SDK's Configuration has grown a session option: use it and drop the swap in _Client"
    client = AsyncApiClient(configuration)
    try:
        session = client.rest_client.pool_manager
        assert isinstance(session, aiohttp.ClientSession)
        assert session.trust_env is True, "the SDK no longer trusts the environment: drop the swap in _Client"
        assert client.rest_client.proxy is None
    finally:
        await client.close()


async def test_our_client_sends_through_the_sdks_connector_without_the_environment_lookups(settings):
    fake = FakeLineApi()
    async with fake.serve():
        api = LineApi(line_settings(settings, fake))
        client = api.api.api_client
        assert isinstance(client, _Client)
        session = client.rest_client.pool_manager
        assert session.trust_env is False
        assert session.connector.limit == api.configuration.connection_pool_maxsize  # the SDK's own connector
        user = line_id()
        await api.send(to=user, messages=[{"type": "text", "text": "hello"}], retry_key="k-1")
        await api.close()
        assert session.closed and session.connector is None  # closing the SDK client closed it
    assert [t for s in fake.sent_to(user) for t in s.texts] == ["hello"]


async def test_with_a_proxy_for_the_line_host_the_sdks_own_session_is_kept(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = _Client(Configuration(host="https://api.line.me", access_token="t"))
    try:
        assert client.rest_client.pool_manager.trust_env is True
    finally:
        await client.close()
