"""The web chat's JSON API without a browser: the real app (create_app) over httpx's ASGI transport,
on the test database. Conversations read as transcripts; bad input must get a 4xx with a reason."""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.delivery import Delivery, DeliveryError
from bot.store import repo
from bot.store.models import CheckIn, User
from bot.store.web_models import WebPendingMessage, WebSecret
from bot.types import Choice, Reply, UserKey
from handlers.web.identity import COOKIE_NAME
from handlers.web.validate import MAX_BODY_BYTES
from tests.web_harness import BASE, JSON, Visitor, _visitor_id, make_app, onboard

# ------------------------------------------------------------------------------- the page


async def test_the_page_is_served_in_the_browsers_language_with_a_signed_httponly_cookie(web):
    r = await web.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,ja;q=0.5"})
    assert r.status_code == 200
    assert '<html lang="en">' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(COOKIE_NAME + "=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie

    r = await web.get("/", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"})
    assert '<html lang="ja">' in r.text


async def test_page_and_assets_reference_nothing_outside_this_origin(web):
    page = (await web.get("/")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/web/static/") or a.startswith("#") for a in assets), assets
    for asset in {a.split("?")[0] for a in assets if a.startswith("/")}:
        r = await web.get(asset)
        assert r.status_code == 200, asset
    static = Path(__file__).resolve().parent.parent / "handlers" / "web" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text, flags=re.I))
        assert urls <= {"http://www.w3.org/2000/svg"}, (path.name, urls)  # an XML namespace, never fetched
        assert "@import" not in text and "url(" not in text


async def test_https_requests_get_a_secure_cookie(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as client:
        r = await client.get("/api/session")
    assert "Secure" in r.headers["set-cookie"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        r = await client.get("/api/session", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["set-cookie"]


# -------------------------------------------------------------------------- conversations


async def test_a_newcomer_is_onboarded_and_checks_in_by_tapping(web, runtime):
    v = Visitor(web)
    session = (await web.get("/api/session", headers={"Accept-Language": "en"})).json()
    assert session["known"] is False and session["language"] == "en"

    started = await v.start("en")
    assert started["started"] is True and started["state"] == "onboarding:language"
    assert "bansou" in v.bot_said()
    again = (await web.post("/api/start", json={"language": "en"}, headers=JSON)).json()
    assert again["started"] is False and again["replies"] == []  # a reload does not restart onboarding

    await v.taps("English")
    await v.taps("Scores only")
    await v.taps("No reminders")
    assert v.last["state"] == "menu:choose"

    await v.taps("Weekly check-in")
    assert v.last["state"] == "checkin:energy"
    await v.taps("2")
    await v.says("4")  # typing a score works as well as tapping it
    await v.taps("3")
    await v.says("I answered clients at midnight all week")
    await v.taps("I'll think about it")
    assert v.last["state"] == "idle"

    session = (await web.get("/api/session")).json()
    assert session["known"] is True and session["language"] == "en"
    trend = (await web.get("/api/trend")).json()
    assert [(c["energy"], c["boundaries"], c["client_respect"]) for c in trend["checkins"]] == [(2, 4, 3)]
    assert len(trend["weeks"]) == 12 and trend["weeks"][-1]["checkins"] == 1
    assert trend["weeks"][-1]["average"] == {"energy": 2.0, "boundaries": 4.0, "client_respect": 3.0}
    async with runtime.db.session() as s:
        user = await repo.get_user(s, UserKey("web", _visitor_id(web, runtime)))
        checkin = (await s.execute(select(CheckIn).where(CheckIn.user_id == user.id))).scalar_one()
    assert checkin.reflection is None  # "scores only": the words were not kept


async def test_what_the_bot_noticed_points_at_the_span_in_the_users_own_words(web):
    v = Visitor(web)
    await onboard(v)
    await v.says("cancel")  # leave the menu onboarding ends in
    assert v.last["state"] == "idle"
    text = "Honestly 😮‍💨 I can't say no to my clients"
    out = await v.says(text)
    noticed = [r for r in out["replies"] if r["style"] == "noticed"]
    assert len(noticed) == 1
    ev = noticed[0]["evidence"][0]
    assert ev["kind"] == "people_pleasing"
    assert text[ev["start"]:ev["end"]] == ev["evidence"] == "can't say no"  # code-point offsets
    assert out["signals"][0]["kind"] == "people_pleasing"
    assert any(c["value"].startswith("go:") for r in out["replies"] for c in r["choices"])


async def test_a_crisis_message_gets_the_crisis_reply_with_hotline_numbers(web):
    v = Visitor(web)
    await onboard(v)
    out = await v.says("I want to die")
    crisis = [r for r in out["replies"] if r["style"] == "crisis"]
    assert len(crisis) == 1
    assert re.search(r"0120-279-338|988", crisis[0]["text"])
    assert crisis[0]["evidence"][0]["kind"] == "crisis"
    assert (await web.get("/api/session")).json()["crisis_paused"] is True


async def test_delete_my_data_erases_the_visitor_and_forgets_the_cookie(web, runtime):
    v = Visitor(web)
    await onboard(v)
    await v.taps("Weekly check-in")
    for score in ("3", "3", "3"):
        await v.taps(score)
    await v.taps("Skip")
    await v.taps("I'll think about it")
    visitor_id = _visitor_id(web, runtime)

    await v.says("delete my data")
    out = await v.taps("Yes, delete all")
    assert out["deleted"] is True and out["visitor_ref"] is None
    assert "deleted" in v.bot_said().lower()
    assert COOKIE_NAME not in web.cookies  # the response expired the cookie
    async with runtime.db.session() as s:
        assert await repo.get_user(s, UserKey("web", visitor_id)) is None
        assert (await s.execute(select(func.count()).select_from(CheckIn))).scalar_one() == 0

    session = (await web.get("/api/session")).json()
    assert session["known"] is False and session["new_identity"] is True
    assert _visitor_id(web, runtime) != visitor_id


# ------------------------------------------------------------------------------ bad input


BAD_BODIES = [
    ("not JSON", b"hello", 400, "not valid JSON"),
    ("an array", b'["text"]', 400, "JSON object"),
    ("a string", b'"hi"', 400, "JSON object"),
    ("empty body", b"", 400, "empty"),
    ("both fields", b'{"text": "a", "choice": "go:menu"}', 400, "exactly one"),
    ("neither field", b"{}", 400, "exactly one"),
    ("unknown field", b'{"text": "a", "admin": true}', 400, "unknown field"),
    ("a number as text", b'{"text": 42}', 400, "must be a string"),
    ("null choice", b'{"choice": null}', 400, "must be a string"),
    ("blank text", b'{"text": "   "}', 400, "empty"),
    ("text too long", json.dumps({"text": "x" * 2001}).encode(), 413, "longer than 2000"),
    ("choice too long", json.dumps({"choice": "c" * 301}).encode(), 400, "longer than 300"),
    ("lone surrogate", b'{"text": "\\ud800 hi"}', 400, "surrogate"),
    ("NUL character", b'{"text": "a\\u0000b"}', 400, "NUL"),
    ("control character in choice", b'{"choice": "go:menu\\n"}', 400, "control"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400, "UTF-8"),
    ("body too large", b'{"text": "' + b"a" * MAX_BODY_BYTES + b'"}', 413, "larger than"),
    ("deep nesting", b"[" * 10_000, 400, "JSON"),
    ("a number JSON does not have", b'{"text": "hi", "n": NaN}', 400, "not valid JSON"),
    ("Infinity", b'{"choice": Infinity}', 400, "not valid JSON"),
]


async def test_bad_message_bodies_get_a_clear_4xx_and_change_nothing(web):
    v = Visitor(web)
    await v.start("en")
    for name, body, status, reason in BAD_BODIES:
        r = await web.post("/api/message", content=body, headers=JSON)
        assert r.status_code == status, (name, r.status_code, r.text)
        assert reason.lower() in r.json()["error"].lower(), (name, r.json())
    # Nothing moved: the visitor is still at the first onboarding question.
    assert (await web.get("/api/session")).json()["state"] == "onboarding:language"
    await v.taps("English")
    assert v.last["state"] == "onboarding:consent"


REFUSED_HEADERS = [
    ({}, 415),
    ({"Content-Type": "text/plain"}, 415),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Content-Type": "application/json; charset=latin-1"}, 415),
    ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
    ({"Content-Type": "application/json", "Origin": "http://testserver.evil.example"}, 403),
    ({"Content-Type": "application/json", "Origin": "null"}, 403),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),
    ({"Content-Type": "application/json", "Content-Length": "99999"}, 413),
]


async def test_cross_site_and_non_json_posts_are_refused(web):
    for headers, status in REFUSED_HEADERS:
        r = await web.post("/api/message", content=b'{"text": "hello"}', headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert r.json()["error"]
    r = await web.get("/api/trend", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert (await web.get("/api/session")).json()["known"] is False  # none of them created a user


async def test_same_origin_posts_with_origin_and_charset_are_accepted(web):
    r = await web.post("/api/start", content=b"{}", headers={
        "Content-Type": "application/json; charset=UTF-8", "Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text


async def test_bad_query_parameters_are_4xx(web):
    for query, reason in [("weeks=0", "between"), ("weeks=105", "between"), ("weeks=abc", "whole number"),
                          ("weeks=99999999999999999999999", "whole number"), ("weeks=%EF%BC%93", "whole number")]:
        r = await web.get("/api/trend?" + query)
        assert r.status_code == 400 and reason in r.json()["error"], query
    for query in ("after=-1", "after=x", "after=1.5"):
        r = await web.get("/api/messages?" + query)
        assert r.status_code == 400, query


async def test_start_rejects_an_unknown_language(web):
    r = await web.post("/api/start", json={"language": "fr"}, headers=JSON)
    assert r.status_code == 400 and "language" in r.json()["error"]


# ------------------------------------------------------------------------------- identity


async def test_a_tampered_cookie_gets_a_new_identity_not_an_error(app):
    for cookie in ["garbage", "", "a.b", "IkFBQUFBQUFBQUFBQUFBQUFBQUFBIg.forged-signature", "%E2%98%83", "x" * 4000,
                   "IiI.0"]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            client.cookies.set(COOKIE_NAME, cookie)
            r = await client.get("/api/session")
            assert r.status_code == 200, cookie
            assert r.json()["known"] is False and COOKIE_NAME in r.headers["set-cookie"]
            r = await client.post("/api/start", json={}, headers=JSON)
            assert r.status_code == 200 and r.json()["started"] is True
            assert (await client.get("/")).status_code == 200


async def test_flipping_one_character_of_a_real_cookie_breaks_the_identity(web, runtime):
    v = Visitor(web)
    await v.start("en")
    good = web.cookies[COOKIE_NAME]
    assert (await web.get("/api/session")).json()["known"] is True
    # Not the last character: its low bits are base64 padding, which a decoder may ignore.
    i = len(good) - 5
    flipped = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1:]
    web.cookies.set(COOKIE_NAME, flipped)
    session = (await web.get("/api/session")).json()
    assert session["known"] is False and session["new_identity"] is True


async def test_the_generated_secret_is_kept_in_the_database_so_processes_agree(runtime, settings, clock):
    from bot.runtime import build_runtime

    first = make_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url=BASE) as a:
        await a.post("/api/start", json={"language": "en"}, headers=JSON)
        cookie = a.cookies[COOKIE_NAME]
    async with runtime.db.session() as s:
        assert len((await s.execute(select(WebSecret))).scalars().all()) == 1

    other_runtime = await build_runtime(settings, clock=clock, migrate=False)  # "another process"
    try:
        second = make_app(other_runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url=BASE) as b:
            b.cookies.set(COOKIE_NAME, cookie)
            assert (await b.get("/api/session")).json()["known"] is True
    finally:
        await other_runtime.close()


async def test_web_cookie_secret_from_settings_is_used_when_set(settings, clock):

    from bot.runtime import build_runtime

    cookies = []
    for _ in range(2):
        rt = await build_runtime(settings.model_copy(update={"web_cookie_secret": "s3cret-for-tests-only"}), clock=clock,
                                 migrate=False)
        try:
            app = make_app(rt)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
                if cookies:
                    c.cookies.set(COOKIE_NAME, cookies[0])
                    assert (await c.get("/api/session")).json()["known"] is True
                else:
                    await c.post("/api/start", json={}, headers=JSON)
                    cookies.append(c.cookies[COOKIE_NAME])
            async with rt.db.session() as s:
                assert (await s.execute(select(WebSecret))).scalars().all() == []  # nothing generated
        finally:
            await rt.close()


# ------------------------------------------------------------------------ pushed messages


async def test_reminders_reach_web_visitors_through_the_pending_queue(web, runtime):
    v = Visitor(web)
    await onboard(v)
    visitor = UserKey("web", _visitor_id(web, runtime))
    sender = runtime.senders["web"]
    nudge = Reply(text="A small question for your Monday.", message_id="nudge.test",
                  choices=(Choice("Done", "nudge:7:done"), Choice("Not now", "nudge:7:later")))
    await sender.send(Delivery(user=visitor, idempotency_key="key-1"), [nudge])
    await sender.send(Delivery(user=visitor, idempotency_key="key-1"), [nudge])  # a retry: no duplicate

    got = (await web.get("/api/messages")).json()["messages"]
    assert [m["reply"]["text"] for m in got] == ["A small question for your Monday."]
    assert got[0]["reply"]["choices"] == [{"label": "Done", "value": "nudge:7:done"},
                                          {"label": "Not now", "value": "nudge:7:later"}]
    again = (await web.get("/api/messages")).json()["messages"]
    assert [m["id"] for m in again] == [got[0]["id"]]  # not acknowledged yet: offered again
    acked = (await web.get(f"/api/messages?after={got[0]['id']}")).json()["messages"]
    assert acked == []
    async with runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(WebPendingMessage))).scalar_one() == 0

    other = httpx.AsyncClient(transport=web._transport, base_url=BASE)  # another visitor sees nothing
    async with other:
        await sender.send(Delivery(user=visitor, idempotency_key="key-2"), [nudge])
        assert (await other.get("/api/messages")).json()["messages"] == []


async def test_sending_to_an_unknown_web_visitor_is_a_final_failure(runtime):
    from handlers.web import build_sender

    sender = build_sender(runtime)
    with pytest.raises(DeliveryError) as err:
        await sender.send(Delivery(user=UserKey("web", "nobody-here-at-all-123"), idempotency_key="k"),
                          [Reply(text="hi", message_id="x")])
    assert err.value.retryable is False


async def test_pending_messages_are_exported_deleted_with_the_user_and_purged_when_stale(web, runtime, clock):
    from handlers.web.outbox import purge_job

    v = Visitor(web)
    await onboard(v)
    visitor = UserKey("web", _visitor_id(web, runtime))
    await runtime.senders["web"].send(Delivery(user=visitor, idempotency_key="k"), [Reply(text="hello", message_id="m")])
    async with runtime.db.session() as s:
        user = await repo.get_user(s, visitor)
        exported = await repo.export_user(s, user)
    assert [row["reply"]["text"] for row in exported["web_pending_messages"]] == ["hello"]

    assert await purge_job(runtime) == 0
    clock.advance(days=runtime.settings.message_retention_days + 1)
    assert await purge_job(runtime) == 1
    assert any(name == "web_pending_purge" for name, _, _ in runtime.periodic)

    await runtime.senders["web"].send(Delivery(user=visitor, idempotency_key="k2"), [Reply(text="hi", message_id="m")])
    async with runtime.db.session() as s:
        user = await repo.get_user(s, visitor)
        await repo.delete_user(s, user)
        await s.commit()
        assert (await s.execute(select(func.count()).select_from(WebPendingMessage))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(User))).scalar_one() == 0


async def test_one_visitors_messages_are_handled_one_at_a_time(web):
    import asyncio

    v = Visitor(web)
    await onboard(v)
    await v.taps("Weekly check-in")
    results = await asyncio.gather(*[
        web.post("/api/message", json={"text": str(n)}, headers=JSON) for n in (2, 3, 4)])
    assert all(r.status_code == 200 for r in results)
    # Three scores answered three questions in turn: the check-in moved on exactly three times.
    states = sorted(r.json()["state"] for r in results)
    assert states == ["checkin:boundaries", "checkin:client_respect", "checkin:reflection"]


async def test_a_chosen_reminder_reaches_the_web_page_and_its_buttons_answer_it(web, runtime, database_url):
    """End to end through the reminders' own dispatch pass (`bansou nudges send-due`, a fixed contract)."""
    import asyncio
    import os
    import sys

    v = Visitor(web)
    await v.start("en")
    await v.taps("English")
    await v.taps("Scores only")
    await v.taps("Weekdays 8:00")  # the clock says Monday 2026-01-05 09:00 in Tokyo
    await v.says("cancel")  # leave the menu: reminders wait while a conversation is open

    bansou = str(Path(sys.executable).parent / "bansou")
    proc = await asyncio.create_subprocess_exec(
        bansou, "nudges", "send-due", "--now", "2026-01-06T08:01:00+09:00",
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith("sent 1"), out.decode()

    got = (await web.get("/api/messages")).json()["messages"]
    assert len(got) == 1
    reminder = got[0]["reply"]
    labels = [c["label"] for c in reminder["choices"]]
    done = "I thought about it" if reminder["text"].rstrip().endswith("?") else "Done"  # fits the nudge
    assert done in labels and all(c["value"].startswith("nudge:") for c in reminder["choices"])
    v.last = {"replies": [reminder]}
    answered = await v.taps(done)
    assert answered["replies"] and answered["state"] == "idle"
    assert (await web.get(f"/api/messages?after={got[0]['id']}")).json()["messages"] == []


async def test_the_visitors_time_zone_comes_from_the_browser_is_validated_and_a_chosen_one_sticks(web, runtime):
    v = Visitor(web)
    r = await web.post("/api/timezone", json={"timezone": "Europe/London"}, headers=JSON)
    assert r.status_code == 409  # no visitor yet: nothing to store it on
    await v.start("en")
    session = (await web.get("/api/session")).json()
    assert session["timezone"] == runtime.settings.default_timezone and session["timezone_chosen"] is False

    # The browser's zone is stored, and reminders are planned in it (the user row is what the planner reads).
    r = await web.post("/api/timezone", json={"timezone": "Europe/London"}, headers=JSON)
    assert r.status_code == 200 and r.json() == {"timezone": "Europe/London", "timezone_chosen": False}
    async with runtime.db.session() as s:
        user = (await s.execute(select(User).where(User.platform == "web"))).scalar_one()
        assert user.timezone == "Europe/London"

    # A zone the visitor chose is kept: a later browser report (another laptop, a trip) does not override it.
    r = await web.post("/api/timezone", json={"timezone": "America/New_York", "chosen": True}, headers=JSON)
    assert r.json() == {"timezone": "America/New_York", "timezone_chosen": True}
    r = await web.post("/api/timezone", json={"timezone": "Asia/Tokyo"}, headers=JSON)
    assert r.json()["timezone"] == "America/New_York"
    session = (await web.get("/api/session")).json()
    assert session["timezone"] == "America/New_York" and session["timezone_chosen"] is True

    # Anything that is not a real IANA area/location name is refused with a reason, and nothing changes.
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "x" * 100, 42, "Japan", "Europe/London\n"):
        r = await web.post("/api/timezone", json={"timezone": bad, "chosen": True}, headers=JSON)
        assert r.status_code == 400 and r.json()["error"], bad
    r = await web.post("/api/timezone", json={"timezone": "Europe/Paris", "chosen": "yes"}, headers=JSON)
    assert r.status_code == 400
    r = await web.post("/api/timezone", json={"timezone": "Europe/Paris", "extra": 1}, headers=JSON)
    assert r.status_code == 400
    assert (await web.get("/api/session")).json()["timezone"] == "America/New_York"
