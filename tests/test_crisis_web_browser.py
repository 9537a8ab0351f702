"""Crisis care in the web chat, in a real browser (headless Chromium via Playwright, the real app on
loopback): the panel lists the phone lines as tel: links and the services you can write to as web
links; "I can't phone" brings the written services first; care continues without the menu."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser_harness import LOOPBACK, Page

pytestmark = pytest.mark.browser


def test_the_crisis_panel_lists_phone_lines_and_text_services_as_links(server, browser):  # noqa: F811
    tab = Page(browser, server, locale="en-US")
    page = tab.page
    tab.open()
    tab.tap("English")
    tab.tap("Scores only")
    tab.tap("No reminders")

    assert page.locator(".quick").is_visible()
    tab.type("I want to die")
    assert not page.locator(".quick").is_visible()  # no menu or check-in shortcut while in care
    panel = page.locator("#log .crisis-panel").last
    assert panel.is_visible() and panel.get_attribute("role") == "alert"
    tels = [a.get_attribute("href") for a in panel.locator("a.tel").all()]
    assert tels[0] == "tel:0357740992"  # an English speaker in Japan: TELL first
    assert "tel:0120279338" in tels and "tel:988" not in tels
    texts = panel.locator("a.web")
    hrefs = [a.get_attribute("href") for a in texts.all()]
    assert "https://talkme.jp/" in hrefs and "https://www.mhlw.go.jp/mamorouyokokoro/" in hrefs
    assert all(a.get_attribute("target") == "_blank" and "noopener" in a.get_attribute("rel") for a in texts.all())
    # the lines within reach, under the last reply: links that call or open, and care's own buttons
    reach = page.locator("#log .choices a.choice-link")
    assert reach.count() >= 1 and reach.first.get_attribute("href").startswith(("tel:", "https://"))
    assert page.locator("#log .choices").get_by_role("button", name="I can't phone").is_visible()

    tab.tap("I can't phone")
    panel = page.locator("#log .crisis-panel").last
    body = panel.inner_text()
    assert body.index("Write instead") < body.index("Talk on the phone")
    assert page.locator("#log .choices a.choice-link[href='https://talkme.jp/']").count() == 1

    tab.type("sorry, I'm ok. just tired")
    assert "how are you feeling right now" in tab.last_bot_text()
    assert page.locator("#log .choices").get_by_role("button", name="A bit calmer now").is_visible()
    # a reload (same identity): still care, still no shortcuts
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    tab.settled()
    assert not page.locator(".quick").is_visible()
    log = page.locator("#log").inner_text()
    assert "What would you like to look at?" not in log.split("I want to die", 1)[1]  # never the menu

    assert tab.outside == [], f"the page tried to reach beyond loopback: {tab.outside}"
    assert tab.console_errors == [], tab.console_errors
    assert all((urlsplit(u).hostname or "") in LOOPBACK for u in tab.requests if u.startswith("http"))
    tab.ctx.close()
