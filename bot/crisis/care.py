"""The crisis-care step: runs before any flow, and owns the conversation while a person is in care.

Pure, like ``bot.engine.step``: content, saved state, inbound, signals, user and clock in; the new
state, replies and effects out. ``care_step`` returns None when crisis care has nothing to do with
this message (no crisis signal, not in care), and the engine carries on as usual.

A person is in care when their reminders are crisis-paused or their conversation is the
``crisis_care`` flow. In care every message gets care: what they said, reflected; a gentle
question; the support lines within reach (a line of text on every channel, and buttons that call or
open them). Never the menu, an offer, a reminder, "use the buttons" or a cheerful stock line.
Renewed distress puts the support lines first again. Leaving asks how they are first, and what
comes back (reminders, one check-in tomorrow, or nothing) is their choice.

Choice values crisis care adds (besides ``c:crisis_care:STATE:CHOICE``):
  ``crisis:resources``  show the support lines      ``crisis:text``  the ones you can write to
  ``crisis:talk``       open care from a check-in   ``crisis:fine``  answer a check-in: I'm OK
  ``tel:…`` / ``https://…``  a link (adapters render these as call or open buttons; never sent back)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.content import Content
from bot.crisis import FLOW, QUESTIONS, REFLECTIONS, CrisisContent, is_link
from bot.crisis.grade import Grade, grade, read_care_text, reflect_words, Said
from bot.crisis.resources import Listed, Resource, resources_for
from bot.engine import ConvoState, Effect, StepResult, UserView, match_command
from bot.text import normalize_command
from bot.types import Choice, Inbound, Reply, Signal

PASS_THROUGH_COMMANDS = ("delete_data", "export_data")
CHECKIN_EARLIEST = time(10, 0)
CHECKIN_LATEST = time(20, 0)
REACH_ITEMS = 2
# The states where care waits on a question of its own: state → (the question on arriving there, the
# question again when a message there is not an answer). Their buttons are the state's own choices,
# then the support lines within reach.
STATE_QUESTIONS = {
    "leaving": ("crisis.leave.how", "crisis.leave.again"),
    "back": ("crisis.back.question", "crisis.back.again"),
}


def in_care(user: UserView, convo: ConvoState | None, now: datetime) -> bool:
    """Crisis-paused (until they leave), or in the care flow they opened themselves (until it lapses)."""
    return user.crisis_paused or (convo is not None and convo.flow == FLOW and now < convo.expires_at)


def checkin_time(now: datetime, tz: ZoneInfo) -> datetime:
    """When tomorrow's one gentle check-in goes: the same local time tomorrow, kept between 10:00 and 20:00."""
    local = now.astimezone(tz)
    at = min(max(local.time().replace(second=0, microsecond=0), CHECKIN_EARLIEST), CHECKIN_LATEST)
    return datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)


def _clock(t: time) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass
class _Care:
    """The scratchpad of one care step."""

    content: Content
    crisis: CrisisContent
    user: UserView
    now: datetime
    lang: str
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    # -- words ------------------------------------------------------------------------------------
    def t(self, message_id: str, values: dict[str, Any] | None = None) -> str:
        return self.content.text(message_id, self.lang, values)

    def say(self, message_id: str, values: dict[str, Any] | None = None, *, style: str = "normal",
            evidence: Sequence[Signal] = ()) -> None:
        self.replies.append(Reply(text=self.t(message_id, values), message_id=message_id, style=style,
                                  evidence=tuple(evidence)))

    def effect(self, name: str, **args: Any) -> None:
        self.effects.append(Effect(name, args))

    def event(self, name: str) -> None:
        """A count for /metrics (kinds only, never words)."""
        self.effect("crisis_event", event=name)

    def attach(self, choices: Sequence[Choice]) -> None:
        if self.replies and choices:
            last = self.replies[-1]
            self.replies[-1] = Reply(text=last.text, message_id=last.message_id, choices=tuple(choices),
                                     style=last.style, evidence=last.evidence)

    def result(self, convo: ConvoState | None) -> StepResult:
        return StepResult(convo=convo, replies=self.replies, effects=self.effects, language=self.lang)

    # -- resources --------------------------------------------------------------------------------
    @property
    def listed(self) -> list[Listed]:
        return resources_for(self.crisis.book, timezone=self.user.timezone, lang=self.lang, now=self.now)

    def hours(self, r: Resource) -> str:
        h = r.hours
        if h.always:
            return self.t("crisis.hours.always")
        if h.varies:
            return self.t("crisis.hours.varies")
        parts = []
        for w in h.windows:
            if w.days is not None:
                days = set(w.days)
                if len(days) == 7:
                    d = self.t("crisis.hours.every_day")
                elif days == {"mon", "tue", "wed", "thu", "fri"}:
                    d = self.t("crisis.hours.weekdays")
                elif days == {"sat", "sun"}:
                    d = self.t("crisis.hours.weekends")
                else:
                    d = self.t("crisis.day.join").join(self.t(f"crisis.day.{x}") for x in w.days)
            else:
                d = self.t("crisis.hours.day_of_month", {"day": w.day_of_month})
            end = _clock(w.end)
            if w.end <= w.start:
                end = self.t("crisis.hours.next_day", {"time": end})
            parts.append(self.t("crisis.hours.window", {"days": d, "start": _clock(w.start), "end": end}))
        return self.t("crisis.hours.join").join(parts)

    def contact(self, r: Resource) -> str:
        if r.kind == "text":
            return self.t("crisis.kind.text", {"number": r.number})
        return r.number if r.kind == "phone" else str(r.url)

    def line(self, item: Listed) -> str:
        r = item.resource
        details = [self.hours(r)]
        if r.free:
            details.append(self.t("crisis.free"))
        elif r.kind == "phone":
            details.append(self.t("crisis.paid"))
        if not item.in_language:
            details.append(self.t(f"crisis.language.{r.languages[0]}"))
        if r.note:
            details.append(r.note[self.lang])
        if item.open_now is False:
            details.append(self.t("crisis.status.closed"))
        mark = {True: "open", False: "closed", None: "unknown"}[item.open_now]
        return self.t("crisis.line", {"mark": self.t(f"crisis.mark.{mark}"), "name": r.name[self.lang],
                                      "contact": self.contact(r), "details": self.t("crisis.details.join").join(details)})

    def panel(self, intro: str, *, text_first: bool = False, paused: bool = True,
              evidence: Sequence[Signal] = ()) -> None:
        """The support lines, as one prominent reply: by phone, in writing, directories, emergency."""
        listed = self.listed
        phones = [x for x in listed if x.resource.kind == "phone" and not x.resource.emergency]
        writing = [x for x in listed if x.resource.by_text]
        finders = [x for x in listed if x.resource.kind == "web"]
        emergency = [x for x in listed if x.resource.emergency]
        sections: list[tuple[str, list[Listed]]] = [("crisis.panel.phone_heading", phones),
                                                    ("crisis.panel.text_heading", writing)]
        if text_first:
            sections.reverse()
        sections.append(("crisis.panel.web_heading", finders))
        lines = [self.t(intro) + (self.t("crisis.panel.open_mark") if phones or writing else "")]
        for heading, items in sections:
            if items:
                lines.append("")
                lines.append(self.t(heading))
                lines.extend(self.line(x) for x in items)
        lines.append("")
        if emergency:
            numbers = self.t("crisis.emergency.join").join(
                self.t("crisis.emergency.item", {"number": x.resource.number, "name": x.resource.name[self.lang]})
                for x in emergency)
            lines.append(self.t("crisis.panel.emergency", {"numbers": numbers}))
        else:
            lines.append(self.t("crisis.panel.emergency_local"))
        lines.append(self.t("crisis.panel.footer_paused" if paused else "crisis.panel.footer"))
        self.replies.append(Reply(text="\n".join(lines), message_id=intro, style="crisis", evidence=tuple(evidence)))
        self.event("text_services_shown" if text_first else "resources_shown")

    def top(self, *, writing: bool) -> Listed | None:
        """The first line to offer within reach: open now, by phone (or in writing), not emergency."""
        pool = [x for x in self.listed if not x.resource.emergency and x.open_now is not False and
                (x.resource.by_text if writing else x.resource.kind == "phone")]
        pool.sort(key=lambda x: x.open_now is not True)  # open-now first, then hours that vary
        return pool[0] if pool else None

    def reach_items(self) -> list[Listed]:
        items = [x for x in (self.top(writing=False), self.top(writing=True)) if x is not None]
        if not items:
            items = [x for x in self.listed if x.resource.kind == "web"][:REACH_ITEMS]
        return items

    def reach_line(self) -> None:
        """The support lines within reach, as text (every channel shows text)."""
        items = self.reach_items()
        if not items:
            return
        text = self.t("crisis.reach.join").join(
            self.t("crisis.reach.item", {"name": x.resource.short[self.lang], "contact": self.contact(x.resource)})
            for x in items)
        self.say("crisis.reach", {"items": text})

    def reach_buttons(self) -> list[Choice]:
        out = []
        for x in self.reach_items():
            r = x.resource
            role = "call" if r.kind == "phone" else "find" if r.kind == "web" else "write"
            if r.kind == "text":
                continue  # an SMS number has no portable link; it is in the text
            out.append(Choice(self.t(f"crisis.button.{role}", {"name": r.short[self.lang]}), str(r.link)))
        return out

    def state_buttons(self, state: str, only: Sequence[str] | None = None) -> list[Choice]:
        st = self.content.flows[FLOW].states[state]
        return [Choice(self.t(ch.label), f"c:{FLOW}:{state}:{ch.id}") for ch in st.choices
                if only is None or ch.id in only]

    # -- care -------------------------------------------------------------------------------------
    def reflect(self, text: str, signals: Sequence[Signal], turn: int) -> None:
        words = reflect_words(text, signals)
        if words:
            self.say(f"crisis.reflect.{turn % REFLECTIONS}", {"words": words})

    def question(self, turn: int) -> None:
        self.say(f"crisis.question.{turn % QUESTIONS}")

    def convo(self, state: str, vars: dict[str, Any]) -> ConvoState:
        return ConvoState(flow=FLOW, state=state, vars=vars, expires_at=self.now + self.content.flows[FLOW].timeout)

    def ask_in(self, state: str, vars: dict[str, Any], *, again: bool = False) -> StepResult:
        """Wait in ``state`` (one of STATE_QUESTIONS) on its question, with its buttons and the lines within reach."""
        arriving, repeated = STATE_QUESTIONS[state]
        self.say(repeated if again else arriving)
        self.attach(self.state_buttons(state) + self.reach_buttons())
        return self.result(self.convo(state, vars))


def care_step(*, content: Content, convo: ConvoState | None, inbound: Inbound, signals: Sequence[Signal],
              user: UserView, now: datetime) -> StepResult | None:
    """Crisis care for this message, or None when it is not crisis care's to answer."""
    crisis = getattr(content, "crisis", None)
    if crisis is None or FLOW not in content.flows or inbound.kind in ("follow", "unfollow"):
        return None
    care = _Care(content=content, crisis=crisis, user=user, now=now, lang=user.language)
    text = inbound.text if inbound.kind == "text" else None
    graded = grade(signals, text or "", crisis.policy) if text else None
    if in_care(user, convo, now):
        return _in_care(care, convo, inbound, text or "", signals, graded)
    return _outside(care, convo, inbound, text, signals, graded)


def _vars(convo: ConvoState | None) -> dict[str, Any]:
    if convo is not None and convo.flow == FLOW:
        return {k: v for k, v in convo.vars.items() if k in ("turn", "asked")}
    return {"turn": 0, "asked": False}


def _is_sos(crisis: CrisisContent, text: str | None) -> bool:
    return bool(text) and normalize_command(text) in crisis.policy.phrases("sos")


def _outside(care: _Care, convo: ConvoState | None, inbound: Inbound, text: str | None,
             signals: Sequence[Signal], graded: Grade | None) -> StepResult | None:
    choice = inbound.choice if inbound.kind == "choice" else None
    if choice in ("crisis:resources", "crisis:text") or _is_sos(care.crisis, text):
        care.panel("crisis.panel.text_intro" if choice == "crisis:text" else "crisis.panel.on_request",
                   text_first=choice == "crisis:text", paused=False)
        care.attach(care.reach_buttons())
        return care.result(convo)  # whatever they were doing is still there
    if choice == "crisis:fine":
        care.say("crisis.followup.fine")
        return care.result(None)
    if choice == "crisis:talk":
        care.say("crisis.care.talk")
        care.question(1)
        care.reach_line()
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("leave",)))
        return care.result(care.convo("listening", {"turn": 1, "asked": False}))
    if choice is not None and is_link(choice):
        return care.result(convo)
    if graded is None:
        return None
    crisis_signals = [s for s in signals if s.kind == "crisis"]
    if graded is Grade.ACKNOWLEDGE:
        care.say("crisis.acknowledge")
        care.attach([Choice(care.t("crisis.button.rest"), "go:rest"),
                     Choice(care.t("crisis.button.resources"), "crisis:resources"),
                     Choice(care.t("crisis.button.not_now"), "offer:crisis:no")])
        care.event("acknowledged")
        return care.result(None)
    care.effect("crisis_pause")
    if graded is Grade.CLEAR:
        care.event("entered_clear")
        care.panel("crisis.panel.intro", evidence=crisis_signals)
        care.reflect(text or "", signals, 0)
        care.question(0)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("text_services", "leave")))
        return care.result(care.convo("listening", {"turn": 1, "asked": False}))
    care.event("entered_ask")
    care.reflect(text or "", signals, 0)
    care.replies[-1:] = [Reply(text=r.text, message_id=r.message_id, style="noticed", evidence=tuple(crisis_signals))
                         for r in care.replies[-1:]]
    care.say("crisis.ask.question")
    care.reach_line()
    care.attach(care.state_buttons("asked") + care.reach_buttons())
    return care.result(care.convo("asked", {"turn": 1, "asked": True}))


def _command_of(care: _Care, inbound: Inbound, text: str) -> str | None:
    if inbound.kind == "command":
        return inbound.command
    if inbound.kind == "choice" and inbound.choice and inbound.choice.startswith("cmd:"):
        return inbound.choice[4:]
    if inbound.kind == "text":
        matched = match_command(care.content, text)
        if matched is not None:
            return matched[1] if matched[0] == "command" else f"flow:{matched[1]}"
    return None


def _in_care(care: _Care, convo: ConvoState | None, inbound: Inbound, text: str, signals: Sequence[Signal],
             graded: Grade | None) -> StepResult | None:
    vars = _vars(convo)
    turn = int(vars.get("turn") or 0)
    vars["turn"] = turn + 1
    state = convo.state if convo is not None and convo.flow == FLOW else "listening"
    if convo is not None and convo.flow == "privacy" and graded is None:
        return None  # confirming a deletion they asked for: let the privacy flow finish
    choice = inbound.choice if inbound.kind == "choice" else None
    if choice is not None and is_link(choice):
        return care.result(convo)
    if choice is not None and choice.startswith("c:privacy:"):
        return None

    # Renewed distress: the support lines first, whatever else the message says; the ones you can
    # write to first when the message also says phoning is out ("電話は無理。誰にも話せない").
    if graded in (Grade.CLEAR, Grade.ASK):
        care.effect("crisis_pause")
        care.event("renewed")
        if text and read_care_text(text, care.crisis.policy).cannot_phone:
            care.panel("crisis.panel.text_intro", text_first=True,
                       evidence=[s for s in signals if s.kind == "crisis"])
            care.say("crisis.care.here_is_fine")
        else:
            care.panel("crisis.panel.renewed", evidence=[s for s in signals if s.kind == "crisis"])
        care.reflect(text, signals, turn)
        if graded is Grade.ASK and not vars.get("asked"):
            vars["asked"] = True
            care.say("crisis.ask.question")
            care.attach(care.state_buttons("asked", ("yes", "no")) + care.reach_buttons())
            return care.result(care.convo("asked", vars))
        care.question(turn)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("text_services", "leave")))
        return care.result(care.convo("listening", vars))

    command = _command_of(care, inbound, text)
    if command in PASS_THROUGH_COMMANDS:
        return None
    if command in ("language_ja", "language_en"):
        care.lang = command.rsplit("_", 1)[1]
        care.effect("set_language", language=care.lang)
        care.say(care.content.ui["language_set"])
        care.say("crisis.care.listening")
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("resources", "leave")))
        return care.result(care.convo(state, vars))
    if command == "stop_reminders":
        care.effect("reminders", op="off")
        care.say("crisis.care.reminders_off")
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("resources", "leave")))
        return care.result(care.convo(state, vars))

    picked = _picked(care, state, choice, text)
    said = read_care_text(text, care.crisis.policy) if text else None
    if picked is None and said is not None:
        picked = _answer_by_words(state, said)
    if picked is None and (command is not None or (choice is not None and not choice.startswith("crisis:"))):
        picked = ("listening", "leave")  # a menu, a rich-menu button, a reminder's button: ask first
    if picked is None and choice in ("crisis:resources", "crisis:text"):
        picked = ("listening", "resources" if choice == "crisis:resources" else "text_services")
    if picked is None and choice == "crisis:fine":
        picked = ("leaving", "calmer")
    if picked is not None:
        return _take(care, picked, vars, text, signals, said, turn)

    # Free text: care.
    if said is not None and said.cannot_phone:
        care.panel("crisis.panel.text_intro", text_first=True)
        care.say("crisis.care.here_is_fine")
        care.question(turn)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("leave",)))
        return care.result(care.convo("listening", vars))
    if said is not None and said.apology:
        care.say("crisis.care.no_apology")
    if inbound.kind == "unsupported":
        care.say("crisis.care.unsupported")
    else:
        # A denied mention in care is still met with their own words, not the flagged ones.
        care.reflect(text, signals if graded is None else (), turn)
    if state in STATE_QUESTIONS:
        return care.ask_in(state, vars, again=True)
    care.question(turn)
    care.reach_line()
    care.attach(care.reach_buttons() + care.state_buttons("listening", ("text_services", "leave")))
    return care.result(care.convo("listening", vars))


def _picked(care: _Care, state: str, choice: str | None, text: str) -> tuple[str, str] | None:
    """A crisis-care button: tapped (any state's, they are all safe to honour) or its label typed."""
    if choice and choice.startswith(f"c:{FLOW}:"):
        parts = choice.split(":")
        if len(parts) == 4 and parts[2] in care.content.flows[FLOW].states:
            st = care.content.flows[FLOW].states[parts[2]]
            if any(c.id == parts[3] for c in st.choices):
                return parts[2], parts[3]
        return None
    if text:
        typed = normalize_command(text)
        st = care.content.flows[FLOW].states[state]
        for ch in st.choices:
            labels = care.content.messages[ch.label].text.values()
            if typed in {normalize_command(x) for x in labels}:
                return state, ch.id
    return None


def _answer_by_words(state: str, said: Said) -> tuple[str, str] | None:
    if state == "asked":
        if said.yes and not said.no:
            return "asked", "yes"
        if said.no:
            return "asked", "no"
    if state == "leaving":
        if said.not_ok:
            return "leaving", "still_hard"
        if said.leave:
            return "leaving", "calmer"
    if state != "back" and said.leave:
        return "listening", "leave"
    return None


def _take(care: _Care, picked: tuple[str, str], vars: dict[str, Any], text: str, signals: Sequence[Signal],
          said: Said | None, turn: int) -> StepResult:
    state, choice_id = picked
    if choice_id in ("resources", "text_services"):
        text_first = choice_id == "text_services"
        care.panel("crisis.panel.text_intro" if text_first else "crisis.panel.on_request", text_first=text_first)
        if text_first:
            care.say("crisis.care.here_is_fine")
        care.question(turn)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("leave",)))
        return care.result(care.convo("asked" if state == "asked" else "listening", vars))
    if state == "asked" and choice_id == "yes":
        care.event("asked_yes")
        care.panel("crisis.panel.asked_yes")
        care.question(1)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("text_services",)))
        return care.result(care.convo("listening", vars))
    if state == "asked" and choice_id == "no":
        care.event("asked_no")
        care.say("crisis.ask.thanks_no")
        care.question(0)
        care.reach_line()
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("leave",)))
        return care.result(care.convo("listening", vars))
    if choice_id == "leave":
        if said is not None and said.apology:
            care.say("crisis.care.no_apology")
        return care.ask_in("leaving", vars)
    if choice_id == "still_hard":
        care.say("crisis.care.still_hard")
        care.question(turn)
        care.reach_line()
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("text_services", "leave")))
        return care.result(care.convo("listening", vars))
    if choice_id == "calmer":
        return care.ask_in("back", vars)
    if choice_id == "stay":
        care.say("crisis.care.talk")
        care.question(turn)
        care.attach(care.reach_buttons() + care.state_buttons("listening", ("leave",)))
        return care.result(care.convo("listening", vars))
    return _leave(care, choice_id)


def _leave(care: _Care, how: str) -> StepResult:
    """Out of care, as they chose: reminders back with a check-in first, one check-in only, or nothing."""
    tz = _zone(care.user.timezone) or ZoneInfo("UTC")
    at = checkin_time(care.now, tz)
    checkin = dict(due_at=at, message_id="crisis.followup", flow=FLOW, values={})
    if how == "reminders":
        care.effect("resume")
        care.effect("reminders", op="pause", until=at)  # nothing before the check-in
        care.effect("schedule_followup", **checkin)
        care.say("crisis.back.reminders")
    elif how == "checkin_only":
        care.effect("crisis_end")
        care.effect("reminders", op="off")
        care.effect("schedule_followup", **checkin)
        care.say("crisis.back.checkin_only")
    else:
        care.effect("crisis_end")
        care.effect("reminders", op="off")
        care.say("crisis.back.quiet")
    care.event("left")
    care.say("crisis.back.sos")
    return care.result(None)

