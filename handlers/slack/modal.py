"""The check-in as a Slack modal, built from the same flow data as the chat check-in
(``content/flows/checkin.yaml``): each state that asks for a score becomes a radio-button input,
a state that saves free text becomes an optional text input.

* ``open_checkin_modal`` calls ``views.open`` straight from the listener (the App Home button or
  ``/coach checkin``), before the ack: a trigger id is good for three seconds only, so this must
  not wait for the inbox.
* ``on_submission`` checks the answers (errors are shown in the modal) and stores the check-in as
  an inbox event; ``SlackProcessor`` saves it through the store and answers in the DM.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.store import repo
from bot.types import UserKey

log = logging.getLogger("bansou.slack")
CALLBACK_ID = "bansou.checkin_modal"
HOME_ACTION = "bansou.home.checkin"
FLOW = "checkin"
SCORE_ACTION = "score"
TEXT_ACTION = "text"
TITLE_MAX = 24
LABEL_MAX = 2000
OPTION_MAX = 75
TEXT_MAX = 1000


@dataclass(frozen=True, slots=True)
class ModalField:
    """One input of the modal: the flow state it comes from and the value it saves."""

    state: str
    save: str
    kind: str  # "score" | "text"
    prompt: str  # message id of the question
    options: tuple[tuple[str, int], ...] = ()  # (label message id, score)


def modal_fields(content) -> list[ModalField]:
    """The check-in flow's questions, in the flow's order, as modal inputs."""
    flow = content.flows[FLOW]
    fields = []
    for name, st in flow.states.items():
        if st.text is None or not st.text.save or not st.say:
            continue
        if st.text.parse == "score":
            options = tuple((ch.label, int(ch.set[st.text.save])) for ch in st.choices if st.text.save in ch.set)
            fields.append(ModalField(name, st.text.save, "score", st.say[-1], options))
        else:
            fields.append(ModalField(name, st.text.save, "text", st.say[-1]))
    return fields


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[:limit - 1] + "…", "emoji": True}


def checkin_view(content, lang: str) -> dict[str, Any]:
    """The modal view (Block Kit) in ``lang``."""
    def text(mid: str, values: dict[str, Any] | None = None) -> str:
        return content.text(mid, lang, values)

    flow = content.flows[FLOW]
    intro = [mid for mid in flow.states[flow.start].say[:-1]]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text(mid)}} for mid in intro]
    for f in modal_fields(content):
        if f.kind == "score":
            element = {"type": "radio_buttons", "action_id": SCORE_ACTION, "options": [
                {"text": _plain(text(label), OPTION_MAX), "value": str(score)} for label, score in f.options]}
            blocks.append({"type": "input", "block_id": f.state, "label": _plain(text(f.prompt), LABEL_MAX),
                           "element": element})
        else:
            blocks.append({"type": "input", "block_id": f.state, "optional": True,
                           "label": _plain(text(f.prompt), LABEL_MAX),
                           "element": {"type": "plain_text_input", "action_id": TEXT_ACTION, "multiline": True,
                                       "max_length": TEXT_MAX,
                                       "placeholder": _plain(text("slack.modal.reflection_placeholder"), 150)}})
    return {"type": "modal", "callback_id": CALLBACK_ID, "private_metadata": lang,
            "title": _plain(text("slack.modal.title"), TITLE_MAX),
            "submit": _plain(text("slack.modal.submit"), TITLE_MAX),
            "close": _plain(text("slack.modal.close"), TITLE_MAX), "blocks": blocks}


def read_submission(content, values: dict[str, Any], lang: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers in ``view.state.values`` as (saved values, errors by block id). Pure."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in modal_fields(content):
        block = values.get(f.state) or {}
        if f.kind == "score":
            chosen = ((block.get(SCORE_ACTION) or {}).get("selected_option") or {}).get("value")
            allowed = {score for _, score in f.options}
            try:
                score = int(chosen)
            except (TypeError, ValueError):
                score = None
            if score not in allowed:
                errors[f.state] = content.text("slack.modal.pick_score", lang)
            else:
                answers[f.save] = score
        else:
            value = (block.get(TEXT_ACTION) or {}).get("value") or ""
            if len(value) > TEXT_MAX:
                errors[f.state] = content.text("slack.modal.too_long", lang, {"max": TEXT_MAX})
            elif value.strip():
                answers[f.save] = value.strip()
    return answers, errors


async def user_language(runtime, key: UserKey | None) -> str:
    """The language of the user with this (tenant-scoped) key, or the default."""
    user = None
    if key is not None:
        async with runtime.db.session() as session:
            user = await repo.get_user(session, key)
    return user.language if user is not None else runtime.settings.default_language


async def open_checkin_modal(runtime, client, *, trigger_id: str, user_id: str, team: dict[str, Any]) -> bool:
    """``views.open`` with the check-in modal; False when Slack refused (the caller falls back).
    ``team`` is the request's team and enterprise (``handlers.slack.app._team``): whose user this is."""
    from handlers.slack.identity import slack_user_key

    key = slack_user_key(team_id=team.get("team_id"), enterprise_id=team.get("enterprise_id"), user_id=user_id)
    lang = await user_language(runtime, key)
    try:
        await client.views_open(trigger_id=trigger_id, view=checkin_view(runtime.content, lang))
    except Exception as exc:  # noqa: BLE001 - e.g. an expired trigger: the chat check-in still works
        log.warning("check-in modal not opened", extra={"platform": "slack", "error": type(exc).__name__})
        return False
    return True


def register(app, intake) -> None:
    """Bolt listeners for the modal: the App Home button and the submission (register before the
    catch-all ``bansou.`` action listener)."""
    runtime = intake.runtime

    async def home_button(ack, body: dict[str, Any], client, context) -> None:
        from handlers.slack.app import _team

        user_id = (body.get("user") or {}).get("id")
        opened = bool(user_id and body.get("trigger_id")) and await open_checkin_modal(
            runtime, client, trigger_id=body["trigger_id"], user_id=user_id, team=_team(body, context))
        if not opened and user_id:  # fall back to the check-in in the DM
            action = (body.get("actions") or [{}])[0]
            await intake._store(f"action:{user_id}:{action.get('action_ts') or body.get('trigger_id')}:{HOME_ACTION}",
                                user_id, {"type": "choice", "user": user_id, "choice": "go:checkin",
                                          **_team(body, context)})
        await ack()

    async def submitted(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:
        from handlers.slack.app import _team

        user_id = (body.get("user") or {}).get("id")
        lang = view.get("private_metadata") if view.get("private_metadata") in ("ja", "en") else \
            runtime.settings.default_language
        answers, errors = read_submission(runtime.content, (view.get("state") or {}).get("values") or {}, lang)
        if errors or not user_id:
            await ack(response_action="errors", errors=errors or {"energy": "?"})
            return
        payload = {"type": "checkin_modal", "user": user_id, "answers": answers, **_team(body, context)}
        await intake._store(f"view:{view.get('id')}:{view.get('hash') or body.get('trigger_id')}", user_id, payload)
        await ack()

    app.action(HOME_ACTION)(home_button)
    app.view(CALLBACK_ID)(submitted)


async def save_submission(runtime, session, key: UserKey, answers: dict[str, Any], *, now, event_id: str,
                          defaults: dict[str, Any] | None = None):
    """Save a submitted check-in (inside the inbox's transaction, under the user's lock) and say so.

    The reflection goes through the detectors like a chat answer: what they notice is recorded (the
    words only with consent), and a crisis is answered by the coach's crisis care, as in the chat."""
    from bot.types import Inbound, Reply

    defaults = defaults or {}
    user = await repo.get_user(session, key)
    if user is None:
        user = await repo.create_user(session, key, language=defaults.get("language") or runtime.settings.default_language,
                                      timezone=defaults.get("timezone") or runtime.settings.default_timezone, now=now)
        user.platform_meta = dict(defaults.get("platform_meta") or {})
    lang = user.language
    reflection = answers.get("reflection")
    _, signals = runtime.coach.detect(reflection)
    if any(s.kind == "crisis" for s in signals):
        await repo.save_checkin(session, user, now=now, energy=answers.get("energy"),
                                boundaries=answers.get("boundaries"), client_respect=answers.get("client_respect"),
                                reflection=reflection)
        outcome = await runtime.coach.handle(Inbound(user=key, kind="text", text=reflection, received_at=now,
                                                     event_id=event_id), session=session)
        return list(outcome.replies), outcome.language
    await repo.save_checkin(session, user, now=now, energy=answers.get("energy"), boundaries=answers.get("boundaries"),
                            client_respect=answers.get("client_respect"), reflection=reflection)
    await repo.record_signals(session, user, signals, now=now)
    await repo.update_user(session, user, {"last_message_at": now})
    flow = runtime.content.flows[FLOW]
    question = next((st for st in flow.states.values() if st.say_by_signal), None)
    replies = [Reply(text=runtime.content.text("checkin.saved", lang), message_id="checkin.saved")]
    if question is not None:
        pick = next((question.say_by_signal[s.kind] for s in signals if s.kind in question.say_by_signal),
                    question.say_by_signal["default"])
        replies.append(Reply(text=runtime.content.text(pick, lang), message_id=pick))
    return replies, lang
