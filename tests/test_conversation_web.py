"""The listening conversation through a real channel: the web chat's JSON API (the real app over
httpx's ASGI transport, the real database, detectors and reminders). Typed only, in both languages:
onboard, check in with scores in words, set / pause / stop / resume reminders in plain words in the
middle of things, practise a no and get a polite draft; never told to use the buttons."""
from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from bot.reminders.models import ReminderPrefs
from bot.store import repo
from bot.store.models import CheckIn
from bot.types import UserKey
from tests.web_harness import BASE, JSON, _visitor_id, make_app

BUTTONS_WORDS = re.compile(r"ボタン|button", re.I)


@pytest.fixture
async def web(runtime):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(runtime)), base_url=BASE) as client:
        yield client


class Typist:
    """A visitor who only types."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.last: dict = {}
        self.everything: list[str] = []

    async def start(self, language: str) -> None:
        r = await self.client.post("/api/start", json={"language": language}, headers=JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()

    async def says(self, text: str) -> dict:
        r = await self.client.post("/api/message", json={"text": text}, headers=JSON)
        assert r.status_code == 200, r.text
        self.last = r.json()
        self.everything += [rep["text"] for rep in self.last["replies"]]
        return self.last

    @property
    def state(self) -> str:
        return self.last["state"]

    def said(self) -> str:
        return "\n".join(r["text"] for r in self.last["replies"])


SCRIPT = {
    "ja": {
        "language": "にほんご", "consent": "うん、お願い", "time": "月曜と木曜の夜9時がいいです",
        "checkin": "チェックインしたい", "scores": ["3くらい", "うーん、1かな…いや2"], "pause": "来週の月曜まで通知止めて",
        "last": "二", "reflection": "返信に追われて、最悪の週。全部だめだった", "close": "わかった",
        "stop": "もうリマインドいらない", "resume": "リマインド再開して", "boundary": "断る練習",
        "request": "契約外の資料づくり", "decide": "断る", "followup": "今はいい",
        "polite": "存じます", "pause_said": "1月12日",
    },
    "en": {
        "language": "English", "consent": "sure", "time": "mondays and thursdays at 9pm",
        "checkin": "check in", "scores": ["about 3", "hmm, 1... no, 2"], "pause": "pause reminders until next monday",
        "last": "two", "reflection": "Chasing replies all week, the worst week, everything went wrong", "close": "ok",
        "stop": "no more reminders please", "resume": "turn reminders back on", "boundary": "practise saying no",
        "request": "an extra report", "decide": "decline", "followup": "not now",
        "polite": "Thank you for asking me", "pause_said": "1/12",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_a_new_user_can_do_everything_by_typing(web, runtime, lang):
    s = SCRIPT[lang]
    t = Typist(web)
    await t.start("ja" if lang == "en" else "en")  # the page guessed the other language
    assert t.state == "onboarding:language"
    await t.says(s["language"])
    assert t.state == "onboarding:consent"
    await t.says(s["consent"])
    assert t.state == "onboarding:reminders"
    await t.says(s["time"])
    assert t.state == "menu:choose"  # the time was set and onboarding moved on

    await t.says(s["checkin"])
    assert t.state == "checkin:energy"
    await t.says(s["scores"][0])
    await t.says(s["pause"])  # mid check-in: carried out, and the question comes back
    assert s["pause_said"] in t.said() and t.state == "checkin:boundaries"
    await t.says(s["scores"][1])
    await t.says(s["last"])
    assert t.state == "checkin:reflection"
    await t.says(s["reflection"])
    assert t.state == "checkin:question"
    assert s["reflection"] not in t.said()  # acknowledged in our words, not echoed
    await t.says(s["close"])
    assert t.state == "idle"

    visitor = UserKey("web", _visitor_id(web, runtime))
    async with runtime.db.session() as db:
        user = await repo.get_user(db, visitor)
        assert user.language == lang and user.consent_store_text is True
        checkin = (await db.execute(select(CheckIn).where(CheckIn.user_id == user.id))).scalar_one()
        assert (checkin.energy, checkin.boundaries, checkin.client_respect) == (3, 2, 2)
        prefs = await db.get(ReminderPrefs, user.id)
        assert (prefs.days, prefs.time_of_day) == ("mon,thu", "21:00")
        assert prefs.paused_until is not None and prefs.paused_until.day == 11  # Monday 12th, 00:00 in Tokyo

    await t.says(s["stop"])
    async with runtime.db.session() as db:
        assert (await db.get(ReminderPrefs, user.id)).enabled is False
    await t.says(s["resume"])
    async with runtime.db.session() as db:
        prefs = await db.get(ReminderPrefs, user.id)
        assert prefs.enabled is True and prefs.paused_until is None

    await t.says(s["boundary"])
    assert t.state == "boundary:request"
    await t.says(s["request"])
    await t.says(s["decide"])
    assert s["polite"] in t.said()
    await t.says(s["followup"])
    assert t.state == "idle"
    for text in t.everything:
        assert not BUTTONS_WORDS.search(text), text
