#!/usr/bin/env python3
"""Screenshots of the web chat's fixed views for the README (issue 18): a reminder labelled with its
local time under a back-off question that keeps its buttons, the trend with equal scores drawn apart,
the live character counter, the folded privacy note with the time zone, and the English crisis panel.

    .venv/bin/python scripts/web-fix-screenshots.py      # starts `bansou serve` on a temp SQLite DB

Headless Debian Chromium at 390 x 844 (and 1280 x 860 for the trend), the browser in Europe/London,
no network beyond 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def in_thread(coro_fn):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn()).result()


def main() -> int:
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from bot.delivery import Delivery
    from bot.service import utcnow
    from bot.store.db import Database
    from bot.store.models import CheckIn, User
    from bot.types import Choice, Reply, UserKey
    from handlers.web.outbox import WebSender

    tmp = Path(tempfile.mkdtemp())
    db_url = f"sqlite:///{tmp}/shots.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"}
    bansou = str(Path(sys.executable).parent / "bansou")
    server = subprocess.Popen([bansou, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
                              env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            time.sleep(0.2)

    async def only_user():
        db = Database(db_url)
        try:
            async with db.session() as s:
                return (await s.execute(select(User).where(User.platform == "web"))).scalar_one()
        finally:
            await db.dispose()

    async def add_checkins():
        db = Database(db_url)
        try:
            async with db.session() as s:
                user = (await s.execute(select(User).where(User.platform == "web"))).scalar_one()
                now = datetime.now(timezone.utc)
                for days, (e, b, c) in ((36, (2, 3, 4)), (29, (3, 3, 3)), (22, (3, 2, 3)), (15, (4, 4, 4)),
                                        (8, (3, 3, 3)), (1, (4, 3, 4))):
                    s.add(CheckIn(user_id=user.id, at=now - timedelta(days=days), energy=e, boundaries=b,
                                  client_respect=c))
                await s.commit()
        finally:
            await db.dispose()

    def push(key: str, reply: Reply) -> None:
        user = in_thread(only_user)

        async def go():
            db = Database(db_url)
            try:
                await WebSender(db, clock=utcnow).send(
                    Delivery(user=UserKey("web", user.platform_user_id), idempotency_key=key), [reply])
            finally:
                await db.dispose()
        in_thread(go)

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("BANSOU_CHROMIUM", "/usr/bin/chromium"),
                                        args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                      timezone_id="Europe/London", device_scale_factor=1)
            page = ctx.new_page()
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")

            def say(text: str) -> None:
                box = page.locator("#composer-input")
                box.fill(text)
                box.press("Enter")
                page.wait_for_selector("#log[aria-busy=false]", state="attached")
                page.wait_for_timeout(200)

            for text in ("English", "scores only", "no reminders"):
                say(text)
            push("shot-backoff", Reply(text="I haven't heard from you in a while. Shall I send these less often?",
                                       message_id="nudge.backoff",
                                       choices=(Choice("Less often", "bo:less"), Choice("Keep as is", "bo:keep"),
                                                Choice("Stop them", "bo:stop"))))
            push("shot-nudge", Reply(text="A small question for today: which request could you hand back to "
                                          "the client this week?", message_id="nudge.shot",
                                     choices=(Choice("I thought about it", "n:1:done"), Choice("Talk about it", "n:1:talk"))))
            page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
            page.wait_for_selector("#log li.msg-reminder >> nth=1")
            page.wait_for_timeout(300)
            page.screenshot(path=str(DOCS / "web-reminders-en.png"))

            page.locator("#composer-input").fill("x" * 1900)
            page.wait_for_timeout(100)
            page.locator("#privacy-fold > summary").click()
            page.wait_for_timeout(100)
            page.screenshot(path=str(DOCS / "web-counter-tz-en.png"))
            page.locator("#composer-input").fill("")

            in_thread(add_checkins)
            desk = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB",
                                       timezone_id="Europe/London", device_scale_factor=1,
                                       storage_state=ctx.storage_state())
            dpage = desk.new_page()
            dpage.goto(base + "/")
            dpage.wait_for_selector("body[data-ready=true]")
            dpage.get_by_role("tab", name="My trend").click()
            dpage.wait_for_selector("#chart .chart-svg .pt")
            dpage.wait_for_timeout(300)
            dpage.screenshot(path=str(DOCS / "web-trend-equal-en.png"))

            # An English speaker in Japan: TELL first, the services you can write to, tel: links.
            tokyo = browser.new_context(viewport={"width": 390, "height": 1600}, locale="en-US",
                                        timezone_id="Asia/Tokyo", device_scale_factor=1)
            page = tokyo.new_page()
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            for text in ("English", "scores only", "no reminders", "I want to die"):
                say(text)
            page.wait_for_selector("#log .crisis-panel")
            page.wait_for_timeout(300)
            page.locator("#log .crisis-panel").last.screenshot(path=str(DOCS / "web-crisis-en.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    for name in ("web-reminders-en.png", "web-counter-tz-en.png", "web-trend-equal-en.png", "web-crisis-en.png"):
        print(DOCS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
