"""Crisis care: the graded response to a crisis signal, the care that stays with the person, and
the support lines right for where they are.

* ``resources``: the resources as data (``content/crisis/resources.yaml``), country and order, open now;
* ``grade``: the grade of a crisis signal and what a message in care says (``content/crisis/care.yaml``);
* ``care``: the crisis-care step the engine runs before anything else (imported lazily by the engine).

This package's top level imports only data modules, so ``bot.content`` can load it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.crisis.grade import CarePolicy, load_policy
from bot.crisis.resources import ResourceBook, load_resources
from bot.errors import ContentError
from bot.types import Choice

FLOW = "crisis_care"
FLOW_STATES = {
    "listening": ("resources", "text_services", "leave"),
    "asked": ("yes", "no", "resources"),
    "leaving": ("calmer", "still_hard"),
    "back": ("reminders", "checkin_only", "quiet", "stay"),
}
LINK_PREFIXES = ("tel:", "https://")
REFLECTIONS = 3
QUESTIONS = 4


def is_link(value: str) -> bool:
    """Whether a choice value is a link to open (a tel: or https:// URI) rather than an answer to send
    back; adapters render these as call or open buttons."""
    return value.startswith(LINK_PREFIXES)


def is_private(state: str, replies: Any) -> bool:
    """Whether an outcome is crisis care's (its state or any reply): such answers go to the person's
    direct messages only, never to a shared channel."""
    return state.startswith(f"{FLOW}:") or any(getattr(r, "message_id", "").startswith("crisis.") for r in replies)


@dataclass(frozen=True, slots=True)
class CrisisContent:
    book: ResourceBook
    policy: CarePolicy


def load_crisis(root: Path) -> tuple[CrisisContent | None, list[ContentError]]:
    """``crisis/resources.yaml`` and ``crisis/care.yaml`` under ``root``, validated."""
    book, errors = load_resources(root)
    policy, more = load_policy(root)
    errors = errors + more
    if book is None or policy is None:
        return None, errors
    return CrisisContent(book=book, policy=policy), errors


def required_messages() -> list[str]:
    """Message ids crisis care says (content validation checks they exist in every language)."""
    ids = [f"crisis.reflect.{i}" for i in range(REFLECTIONS)] + [f"crisis.question.{i}" for i in range(QUESTIONS)]
    ids += [f"crisis.{x}" for x in (
        "panel.intro", "panel.renewed", "panel.asked_yes", "panel.on_request", "panel.text_intro",
        "panel.phone_heading", "panel.text_heading", "panel.web_heading", "panel.emergency",
        "panel.emergency_local", "panel.open_mark", "panel.footer_paused", "panel.footer", "line", "mark.open",
        "mark.closed", "mark.unknown", "status.closed", "hours.always", "hours.varies", "hours.every_day",
        "hours.weekdays", "hours.weekends", "hours.day_of_month", "hours.window", "hours.next_day", "hours.join",
        "day.join", "details.join", "free", "paid", "language.ja", "language.en", "kind.text", "emergency.join",
        "emergency.item", "reach", "reach.join", "reach.item", "care.listening", "care.here_is_fine",
        "care.no_apology", "care.still_hard", "care.unsupported", "care.reminders_off", "care.talk",
        "ask.question", "ask.thanks_no", "acknowledge", "leave.how", "leave.again", "back.question", "back.again",
        "back.reminders", "back.checkin_only", "back.quiet", "back.sos", "followup", "followup.fine",
        "button.resources", "button.text_services", "button.rest", "button.not_now", "button.talk", "button.fine",
        "button.call", "button.write", "button.find")]
    ids += [f"crisis.day.{d}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    return ids


def check_content(content: Any) -> list[ContentError]:
    """What crisis care needs from the rest of the content: its flow, states, buttons and messages."""
    errors: list[ContentError] = []
    flow = content.flows.get(FLOW)
    if flow is None:
        errors.append(ContentError("flows", FLOW, "this flow is required (crisis care)"))
    else:
        for state, choice_ids in FLOW_STATES.items():
            st = flow.states.get(state)
            if st is None:
                errors.append(ContentError(flow.file, f"states.{state}", "crisis care needs this state"))
                continue
            have = {c.id for c in st.choices}
            for cid in choice_ids:
                if cid not in have:
                    errors.append(ContentError(flow.file, f"states.{state}.choices",
                                               f"crisis care needs a choice with id {cid!r}"))
    for mid in required_messages():
        if mid not in content.messages:
            errors.append(ContentError("messages", mid, "required message (crisis care) is missing"))
    return errors


def followup_choices(content: Any, lang: str) -> tuple[Choice, ...]:
    """The two answers under the one check-in after crisis care (``crisis:talk``, ``crisis:fine``)."""
    return (Choice(content.text("crisis.button.talk", lang), "crisis:talk"),
            Choice(content.text("crisis.button.fine", lang), "crisis:fine"))
