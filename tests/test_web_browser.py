"""The web chat in a real browser: headless Debian Chromium driven by Playwright against the real app
(`bansou serve` under uvicorn on 127.0.0.1, a random port, the test database).

A visitor onboards and checks in by clicking and typing, reloads and finds the conversation still
there, sees what the bot noticed highlighted in their own words, opens their trend chart, writes
something that gets the crisis panel, and deletes their data. Throughout, the page must not make a
single request to anything but the loopback server.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser_harness import CHROMIUM, LOOPBACK, Page, sync_api

pytestmark = pytest.mark.browser
if CHROMIUM is None:
    pytest.skip("no Chromium here (run scripts/ensure-chromium, or set BANSOU_CHROMIUM)", allow_module_level=True)
if sync_api is None:
    pytest.skip("Playwright for Python is not installed", allow_module_level=True)


def test_a_visitor_checks_in_by_clicking_and_typing_in_a_real_browser(server, browser):
    tab = Page(browser, server, locale="en-US")
    page = tab.page
    tab.open()

    # The page follows the browser's language, and onboarding starts by itself.
    assert page.locator("html").get_attribute("lang") == "en"
    assert "I'm bansou" in tab.bubbles()[0]
    assert page.locator("#log").get_attribute("aria-live") == "polite"
    assert page.get_by_label("Your message").is_visible()

    # Onboarding by clicking.
    tab.tap("English")
    tab.tap("Scores only")
    tab.tap("No reminders")
    assert "What would you like to look at?" in tab.last_bot_text()

    # A check-in: a tap, a typed score, a tap, a written reflection, a tap.
    tab.tap("Weekly check-in")
    tab.tap("2")
    tab.type("4")
    tab.tap("3")
    tab.type("I answered clients at midnight again")
    tab.tap("I'll think about it")
    assert any("Saved." in b for b in tab.bubbles()[-3:])
    # The reflection sounded like overwork: after the check-in, rest is offered (as buttons).
    assert "rest" in tab.last_bot_text()

    # Shift+Enter is a new line, not a send; Enter during IME composition is not a send either.
    box = page.locator("#composer-input")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    count = len(tab.bubbles())
    box.fill("変換中")
    page.evaluate("""() => document.getElementById('composer-input').dispatchEvent(
        new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))""")
    assert box.input_value() == "変換中" and len(tab.bubbles()) == count
    box.fill("")

    # The conversation survives a reload (kept in this tab's sessionStorage, not on the server).
    before = tab.bubbles()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    tab.settled()
    assert tab.bubbles() == before
    assert any("I answered clients at midnight again" in b for b in before)

    # What the bot noticed is highlighted inside the visitor's own words.
    tab.type("I can't say no to my clients")
    mark = page.locator("#log li.msg-user mark.evidence").last
    assert mark.inner_text().startswith("can't say no")
    noticed = page.locator("#log li.msg-noticed").last
    assert "What I noticed" in noticed.inner_text()
    assert page.locator("#log .choices .choice").count() == 2  # the offer: accept or decline

    # Keyboard: a choice button is focusable and works with Enter.
    page.locator("#log .choices .choice").last.focus()
    page.keyboard.press("Enter")
    tab.settled()
    assert "your call" in tab.last_bot_text().lower()

    # The trend chart shows the check-in as points, one per score.
    page.get_by_role("tab", name="My trend").click()
    page.wait_for_selector("#chart .chart-svg .pt")
    assert page.locator("#chart .chart-svg .pt").count() == 3
    assert "Energy left 2" in page.locator("#chart .chart-svg").get_attribute("aria-label")
    assert page.locator("#patterns").inner_text().count("×") >= 1  # the noticed pattern, as a count
    page.get_by_role("tab", name="Chat").click()

    # The page fits a 375 px screen without sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # A crisis message gets the crisis panel with tappable numbers.
    tab.type("I want to die")
    panel = page.locator("#log .crisis-panel").last
    assert panel.is_visible()
    assert panel.get_attribute("role") == "alert"
    tels = panel.locator("a[href^='tel:']")
    assert tels.count() >= 2
    assert "tel:0120279338" in [tels.nth(i).get_attribute("href") for i in range(tels.count())]

    # Language switch: the page and the bot both change.
    page.get_by_role("button", name="日本語").click()
    tab.settled()
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.get_by_role("tab", name="チャット").is_visible()

    # A second tab shares the identity but not the transcript (sessionStorage is per tab): it says
    # welcome back; the visitor is still in crisis care, so it offers no menu or check-in to start from.
    second = tab.ctx.new_page()
    second.goto(server + "/")
    second.wait_for_selector("body[data-ready=true]")
    assert "おかえりなさい" in second.locator("#log").inner_text()
    assert second.locator("#log .choices .choice").count() == 0
    assert not second.locator(".quick").is_visible()

    assert tab.outside == [], f"the page tried to reach beyond loopback: {tab.outside}"
    assert tab.console_errors == [], tab.console_errors
    assert all((urlsplit(u).hostname or "") in LOOPBACK for u in tab.requests if u.startswith("http"))
    tab.ctx.close()


def push_to_the_only_web_visitor(database_url: str, reply) -> None:
    """What the reminder scheduler does: hand a reply to the web sender (from outside the server)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from bot.delivery import Delivery
    from bot.service import utcnow
    from bot.store.db import Database
    from bot.store.models import User
    from bot.types import UserKey
    from handlers.web.outbox import WebSender

    async def go() -> None:
        db = Database(database_url)
        try:
            async with db.session() as s:
                user = (await s.execute(select(User).where(User.platform == "web"))).scalar_one()
            key = UserKey("web", user.platform_user_id)
            await WebSender(db, clock=utcnow).send(Delivery(user=key, idempotency_key="reminder-1"), [reply])
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop in this thread
        pool.submit(asyncio.run, go()).result()


def test_reminders_arrive_and_delete_my_data_clears_the_server_the_cookie_and_the_tab(server, browser,
                                                                                       database_url):
    from bot.types import Choice, Reply

    tab = Page(browser, server, locale="ja-JP")
    page = tab.page
    tab.open()
    assert page.locator("html").get_attribute("lang") == "ja"
    tab.tap("日本語")
    tab.tap("点数だけ")
    tab.tap("リマインドなし")
    # A reminder pushed while the page was away shows up, with its buttons, when the page comes back.
    push_to_the_only_web_visitor(database_url, Reply(
        text="月曜の小さな問い：今週、ひとつ手放せそうな仕事は？", message_id="nudge.test",
        choices=(Choice("チェックインする", "go:checkin"),)))
    page.reload()
    page.wait_for_selector("#log li.msg-bot >> text=月曜の小さな問い")
    tab.tap("チェックインする")
    assert "エネルギー" in tab.last_bot_text()
    tab.type("キャンセル")

    cookie_before = [c["value"] for c in tab.ctx.cookies() if c["name"] == "bansou_visitor"]
    assert cookie_before and all(c["httpOnly"] for c in tab.ctx.cookies() if c["name"] == "bansou_visitor")

    tab.type("データ削除")
    tab.tap("はい、すべて削除")
    assert page.evaluate("sessionStorage.getItem('bansou.transcript.v1')") is None
    texts = tab.bubbles()
    assert len(texts) == 2 and "削除" in texts[0]  # only the confirmation and the "cleared" note remain
    assert [c for c in tab.ctx.cookies() if c["name"] == "bansou_visitor"] == []

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    tab.settled()
    assert "bansou" in tab.bubbles()[0]  # a brand-new start: onboarding again
    cookie_after = [c["value"] for c in tab.ctx.cookies() if c["name"] == "bansou_visitor"]
    assert cookie_after and cookie_after != cookie_before
    assert tab.outside == [] and tab.console_errors == [], (tab.outside, tab.console_errors)
    tab.ctx.close()
