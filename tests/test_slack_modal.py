"""The Slack check-in modal: opened straight from `/coach checkin` and the App Home button (views.open
in the listener, within the trigger's life), built from the check-in flow, checked on submit
(errors shown in the modal), saved as a check-in and answered in the DM."""
from __future__ import annotations

from sqlalchemy import select

from bot.store.models import CheckIn, InboxEvent


def _answers(energy=None, boundaries=None, respect=None, reflection=None) -> dict:
    def radio(v):
        return {"score": {"type": "radio_buttons", "selected_option": None if v is None else
                          {"value": str(v), "text": {"type": "plain_text", "text": str(v)}}}}

    return {"energy": radio(energy), "boundaries": radio(boundaries), "client_respect": radio(respect),
            "reflection": {"text": {"type": "plain_text_input", "value": reflection}}}


async def _checkins(slack) -> list[CheckIn]:
    async with slack.runtime.db.session() as session:
        return list((await session.execute(select(CheckIn))).scalars())


async def test_coach_checkin_opens_the_modal_built_from_the_flow(slack):
    r = await slack.slash("UAKI", "checkin", trigger_id="trig-123")
    assert r.status_code == 200
    [opened] = slack.api.calls_to("views.open")
    assert opened.params["trigger_id"] == "trig-123"
    view = opened.params["view"]
    assert view["type"] == "modal" and view["callback_id"] == "bansou.checkin_modal"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == ["energy", "boundaries", "client_respect", "reflection"]
    content = slack.runtime.content
    assert inputs[0]["label"]["text"] == content.text("checkin.energy", "ja")
    assert [o["value"] for o in inputs[0]["element"]["options"]] == ["1", "2", "3", "4", "5"]
    assert inputs[0]["element"]["options"][0]["text"]["text"] == content.text("score.1", "ja")
    assert inputs[3].get("optional") is True and inputs[3]["element"]["type"] == "plain_text_input"
    async with slack.runtime.db.session() as session:  # opened in the listener, not through the inbox
        assert (await session.execute(select(InboxEvent))).first() is None


async def test_app_home_button_opens_the_modal(slack):
    r = await slack.click("UBEN", "go:checkin", action_id="bansou.home.checkin", in_home=True)
    assert r.status_code == 200
    [opened] = slack.api.calls_to("views.open")
    assert opened.params["trigger_id"].startswith("trig.")
    assert opened.params["view"]["title"]["text"] in ("チェックイン", "Check-in")
    async with slack.runtime.db.session() as session:  # the catch-all button listener did not run too
        assert (await session.execute(select(InboxEvent))).first() is None


async def test_a_submission_without_every_score_shows_errors_in_the_modal(slack):
    await slack.slash("UAKI", "checkin")
    view = slack.api.calls_to("views.open")[0].params["view"]
    r = await slack.submit_view("UAKI", view, _answers(energy=3, respect=4))
    assert r.status_code == 200
    body = r.json()
    assert body["response_action"] == "errors"
    assert body["errors"] == {"boundaries": slack.runtime.content.text("slack.modal.pick_score", "ja")}
    r = await slack.submit_view("UAKI", view, _answers(energy=9, boundaries=2, respect=4))
    assert set(r.json()["errors"]) == {"energy"}  # a value no button offers
    await slack.process()
    assert await _checkins(slack) == []


async def test_a_submission_is_saved_as_a_check_in_and_answered_in_the_dm(slack):
    await slack.slash("UBEN", "checkin")
    view = slack.api.calls_to("views.open")[0].params["view"]
    r = await slack.submit_view("UBEN", view, _answers(energy=2, boundaries=3, respect=5, reflection="A long week."))
    assert r.status_code == 200 and not r.content.strip()  # closes the modal
    await slack.process()
    [saved] = await _checkins(slack)
    assert (saved.energy, saved.boundaries, saved.client_respect) == (2, 3, 5)
    assert saved.reflection is None  # kept only with consent
    [post] = slack.posts()
    assert slack.runtime.content.text("checkin.saved", "en") in slack.texts(post)
    assert post.params["channel"] == "DBEN"
    [home] = slack.api.calls_to("views.publish")  # App Home brought up to date
    assert home.params["user_id"] == "UBEN"


async def test_when_the_modal_cannot_open_the_check_in_happens_in_the_dm(slack):
    slack.api.fail_next("views.open", body={"ok": False, "error": "expired_trigger_id"})
    r = await slack.slash("UAKI", "checkin")
    assert r.status_code == 200
    await slack.process()
    [post] = slack.posts()
    assert slack.runtime.content.text("checkin.energy", "ja") in slack.texts(post)
