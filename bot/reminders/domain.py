"""Reminders as a domain (``bot.domain``): the flow actions, intents, commands, buttons, words and
content file reminders add to the conversation. Pure: each handler works on the step's ``Turn``
and only adds effects (``reminders``, ``nudge_response``, ``resume``) and replies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from bot.content_models import Id, MessageId, Strict, as_list, parse_duration
from bot.domain import ContentPart, Domain, FlowAction, FreeText, Intent
from bot.errors import ContentError

GROUP = "reminders"
FILE = "reminders.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"^([01]\d|2[0-3]):([0-5]\d)$"


# ---------------------------------------------------------------------------- reminders.yaml


def _hhmm(value: Any) -> Any:
    if not isinstance(value, str) or not re.match(_HHMM, value):
        raise ValueError(f"time must be HH:MM (24-hour), not {value!r}")
    return value


def _days(value: Any) -> Any:
    days = as_list(value)
    if not days or any(d not in WEEKDAYS for d in days):
        raise ValueError(f"days must be a non-empty list of {', '.join(WEEKDAYS)}")
    return tuple(days)


class ReminderPreset(Strict):
    id: Id
    label: MessageId
    days: Annotated[tuple[str, ...], BeforeValidator(_days),
                    Field(json_schema_extra={"items": {"type": "string", "enum": list(WEEKDAYS)}, "minItems": 1})]
    time: Annotated[str, BeforeValidator(_hhmm), Field(pattern=_HHMM)]


class RemindersFile(Strict):
    """reminders.yaml: the schedules a person can pick."""

    presets: tuple[ReminderPreset, ...]


@dataclass(frozen=True, slots=True)
class ReminderContent:
    """What ``Content`` holds for reminders (``content.parts["reminders"]``)."""

    presets: dict[str, ReminderPreset]


def _check(content: Any) -> list[ContentError]:
    """Preset ids named by flows, and the presets' labels."""
    from bot.content import flow_actions

    errors = []
    presets = content.parts[GROUP].presets
    for flow, key, action in flow_actions(content):
        if action.name == "reminder_preset" and action.arg not in presets:
            errors.append(ContentError(flow.file, key, f"unknown reminder preset {action.arg!r}"))
    for pid, p in presets.items():
        if p.label not in content.messages:
            errors.append(ContentError(FILE, f"presets.{pid}.label", f"unknown message id {p.label!r}"))
    return errors


# ---------------------------------------------------------------------------- flow actions


def _preset(turn, arg: str, vars: dict[str, Any]) -> None:
    p = turn.content.parts[GROUP].presets[arg]
    turn.effect("reminders", op="set", days=list(p.days), time=p.time, preset=p.id)


def _pause(turn, arg: Any, vars: dict[str, Any]) -> None:
    turn.effect("reminders", op="pause", until=turn.now + parse_duration(arg))


ACTIONS = {
    "reminder_preset": FlowAction("preset", _preset),
    "reminders_off": FlowAction("none", lambda turn, arg, vars: turn.effect("reminders", op="off")),
    "reminders_on": FlowAction("none", lambda turn, arg, vars: turn.effect("reminders", op="on")),
    "reminders_pause": FlowAction("duration", _pause),
}


# ---------------------------------------------------------------------------- intents and commands


def _pause_reminders(turn, convo, text: str | None):
    from bot import understand as U

    until = U.read_until(turn.u, text or "", turn.lang, now=turn.now, tz=turn.user.timezone)
    if turn.user.reminders == "none":
        turn.ui("reminders_none")
        return turn.resume(convo, "pause_reminders")
    turn.effect("reminders", op="pause", until=until)
    turn.ui("reminders_paused_until", {"date": turn.date_text(until)})
    return turn.resume(convo, "pause_reminders")


def _frequency(turn, convo, text: str | None):
    from bot import understand as U

    per_week = U.read_per_week(turn.u, text or "", turn.lang)
    if per_week is None or per_week == -2:
        return turn.start_over(convo, "settings", "reminders")
    turn.effect("reminders", op="frequency", per_week=per_week)
    if per_week == -1:
        turn.ui("reminders_fewer")
    else:
        turn.ui("reminders_frequency", {"count": per_week})
    return turn.resume(convo, "reminder_frequency")


def _stop(turn, convo, text: str | None):
    here = turn.content.flows[convo.flow].states[convo.state] if convo is not None else None
    if here is not None and "stop_reminders" in here.understands:
        turn.effect("reminders", op="off")  # the state this leads to says so
    elif turn.user.reminders == "none":
        turn.ui("reminders_none")
    else:
        turn.effect("reminders", op="off")
        turn.ui("reminders_stopped")
    return turn.resume(convo, "stop_reminders")


def _resume(turn, convo, text: str | None):
    turn.effect("resume")
    turn.ui("resumed_no_reminders" if turn.user.reminders == "none" else "resumed")
    return turn.resume(convo, "resume")


INTENTS = {
    "stop_reminders": Intent(GROUP, _stop, command=True),
    "pause_reminders": Intent(GROUP, _pause_reminders),
    "resume": Intent(GROUP, _resume, command=True),
    "reminder_frequency": Intent(GROUP, _frequency),
    "set_reminders": Intent(GROUP, lambda turn, convo, text: turn.start_over(convo, "settings", "custom_time")),
}


# ---------------------------------------------------------------------------- a reminder's buttons


def _nudge_answer(turn, convo, parts: list[str]):
    """``nudge:ID:ANSWER[:FLOW[:STATE]]``: done, later, or talk (open FLOW, at STATE to continue)."""
    if len(parts) not in (3, 4, 5) or parts[2] not in ("done", "later", "talk"):
        return NotImplemented
    answer = parts[2]
    turn.effect("nudge_response", outbox_id=parts[1], answer=answer)
    if answer == "talk" and len(parts) >= 4 and parts[3] in turn.content.flows:
        state = parts[4] if len(parts) == 5 and parts[4] in turn.content.flows[parts[3]].states else None
        if state is None:
            turn.ui("nudge_talk")
        return turn.start(parts[3], state)  # with a state: the conversation continues where it left off
    turn.ui(f"nudge_{answer}")
    return turn.reprompt(convo)


def _install(runtime) -> None:
    from bot import reminders

    reminders.install(runtime)


REMINDERS = Domain(
    name=GROUP,
    actions=ACTIONS,
    intents=INTENTS,
    interrupt_groups=(GROUP,),
    understands=("reminder_time", "stop_reminders", "pause_reminders", "resume", "reminder_frequency"),
    free_text=(FreeText(GROUP, "reminder_time", retries=("リマインド {text}", "remind me {text}")),),
    choices={"nudge": _nudge_answer},
    ui={
        "reminders_stopped": "common.reminders_stopped",
        "resumed": "common.resumed",
        "resumed_no_reminders": "common.resumed_no_reminders",
        "reminders_paused_until": "common.reminders_paused_until",
        "reminders_frequency": "common.reminders_frequency",
        "reminders_fewer": "common.reminders_fewer",
        "reminders_none": "common.reminders_none",
        "reminders_ask_time": "common.reminders_ask_time",
        "nudge_done": "nudge.answer_done",
        "nudge_later": "nudge.answer_later",
        "nudge_talk": "nudge.answer_talk",
        "nudge_button_done": "nudge.button_done",
        "nudge_button_later": "nudge.button_later",
        "nudge_button_talk": "nudge.button_talk",
        "nudge_button_thought": "nudge.button_thought",
    },
    content=ContentPart(
        file=FILE, model=RemindersFile, schema_name="reminders",
        attach=lambda parsed: ReminderContent(presets={p.id: p for p in parsed.presets}),
        empty=lambda: ReminderContent(presets={}), check=_check),
    install=_install,
)
