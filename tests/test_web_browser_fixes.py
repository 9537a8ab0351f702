"""The web chat's rough edges, each checked in a real browser at phone width (390 px) and on a desktop:
the trend view with check-ins shows no "no check-ins yet" box; equal scores stay visible as three
separate points; a reminder is labelled as one, with its local time, and does not take the buttons
away from the back-off question before it; the visitor's time zone comes from the browser and can be
changed; the export is a file to download; a long message gets a live counter and is never cut; the
privacy note folds on a narrow screen.

The visitor is set up through the page itself (onboarding starts on the first visit); check-ins and
reminders are written the way the coach and the scheduler write them, from outside the server.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from tests.browser_harness import Page, sync_api

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 390, "height": 780}, "desktop": {"width": 1280, "height": 860}}


def run_db(database_url: str, work) -> object:
    """Run ``work(session, user)`` against the only web visitor, in a thread (Playwright owns this loop)."""
    from sqlalchemy import select

    from bot.store.db import Database
    from bot.store.models import User

    async def go():
        db = Database(database_url)
        try:
            async with db.session() as s:
                user = (await s.execute(select(User).where(User.platform == "web"))).scalar_one()
                result = await work(s, user)
                await s.commit()
                return result
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def push(database_url: str, key: str, reply) -> None:
    from bot.delivery import Delivery
    from bot.service import utcnow
    from bot.store.db import Database
    from bot.types import UserKey
    from handlers.web.outbox import WebSender

    async def user_key(s, user):
        return UserKey("web", user.platform_user_id)

    uk = run_db(database_url, user_key)

    async def go():
        db = Database(database_url)
        try:
            await WebSender(db, clock=utcnow).send(Delivery(user=uk, idempotency_key=key), [reply])
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def open_tab(browser, server, size: str, *, locale="en-US", timezone_id="Europe/London") -> Page:
    tab = Page(browser, server, locale=locale)
    tab.ctx.close()
    # Same recording tab, at the size under test and in the browser's own time zone.
    tab.ctx = browser.new_context(viewport=SIZES[size], locale=locale, timezone_id=timezone_id,
                                  accept_downloads=True)
    tab.ctx.route("**/*", tab._route)
    tab.ctx.on("request", lambda req: tab.requests.append(req.url))
    tab.page = tab.ctx.new_page()
    tab.page.on("console", lambda msg: msg.type == "error" and tab.console_errors.append(msg.text))
    tab.page.on("pageerror", lambda exc: tab.console_errors.append(str(exc)))
    tab.open()
    return tab


@pytest.mark.parametrize("size", sorted(SIZES))
def test_web_chat_fixes_in_a_real_browser(server, browser, database_url, size):
    from bot.store.models import CheckIn
    from bot.types import Choice, Reply

    tab = open_tab(browser, server, size)
    page = tab.page

    # The browser's time zone (not the server's Asia/Tokyo default) is stored for reminders.
    expect = sync_api.expect
    expect(page.locator("#tz-current")).to_have_text("Europe/London")

    async def tz_of(s, user):
        return user.timezone
    assert run_db(database_url, tz_of) == "Europe/London"

    # The privacy note folds on a phone and stays open on a desktop.
    fold = page.locator("#privacy-fold")
    assert fold.evaluate("d => d.open") is (size == "desktop")
    if size == "phone":
        page.locator("#privacy-fold > summary").click()
        assert page.locator(".privacy").is_visible()

    # The visitor can choose another zone; a chosen zone is not overridden by the browser's on reload.
    page.select_option("#tz-select", "America/New_York")
    expect(page.locator("#tz-current")).to_have_text("America/New_York")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    tab.settled()
    page.wait_for_timeout(300)
    assert run_db(database_url, tz_of) == "America/New_York"
    assert page.locator("#tz-current").text_content() == "America/New_York"

    # Two check-ins whose three scores are all equal: the trend shows the chart, no "empty" box, and
    # three separate markers per check-in (no series hidden under another).
    async def add_checkins(s, user):
        now = datetime.now(timezone.utc)
        for days, score in ((8, 3), (1, 3)):
            s.add(CheckIn(user_id=user.id, at=now - timedelta(days=days), energy=score, boundaries=score,
                          client_respect=score))
    run_db(database_url, add_checkins)
    page.get_by_role("tab", name="My trend").click()
    page.wait_for_selector("#chart .chart-svg .pt")
    assert page.locator("#trend-empty").is_hidden()
    points = page.locator("#chart .chart-svg .pt")
    assert points.count() == 6
    boxes = [points.nth(i).bounding_box() for i in range(points.count())]
    centres = {(round(b["x"] + b["width"] / 2), round(b["y"] + b["height"] / 2)) for b in boxes}
    assert len(centres) == 6, f"markers drawn on top of each other: {sorted(centres)}"
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    page.get_by_role("tab", name="Chat").click()

    # A back-off question, then a reminder, pushed while away: both keep their buttons, the reminder is
    # labelled as a reminder with its local time, and the question is not mistaken for one's reply.
    push(database_url, "backoff-1", Reply(text="Shall I send these less often?", message_id="nudge.backoff",
                                          choices=(Choice("Less often", "bo:less"), Choice("Keep as is", "bo:keep"))))
    push(database_url, "nudge-1", Reply(text="A small question for Monday: what could you hand back this week?",
                                        message_id="nudge.test", choices=(Choice("Talk about it", "go:checkin"),)))
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_selector("#log li.msg-reminder >> text=A small question for Monday")
    reminders = page.locator("#log li.msg-reminder")
    assert reminders.count() == 2
    tag = reminders.last.locator(".reminder-tag").inner_text()
    assert tag.startswith("Reminder · ") and any(ch.isdigit() for ch in tag)
    assert reminders.first.locator(".choice").count() == 2
    assert reminders.last.locator(".choice").count() == 1

    # A message over the limit: a live counter, Send disabled, and nothing cut from what was written.
    long_text = "あ" * 2010
    box = page.locator("#composer-input")
    box.fill(long_text)
    counter = page.locator("#composer-count")
    assert counter.is_visible() and "2,010" in counter.inner_text()
    assert page.locator("#send").is_disabled()
    assert len(box.input_value()) == 2010
    box.fill("あ" * 1700)
    assert counter.is_visible() and not page.locator("#send").is_disabled()
    box.fill("")
    assert counter.is_hidden()

    # The data export can be saved as a file, and the file holds the export.
    tab.type("export my data")
    link = page.locator("#log a.download").last
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith("bansou-export-") and download.suggested_filename.endswith(".json")
    body = open(download.path(), encoding="utf-8").read()
    assert '"user"' in body or '"checkins"' in body

    assert tab.outside == [], tab.outside
    assert tab.console_errors == [], tab.console_errors
    tab.ctx.close()

    # The crisis panel reads as sections, not one wall of text, in both languages, and no Japanese line
    # starts with 「。」 after a phone number (a new visitor in Japan, first message).
    for locale, words in (("ja-JP", "死にたい"), ("en-US", "I want to die")):
        crisis_tab = open_tab(browser, server, size, locale=locale, timezone_id="Asia/Tokyo")
        crisis_tab.type(words)
        panel = crisis_tab.page.locator("#log .crisis-panel").last
        assert panel.is_visible()
        paragraphs = [t.strip() for t in panel.locator("p").all_inner_texts()]
        assert len(paragraphs) >= 5, paragraphs
        lines = [line.strip() for t in paragraphs for line in t.splitlines() if line.strip()]
        assert not [line for line in lines if line.startswith(("。", "、", "."))], lines
        assert panel.locator("a[href^='tel:']").count() >= 3
        assert panel.locator("a[href^='https://']").count() >= 1  # a service you can write to
        box = panel.bounding_box()
        assert box["width"] <= SIZES[size]["width"]
        assert crisis_tab.console_errors == [], crisis_tab.console_errors
        crisis_tab.ctx.close()
