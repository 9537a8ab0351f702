"""The web chat's JSON API without a browser, shared by the web tests: the real app (create_app) over
httpx's ASGI transport on the test database, and a visitor who keeps the cookie, says things and taps
buttons. Registered as a plugin in tests/conftest.py, so ``app`` and ``web`` are fixtures everywhere."""
from __future__ import annotations

import httpx
import pytest

from handlers.web.identity import COOKIE_NAME

BASE = "http://testserver"
JSON = {"Content-Type": "application/json"}


def make_app(runtime):
    from handlers.app import create_app

    return create_app(runtime, scheduler=False)


@pytest.fixture
async def app(runtime):
    return make_app(runtime)


@pytest.fixture
async def web(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


class Visitor:
    """A browser-less visitor: keeps the cookie, says things, taps buttons."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.last: dict = {}

    async def start(self, language: str = "en") -> dict:
        r = await self.client.post("/api/start", json={"language": language}, headers=JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()
        return self.last

    async def says(self, text: str) -> dict:
        r = await self.client.post("/api/message", json={"text": text}, headers=JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()
        return self.last

    async def taps(self, label: str) -> dict:
        choices = [c for reply in self.last["replies"] for c in reply["choices"]]
        match = [c for c in choices if c["label"] == label]
        assert match, f"no button {label!r} among {[c['label'] for c in choices]}"
        r = await self.client.post("/api/message", json={"choice": match[0]["value"]}, headers=JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()
        return self.last

    def bot_said(self) -> str:
        return "\n".join(r["text"] for r in self.last["replies"])


async def onboard(v: Visitor) -> None:
    await v.start("en")
    await v.taps("English")
    await v.taps("Scores only")
    await v.taps("No reminders")


def _visitor_id(client: httpx.AsyncClient, runtime) -> str:
    from itsdangerous import URLSafeSerializer

    from handlers.edge import edge_of

    chat = edge_of(runtime).web
    serializer: URLSafeSerializer = chat.cookies._serializer
    return serializer.loads(client.cookies[COOKIE_NAME])
