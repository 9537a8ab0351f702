"""The web chat in a real browser, shared by the browser tests: headless Debian Chromium driven by
Playwright, and the real app (`bansou serve` under uvicorn on 127.0.0.1, a random port, the test's
database).

Registered as a plugin in tests/conftest.py, so ``server`` and ``browser`` are fixtures everywhere;
``browser`` skips when there is no Chromium or no Playwright here.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

try:
    from playwright import sync_api
except ImportError:  # the browser tests skip
    sync_api = None

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def find_chromium() -> str | None:
    for candidate in (os.environ.get("BANSOU_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = find_chromium()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(database_url, tmp_path):
    """The real app, as `make run` starts it, on a random loopback port; yields its base URL."""
    bansou = str(Path(sys.executable).parent / "bansou")
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DEFAULT_LANGUAGE": "ja"}
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN",
                 "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "WEB_COOKIE_SECRET"):
        env.pop(name, None)
    log = (tmp_path / "server.log").open("wb")
    for _attempt in range(3):
        port = free_port()
        proc = subprocess.Popen([bansou, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
                                env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        if proc.poll() is None:
            break
    else:
        pytest.fail("the server did not start:\n" + (tmp_path / "server.log").read_text(errors="replace")[-3000:])
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser():
    """A headless Chromium for the test. Not shared across tests: while Playwright's sync API runs, this
    thread's event loop is taken, and the async fixtures (the test database) need it between tests."""
    if CHROMIUM is None:
        pytest.skip("no Chromium here (run scripts/ensure-chromium, or set BANSOU_CHROMIUM)")
    if sync_api is None:
        pytest.skip("Playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A phone-sized tab that records every request and refuses any that leaves loopback."""

    def __init__(self, browser, base: str, *, locale: str, timezone_id: str = "Asia/Tokyo"):
        self.base = base
        self.requests: list[str] = []
        self.outside: list[str] = []
        # The page reports the browser's time zone for reminders (and crisis lines by country): these
        # visitors are in Japan unless a test says otherwise.
        self.ctx = browser.new_context(viewport={"width": 375, "height": 740}, locale=locale,
                                       timezone_id=timezone_id)
        self.ctx.route("**/*", self._route)
        self.ctx.on("request", lambda req: self.requests.append(req.url))
        self.page = self.ctx.new_page()
        # The page's CSP blocks foreign requests before routing sees them; a blocked attempt shows up here.
        self.console_errors: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def _route(self, route):
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self) -> None:
        self.page.goto(self.base + "/")
        self.page.wait_for_selector("body[data-ready=true]")
        self.settled()

    def settled(self) -> None:
        self.page.wait_for_selector("#log[aria-busy=false]", state="attached")

    def tap(self, label: str) -> None:
        self.page.locator("#log .choices").get_by_role("button", name=label, exact=True).click()
        self.settled()

    def type(self, text: str) -> None:
        box = self.page.locator("#composer-input")
        box.click()
        box.fill(text)
        box.press("Enter")
        self.settled()

    def bubbles(self) -> list[str]:
        return [t.strip() for t in self.page.locator("#log > li").all_inner_texts()]

    def last_bot_text(self) -> str:
        return self.page.locator("#log > li.msg-bot").last.inner_text()
