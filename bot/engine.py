"""The conversation engine: a pure step over (content, saved state, inbound, signals, user, now).

``step`` never does I/O. It returns the new conversation state, the replies to send and a list
of ``Effect`` values (save a check-in, switch language, pause reminders, ...) that the service
applies at the edge. Flows are data (``content/flows/*.yaml``): states, prompts, choices, free
text, transitions on choice, text, signal and timeout, and the reserved ``end`` state.

Choice values that travel through platforms (postback data, Block Kit values, web buttons):
  ``c:FLOW:STATE:CHOICE``  a choice in a flow state (stale if the user has moved on)
  ``go:FLOW``              start a flow (menus, offers)
  ``cmd:NAME``             a global command
  ``offer:KIND:no``        decline an offer made after a signal
  ``nudge:ID:ANSWER[:FLOW]`` answer a reminder (done, later, talk)
  ``crisis:…``, ``tel:…``, ``https://…``  crisis care's answers and links (bot/crisis/care.py)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Protocol, Sequence

from bot.content import END, Action, Content, FlowSpec, StateSpec, parse_duration
from bot.text import normalize_command, parse_score
from bot.types import SIGNAL_KINDS, Choice, Inbound, Reply, Signal

MAX_AUTO_STEPS = 32


@dataclass(frozen=True, slots=True)
class ConvoState:
    """Where a user is: flow, state, the flow's working values, and when it lapses."""

    flow: str
    state: str
    vars: dict[str, Any]
    expires_at: datetime

    @property
    def label(self) -> str:
        return f"{self.flow}:{self.state}"


@dataclass(frozen=True, slots=True)
class UserView:
    """What the engine may know about the user (never message history)."""

    language: str
    consent_store_text: bool = False
    crisis_paused: bool = False
    is_new: bool = False
    timezone: str | None = None  # IANA name; crisis care picks the support lines by it


@dataclass(frozen=True, slots=True)
class Effect:
    """Something the service must do after the step: ``name`` and its arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Interpretation:
    """What an interpreter understood from free text: effects plus a message to confirm it."""

    effects: tuple[Effect, ...]
    message_id: str
    values: dict[str, Any] = field(default_factory=dict)


class Interpreter(Protocol):
    def __call__(self, text: str, *, lang: str, now: datetime) -> Interpretation | None: ...


@dataclass(slots=True)
class StepResult:
    convo: ConvoState | None
    replies: list[Reply]
    effects: list[Effect]
    language: str

    @property
    def state_label(self) -> str:
        return self.convo.label if self.convo else "idle"


def choice_value(flow: str, state: str, choice_id: str) -> str:
    return f"c:{flow}:{state}:{choice_id}"


def strongest(signals: Sequence[Signal], *, exclude: Sequence[str] = ()) -> Signal | None:
    """The signal to respond to first: highest score, ties broken by the order of SIGNAL_KINDS."""
    pool = [s for s in signals if s.kind not in exclude]
    if not pool:
        return None
    return max(pool, key=lambda s: (s.score, -SIGNAL_KINDS.index(s.kind)))


class _Run:
    """The mutable scratchpad of one step; discarded when it returns."""

    def __init__(self, content: Content, lang: str, now: datetime, signals: Sequence[Signal], *,
                 consent_store_text: bool = False):
        self.content = content
        self.consent_store_text = consent_store_text
        self.lang = lang
        self.now = now
        self.signals = list(signals)
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []

    # -- output ---------------------------------------------------------------------------
    def say(self, message_id: str, values: dict[str, Any] | None = None, *, style: str = "normal",
            choices: Sequence[Choice] = (), evidence: Sequence[Signal] = ()) -> None:
        text = self.content.text(message_id, self.lang, values)
        self.replies.append(Reply(text=text, message_id=message_id, choices=tuple(choices), style=style,
                                  evidence=tuple(evidence)))

    def ui(self, role: str, values: dict[str, Any] | None = None, **kw) -> None:
        self.say(self.content.ui[role], values, **kw)

    def label(self, message_id: str) -> str:
        return self.content.text(message_id, self.lang)

    def attach(self, choices: Sequence[Choice]) -> None:
        """Put buttons on the last reply (LINE shows quick replies on the last message only)."""
        if not choices or not self.replies:
            return
        self.replies[-1] = replace(self.replies[-1], choices=tuple(choices))

    def effect(self, name: str, **args: Any) -> None:
        self.effects.append(Effect(name, args))

    # -- flows ------------------------------------------------------------------------------
    def state_choices(self, flow: FlowSpec, st: StateSpec) -> list[Choice]:
        return [Choice(label=self.label(ch.label), value=choice_value(flow.id, st.name, ch.id))
                for ch in st.choices]

    def prompt(self, flow: FlowSpec, st: StateSpec, vars: dict[str, Any], *, again: bool = False) -> None:
        """Say a state's words and show its buttons (without running its actions again).
        ``again``: asking a second time, so only the question itself (the last message), not the intro."""
        for mid in (st.say[-1:] if again else st.say):
            self.say(mid, vars)
        if st.say_by_signal:
            seen = vars.get("_signals") or []
            pick = next((st.say_by_signal[k] for k in seen if k in st.say_by_signal), st.say_by_signal["default"])
            self.say(pick, vars)
        self.attach(self.state_choices(flow, st))

    def run_actions(self, actions: Sequence[Action], vars: dict[str, Any]) -> None:
        for a in actions:
            if a.name == "set_language":
                self.lang = a.arg
                self.effect("set_language", language=a.arg)
            elif a.name == "save_checkin":
                self.effect("save_checkin", energy=vars.get("energy"), boundaries=vars.get("boundaries"),
                            client_respect=vars.get("client_respect"), reflection=vars.get("reflection"))
            elif a.name == "set_consent":
                self.effect("set_consent", store_text=a.arg)
            elif a.name == "reminder_preset":
                p = self.content.presets[a.arg]
                self.effect("reminders", op="set", days=list(p.days), time=p.time, preset=p.id)
            elif a.name == "reminders_off":
                self.effect("reminders", op="off")
            elif a.name == "reminders_on":
                self.effect("reminders", op="on")
            elif a.name == "reminders_pause":
                self.effect("reminders", op="pause", until=self.now + parse_duration(a.arg))
            elif a.name == "schedule_followup":
                after = parse_duration(a.arg["after"])
                message_id, values = self.followup_message(a.arg["message"], vars)
                self.effect("schedule_followup", due_at=self.now + after, message_id=message_id,
                            flow=a.arg.get("flow"), values=values)
            elif a.name == "clear_vars":
                for k in [k for k in vars if not k.startswith("_")]:
                    vars.pop(k)
            else:  # export_data, delete_data, resume
                self.effect(a.name)

    def followup_message(self, message_id: str, vars: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The follow-up to schedule and the values it needs. The user's own words travel with it only
        when they agreed to us keeping their words; otherwise the ``.plain`` wording is used."""
        needed = self.content.placeholders(message_id)
        if not needed:
            return message_id, {}
        if self.consent_store_text:
            return message_id, {k: vars[k] for k in needed if k in vars}
        return f"{message_id}.plain", {}

    def resolve(self, flow: FlowSpec, target: str | None) -> tuple[FlowSpec, str] | None:
        """A transition target → (flow, state); None means the flow ends."""
        if target is None or target == END:
            return None
        if target.startswith("@"):
            f = self.content.flows[target[1:]]
            return f, f.start
        if ":" in target:
            fid, state = target.split(":", 1)
            return self.content.flows[fid], state
        return flow, target

    def enter(self, flow: FlowSpec, target: str | None, vars: dict[str, Any]) -> ConvoState | None:
        """Move to ``target``: run actions, say prompts, and follow states that do not wait."""
        for _ in range(MAX_AUTO_STEPS):
            where = self.resolve(flow, target)
            if where is None:
                self.finish(flow, vars)
                return None
            new_flow, name = where
            if new_flow.id != flow.id:
                vars = {"_signals": vars.get("_signals", [])}
            flow = new_flow
            st = flow.states[name]
            self.run_actions(st.actions, vars)
            self.prompt(flow, st, vars)
            if st.waits:
                return ConvoState(flow=flow.id, state=name, vars=vars, expires_at=self.now + flow.timeout)
            target = st.next
        raise RuntimeError(f"flow {flow.id!r} loops through states that never wait")

    def start(self, flow_id: str, state: str | None = None, vars: dict[str, Any] | None = None) -> ConvoState | None:
        flow = self.content.flows[flow_id]
        return self.enter(flow, f"{flow_id}:{state or flow.start}", vars if vars is not None else {})

    def finish(self, flow: FlowSpec, vars: dict[str, Any]) -> None:
        """At the end of a flow, offer the practice that what was noticed during it suggests."""
        for kind in vars.get("_signals") or []:
            route = self.content.signal_routes.get(kind)
            if route and route.flow and route.flow != flow.id:
                self.say(route.offer, choices=self.offer_choices(kind))
                return

    def notice(self, signal: Signal, *, offer: bool) -> None:
        """Say what was noticed and why; with ``offer``, also offer the matching flow as buttons."""
        route = self.content.signal_routes[signal.kind]
        self.say(route.noticed, {"evidence": signal.evidence}, style="noticed", evidence=[signal])
        if offer:
            self.say(route.offer, choices=self.offer_choices(signal.kind))

    def offer_choices(self, kind: str) -> list[Choice]:
        route = self.content.signal_routes[kind]
        return [Choice(self.label(route.accept), f"go:{route.flow}"), Choice(self.label(route.decline), f"offer:{kind}:no")]


def _note_signals(vars: dict[str, Any], signals: Sequence[Signal]) -> None:
    seen = list(vars.get("_signals") or [])
    evidence = dict(vars.get("_evidence") or {})
    for s in signals:
        if s.kind not in seen:
            seen.append(s.kind)
        evidence.setdefault(s.kind, s.evidence)
    if seen:
        vars["_signals"] = seen
        vars["_evidence"] = evidence


def match_command(content: Content, text: str) -> tuple[str, str] | None:
    """('command', name) or ('flow', flow_id) when ``text`` is a global command or a flow's entry phrase."""
    t = normalize_command(text)
    return content.phrase_index().get(t) if t else None


def _match_choice(run: _Run, st: StateSpec, text: str):
    t = normalize_command(text)
    for ch in st.choices:
        if t == normalize_command(ch.id):
            return ch
        for lang in run.content.messages[ch.label].text:
            if t == normalize_command(run.content.text(ch.label, lang)):
                return ch
    return None


def step(*, content: Content, convo: ConvoState | None, inbound: Inbound, signals: Sequence[Signal],
         user: UserView, now: datetime, interpreters: Sequence[Interpreter | Callable] = ()) -> StepResult:
    """Advance one user's conversation by one inbound message. Pure: no I/O, clock passed in."""
    from bot.crisis.care import care_step  # crisis care comes first, whatever flow was running

    cared = care_step(content=content, convo=convo, inbound=inbound, signals=signals, user=user, now=now)
    if cared is not None:
        return cared
    run = _Run(content, user.language, now, signals, consent_store_text=user.consent_store_text)
    convo = _live(run, convo, inbound)
    new = _dispatch(run, convo, inbound, user, interpreters)
    return StepResult(convo=new, replies=run.replies, effects=run.effects, language=run.lang)


def _live(run: _Run, convo: ConvoState | None, inbound: Inbound) -> ConvoState | None:
    """Drop a lapsed or no-longer-valid conversation, telling the user when it lapsed."""
    if convo is None:
        return None
    flow = run.content.flows.get(convo.flow)
    if flow is None or convo.state not in flow.states:
        return None  # content changed under a saved conversation: start fresh
    if run.now >= convo.expires_at:
        if inbound.kind in ("text", "choice"):
            run.say(flow.on_timeout or run.content.ui["expired"])
        return None
    return convo


def _dispatch(run: _Run, convo: ConvoState | None, inbound: Inbound, user: UserView,
              interpreters: Sequence[Interpreter]) -> ConvoState | None:
    if inbound.kind == "follow":
        if inbound.lang_hint in ("ja", "en") and inbound.lang_hint != run.lang:
            run.lang = inbound.lang_hint
            run.effect("set_language", language=inbound.lang_hint)
        return run.start("onboarding")
    if inbound.kind == "unfollow":
        run.effect("deactivate")
        return None
    if inbound.kind == "unsupported":
        run.ui("unsupported")
        return _reprompt(run, convo)
    if inbound.kind == "command" and inbound.command:
        return _command(run, convo, inbound.command)
    if inbound.kind == "choice" and inbound.choice:
        return _choice(run, convo, inbound.choice)
    text = inbound.text or ""
    if convo is not None:
        st = run.content.flows[convo.flow].states[convo.state]
        ch = _match_choice(run, st, text)
        if ch is not None:  # a typed button label wins over a command that happens to read the same
            return _take_choice(run, run.content.flows[convo.flow], st, ch, dict(convo.vars))
    matched = match_command(run.content, text)
    if matched and matched[0] == "command":
        return _command(run, convo, matched[1])
    answering = convo is not None and run.content.flows[convo.flow].states[convo.state].text is not None
    if matched and not answering:  # a flow's entry phrase typed as an answer is just an answer
        return run.start(matched[1])
    if user.is_new and convo is None:
        return run.start("onboarding")
    if convo is not None:
        flow = run.content.flows[convo.flow]
        st = flow.states[convo.state]
        if st.text is None and _match_choice(run, st, text) is None:
            interpreted = _interpret(run, interpreters, text)
            if interpreted:
                return _reprompt(run, convo)
        return _flow_text(run, convo, text)
    if _interpret(run, interpreters, text):
        return None
    top = strongest(run.signals)
    if top is not None:
        run.notice(top, offer=True)
        return None
    run.ui("idle")
    return run.start("menu")


def _interpret(run: _Run, interpreters: Sequence[Interpreter], text: str) -> bool:
    for interpret in interpreters:
        got = interpret(text, lang=run.lang, now=run.now)
        if got is not None:
            run.effects.extend(got.effects)
            run.say(got.message_id, got.values)
            return True
    return False


def _reprompt(run: _Run, convo: ConvoState | None) -> ConvoState | None:
    if convo is not None:
        flow = run.content.flows[convo.flow]
        run.prompt(flow, flow.states[convo.state], convo.vars, again=True)
    return convo


def _command(run: _Run, convo: ConvoState | None, name: str) -> ConvoState | None:
    if name == "help":
        run.ui("help")
        return _reprompt(run, convo)
    if name == "menu":
        return run.start("menu")
    if name == "cancel":
        run.ui("cancelled" if convo else "nothing_to_cancel")
        return None
    if name == "stop_reminders":
        run.effect("reminders", op="off")
        run.ui("reminders_stopped")
        return _reprompt(run, convo)
    if name == "resume":
        run.effect("resume")
        run.ui("resumed")
        return _reprompt(run, convo)
    if name in ("language_ja", "language_en"):
        run.lang = name.rsplit("_", 1)[1]
        run.effect("set_language", language=run.lang)
        run.ui("language_set")
        return _reprompt(run, convo)
    if name == "delete_data":
        return run.start("privacy", "confirm_delete")
    if name == "export_data":
        run.effect("export_data")
        run.ui("export_intro")
        return _reprompt(run, convo)
    if name in run.content.flows:  # adapters may name a flow directly (/coach checkin)
        return run.start(name)
    run.ui("fallback")
    return _reprompt(run, convo)


def _choice(run: _Run, convo: ConvoState | None, value: str) -> ConvoState | None:
    parts = value.split(":")
    kind = parts[0]
    if kind == "go" and len(parts) == 2 and parts[1] in run.content.flows:
        return run.start(parts[1])
    if kind == "cmd" and len(parts) == 2:
        return _command(run, convo, parts[1])
    if kind == "offer" and len(parts) == 3:
        run.ui("offer_declined")
        return _reprompt(run, convo)
    if kind == "nudge" and len(parts) in (3, 4) and parts[2] in ("done", "later", "talk"):
        answer = parts[2]
        run.effect("nudge_response", outbox_id=parts[1], answer=answer)
        run.ui(f"nudge_{answer}")
        if answer == "talk" and len(parts) == 4 and parts[3] in run.content.flows:
            return run.start(parts[3])
        return _reprompt(run, convo)
    if kind == "c" and len(parts) == 4:
        _, fid, sname, cid = parts
        if convo is not None and convo.flow == fid and convo.state == sname:
            flow = run.content.flows[fid]
            st = flow.states[sname]
            ch = next((c for c in st.choices if c.id == cid), None)
            if ch is not None:
                return _take_choice(run, flow, st, ch, dict(convo.vars))
    run.ui("stale_choice")
    if convo is None:
        return run.start("menu")
    return _reprompt(run, convo)


def _take_choice(run: _Run, flow: FlowSpec, st: StateSpec, ch, vars: dict[str, Any]) -> ConvoState | None:
    vars.update(ch.set)
    run.run_actions(ch.actions, vars)
    return run.enter(flow, ch.next, vars)


def _flow_text(run: _Run, convo: ConvoState, text: str) -> ConvoState | None:
    flow = run.content.flows[convo.flow]
    st = flow.states[convo.state]
    vars = dict(convo.vars)
    ch = _match_choice(run, st, text)
    if ch is not None:
        return _take_choice(run, flow, st, ch, vars)
    _note_signals(vars, [s for s in run.signals if s.kind != "crisis"])
    for s in run.signals:
        target = st.on_signal.get(s.kind)
        if target is not None:
            vars["evidence"] = s.evidence
            return run.enter(flow, target, vars)
    if st.text is None:
        top = strongest(run.signals)
        if top is not None:
            # What they wrote matters more than the buttons we showed: answer it, as from idle.
            run.notice(top, offer=run.content.signal_routes[top.kind].flow != flow.id)
            return None
        run.ui("fallback")
        return _reprompt(run, replace(convo, vars=vars))
    value: Any = text.strip()
    if st.text.parse == "score":
        value = parse_score(text)
        if value is None:
            if st.text.invalid:
                run.say(st.text.invalid)
            else:
                run.ui("score_invalid")
            return _reprompt(run, convo)
    if st.text.save:
        vars[st.text.save] = value
    if st.offers:
        top = strongest(run.signals)
        if top is not None and run.content.signal_routes[top.kind].flow != flow.id:
            # Acknowledge now; the offer comes when this flow ends (one set of buttons at a time).
            run.notice(top, offer=False)
    run.run_actions(st.text.actions, vars)
    return run.enter(flow, st.text.next, vars)
