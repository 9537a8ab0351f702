"""The conversation engine: a pure step over (content, saved state, inbound, signals, user, now).

``step`` never does I/O. It returns the new conversation state, the replies to send and a list
of ``Effect`` values (save a check-in, switch language, pause reminders, ...) that the service
applies at the edge. Flows are data (``content/flows/*.yaml``): states, prompts, choices, free
text, transitions on choice, text, signal and timeout, and the reserved ``end`` state.

Free text is read by meaning (``bot.understand``, words from ``content/understanding/``): an intent
(stop reminders, help, export my data, ...) is carried out wherever the state allows it (``interrupts``
in the flow data) and the interrupted question comes back; flows started from inside a flow sit on a
stack (``_stack`` in the working values) and the interrupted flow resumes when they end.

Choice values that travel through platforms (postback data, Block Kit values, web buttons):
  ``c:FLOW:STATE:CHOICE``  a choice in a flow state (stale if the user has moved on)
  ``go:FLOW``              start a flow (menus, offers)
  ``cmd:NAME``             a global command (``cmd:continue``: stay in the current flow)
  ``offer:KIND:no``        decline an offer made after a signal
  ``PREFIX:…``            a domain's buttons (bot.domain), e.g. reminders' ``nudge:ID:ANSWER[:FLOW[:STATE]]``
  ``crisis:…``, ``tel:…``, ``https://…``  crisis care's answers and links (bot/crisis/care.py)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol, Sequence

from bot import understand as U
from bot.content import END, Action, Content, FlowSpec, StateSpec, parse_duration
from bot.domain import registry
from bot.text import normalize_command
from bot.types import SIGNAL_KINDS, Choice, Inbound, Reply, Signal

MAX_AUTO_STEPS = 32
MAX_STACK = 3
IDLE = "idle"  # the flow name of a saved memory between flows (its label is "idle")
MEMORY_TTL = timedelta(hours=24)
OFFER_TTL = timedelta(hours=2)  # how long "yes"/「うん」 in idle still answers the last offer
MEMORY_SIZE = 24
NOTICE_QUIET = timedelta(minutes=30)
# Working values that travel with the user from flow to flow (not answers of one flow).
CARRIED = ("_signals", "_stack", "_then", "_noticed", "_memory", "_noticed_at")
MEMORY_KEYS = ("_memory", "_noticed_at", "_offer")
SUGGESTED_FLOWS = ("checkin", "boundary", "rest")
# The interruption group of the core's commands and intents (domains declare their own).
INTENT_GROUP = {
    "help": "help", "menu": "menu",
    "cancel": "cancel", "export_data": "privacy", "delete_data": "privacy", "language_ja": "language",
    "language_en": "language", "thanks": "chat", "greeting": "chat",
}


@dataclass(frozen=True, slots=True)
class ConvoState:
    """Where a user is: flow, state, the flow's working values, and when it lapses."""

    flow: str
    state: str
    vars: dict[str, Any]
    expires_at: datetime

    @property
    def label(self) -> str:
        return IDLE if self.flow == IDLE else f"{self.flow}:{self.state}"


@dataclass(frozen=True, slots=True)
class UserView:
    """What the engine may know about the user (never message history)."""

    language: str
    consent_store_text: bool = False
    crisis_paused: bool = False
    is_new: bool = False
    reminders: str | None = None  # "on", "paused", "off", "none" (never set), or None when not known
    timezone: str = "Asia/Tokyo"
    last_checkin: dict[str, int | None] | None = None  # the previous check-in's scores, when a check-in runs


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
    memory: dict[str, Any] | None = None  # between flows: recent answers (ids and scores, never words)
    at: datetime | None = None  # when the step ran (a saved memory lapses at once: it holds no reminder back)

    @property
    def state_label(self) -> str:
        return self.convo.label if self.convo else IDLE

    @property
    def saved(self) -> ConvoState | None:
        """What to save: the conversation, or between flows the short memory (already lapsed, so it
        holds nothing back), or nothing."""
        if self.convo is not None:
            return self.convo
        if self.memory:
            return ConvoState(flow=IDLE, state=IDLE, vars=self.memory, expires_at=self.at)
        return None


def choice_value(flow: str, state: str, choice_id: str) -> str:
    return f"c:{flow}:{state}:{choice_id}"


QUOTE_CHARS = 28  # a quote longer than this reads as an echo, not as listening (Japanese)
QUOTE_CHARS_LATIN = 60
_QUOTE_BREAKS = re.compile(r"[。．.!！?？…、,，;；]+|\s[-–—]\s")


# A clause quoted back should not end on the word that joined it to the next ("... even though").
_DANGLING_CONNECTIVE = re.compile(r"[\s,]+(?:even though|though|although|but|and|because|so|while|when|if|or)[\s,]*$",
                                  re.IGNORECASE)


def quoted(evidence: str, limit: int | None = None) -> str:
    """The words to quote back when a pattern was noticed: the evidence itself when short, else its
    longest clause, cut at a word or character boundary with an ellipsis."""
    text = _DANGLING_CONNECTIVE.sub("", evidence.strip())
    if limit is None:
        limit = QUOTE_CHARS_LATIN if text.isascii() else QUOTE_CHARS
    if len(text) <= limit:
        return text
    pieces = [p.strip() for p in _QUOTE_BREAKS.split(text) if p.strip()]
    best = max(pieces, key=len) if pieces else text
    if len(best) <= limit:
        return best
    cut = best[:limit]
    if " " in cut and best.isascii():
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip() + "…"


def strongest(signals: Sequence[Signal], *, exclude: Sequence[str] = ()) -> Signal | None:
    """The signal to respond to first: highest score, ties broken by the order of SIGNAL_KINDS."""
    pool = [s for s in signals if s.kind not in exclude]
    if not pool:
        return None
    return max(pool, key=lambda s: (s.score, -SIGNAL_KINDS.index(s.kind)))


class _Run:
    """The mutable scratchpad of one step; discarded when it returns."""

    def __init__(self, content: Content, lang: str, now: datetime, signals: Sequence[Signal], *,
                 consent_store_text: bool = False, user: UserView | None = None):
        self.content = content
        self.user = user or UserView(language=lang)
        self.u = content.understanding or U.Understanding()
        self.consent_store_text = consent_store_text
        self.lang = lang
        self.now = now
        self.signals = list(signals)
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.memory: dict[str, Any] = {}  # carried values from the idle memory (``_memory``, ``_noticed_at``)
        self.domains = registry()  # what the domains add: actions, intents, buttons, free-text readings

    # -- for domains (bot.domain): carry something out, then continue ------------------------
    def resume(self, convo: ConvoState | None, what: str) -> ConvoState | None:
        """Where the state says ``what`` leads, else its question again."""
        return _resume(self, convo, what)

    def reprompt(self, convo: ConvoState | None) -> ConvoState | None:
        return _reprompt(self, convo)

    def date_text(self, when: datetime) -> str:
        """A date in the user's time zone and language ("12月5日(金)")."""
        return _date_text(self, when)

    # -- output ---------------------------------------------------------------------------
    def say(self, message_id: str, values: dict[str, Any] | None = None, *, style: str = "normal",
            choices: Sequence[Choice] = (), evidence: Sequence[Signal] = ()) -> None:
        text = self.content.text(message_id, self.lang, values)
        if self.replies and self.replies[-1].text == text:
            return  # the same words twice in a row say nothing new
        self.replies.append(Reply(text=text, message_id=message_id, choices=tuple(choices), style=style,
                                  evidence=tuple(evidence)))

    def variant(self, message_id: str) -> str:
        """One of ``message_id``, ``message_id.2``, ``.3``...: a different wording each week, so a weekly
        closing does not read the same every time."""
        count = 1
        while f"{message_id}.{count + 1}" in self.content.messages:
            count += 1
        n = self.now.isocalendar().week % count
        return message_id if n == 0 else f"{message_id}.{n + 1}"

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
        if st.say_by_mood and not again:
            self.say(self.variant(st.say_by_mood[vars.get("_mood") or "mixed"]), vars)
        for mid in (st.say[-1:] if again else st.say):
            self.say(mid, vars)
        if st.say_by_signal:
            seen = list(vars.get("_signals") or [])
            for key, kind in st.lean_on_scores.items():
                if isinstance(vars.get(key), int) and vars[key] <= 2 and kind not in seen:
                    seen.append(kind)
            pick = next((st.say_by_signal[k] for k in seen if k in st.say_by_signal), st.say_by_signal["default"])
            self.say(self.variant(pick), vars)
        got = None if again or not flow.remember else self.recalled(vars, flow, st)
        if got is not None and (shown := self.recalled_text(flow, st, got)):
            self.ui("recalled", {"answer": shown})
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
            elif a.name in self.domains.actions:
                self.domains.actions[a.name].run(self, a.arg, vars)
            elif a.name == "schedule_followup":
                after = parse_duration(a.arg["after"])
                message_id, values = self.followup_message(a.arg["message"], vars)
                self.effect("schedule_followup", due_at=self.now + after, message_id=message_id,
                            flow=a.arg.get("flow"), values=values)
            elif a.name == "clear_vars":
                for k in [k for k in vars if not k.startswith("_")]:
                    vars.pop(k)
            elif a.name == "acknowledge":
                self.acknowledge(vars)
            elif a.name == "short_topic":
                vars[a.arg["save"]] = self.short_topic(vars.get(a.arg["from"]), a.arg["generic"],
                                                       quote=bool(a.arg.get("quote")))
            else:  # export_data, delete_data, resume
                self.effect(a.name)

    def acknowledge(self, vars: dict[str, Any]) -> None:
        """Say, in our words, how the week sounds: the mood from scores and words, and the gist."""
        scores = [v for k in ("energy", "boundaries", "client_respect") if isinstance(v := vars.get(k), int)]
        words = vars.get("reflection") if isinstance(vars.get("reflection"), str) else None
        feel = U.tone(self.u, words, self.lang)
        avg = sum(scores) / len(scores) if scores else 3
        if feel == "hard" or avg <= 2 or (scores and min(scores) == 1):
            mood = "hard"
        elif avg >= 4 and feel != "hard":
            mood = "good"
        else:
            mood = "mixed"
        vars["_mood"] = mood
        topic = U.gist(self.u, words, self.lang)
        self.say(f"checkin.ack.{mood}")
        if topic and topic in self.content.messages:
            self.say(topic)
        trend = _trend(vars, self.user.last_checkin)
        if trend is not None:
            self.say(f"checkin.trend.{trend}")

    def short_topic(self, raw: Any, generic: str, *, quote: bool = False) -> str:
        """A topic a client may read: what they wrote only when it is a short label (in quote marks with
        ``quote``), else our generic words."""
        text = raw.strip() if isinstance(raw, str) else ""
        if not U.is_label(self.u, text):
            return self.label(generic)
        return self.content.text(self.content.ui["option_quote"], self.lang, {"option": text}) if quote else text

    def options_text(self, flow: FlowSpec, st: StateSpec, only: Sequence[Any] | None = None, *,
                     numbered: bool = False) -> str:
        quote = self.content.ui["option_quote"]
        items = [(f"{st.choices.index(ch) + 1}. " if numbered else "")
                 + self.content.text(quote, self.lang, {"option": self.label(ch.label)}) for ch in (only or st.choices)]
        return self.label(self.content.ui["options_join"]).join(items)

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
        """Move to ``target``: run actions, say prompts, and follow states that do not wait. When a flow
        ends, the flow it interrupted (top of the stack) asks its question again."""
        for _ in range(MAX_AUTO_STEPS):
            where = self.resolve(flow, target)
            if where is None:
                self.finish(flow, vars)
                return self.after_flow(vars)
            new_flow, name = where
            if new_flow.id != flow.id:
                vars = {k: vars[k] for k in CARRIED if k in vars}
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
        if vars is None:
            vars = {k: v for k, v in self.memory.items() if k in CARRIED}
        return self.enter(flow, f"{flow_id}:{state or flow.start}", vars)

    def remember(self, vars: dict[str, Any], flow: FlowSpec, st: StateSpec, answer: dict[str, Any]) -> None:
        """Keep a recent answer (a choice id or a score, never words) for this question."""
        memory = dict(vars.get("_memory") or {})
        memory[f"{flow.id}:{st.name}"] = {**answer, "at": self.now.isoformat()}
        vars["_memory"] = dict(list(memory.items())[-MEMORY_SIZE:])

    def recalled(self, vars: dict[str, Any], flow: FlowSpec, st: StateSpec) -> dict[str, Any] | None:
        got = (vars.get("_memory") or {}).get(f"{flow.id}:{st.name}")
        if not got:
            return None
        try:
            at = datetime.fromisoformat(got["at"])
        except (KeyError, TypeError, ValueError):
            return None
        return got if self.now - at < MEMORY_TTL else None

    def recalled_text(self, flow: FlowSpec, st: StateSpec, got: dict[str, Any]) -> str | None:
        if "choice" in got:
            ch = next((c for c in st.choices if c.id == got["choice"]), None)
            return self.label(ch.label) if ch else None
        return str(got["value"]) if "value" in got else None

    def start_over(self, convo: ConvoState | None, flow_id: str, state: str | None = None) -> ConvoState | None:
        """Start a flow on top of the current one, which comes back when it ends."""
        if convo is None or convo.flow == flow_id or self.content.flows[convo.flow].hub:
            return self.start(flow_id, state)
        stack = list(convo.vars.get("_stack") or [])
        frame_vars = {k: v for k, v in convo.vars.items() if k not in ("_stack", "_switch")}
        stack.append({"flow": convo.flow, "state": convo.state, "vars": frame_vars})
        return self.start(flow_id, state, {"_stack": stack[-MAX_STACK:], "_signals": convo.vars.get("_signals", [])})

    def after_flow(self, vars: dict[str, Any]) -> ConvoState | None:
        """What comes after a flow ends: the interrupted flow's question, or a flow they asked for."""
        self.memory = {k: vars[k] for k in MEMORY_KEYS if k in vars}
        stack = list(vars.get("_stack") or [])
        if stack:
            frame = stack.pop()
            flow = self.content.flows.get(frame["flow"])
            if flow is not None and frame["state"] in flow.states:
                back = {**frame["vars"], **self.memory}
                if stack:
                    back["_stack"] = stack
                self.ui("back_to")
                self.prompt(flow, flow.states[frame["state"]], back, again=True)
                return ConvoState(flow=flow.id, state=frame["state"], vars=back, expires_at=self.now + flow.timeout)
        then = vars.get("_then")
        if then in self.content.flows:
            self.ui("then_start", {"flow": flow_name(self, then)})
            return self.start(then, vars={k: v for k, v in vars.items() if k in CARRIED and k != "_then"})
        return None

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
        self.say(route.noticed, {"evidence": quoted(signal.evidence)}, style="noticed", evidence=[signal])
        if offer:
            self.say(route.offer, choices=self.offer_choices(signal.kind))
            if route.flow:  # a plain "yes" / 「うん」 in idle answers it (OFFER_TTL)
                self.memory["_offer"] = {"kind": signal.kind, "at": self.now.isoformat()}

    def offer_choices(self, kind: str) -> list[Choice]:
        route = self.content.signal_routes[kind]
        return [Choice(self.label(route.accept), f"go:{route.flow}"), Choice(self.label(route.decline), f"offer:{kind}:no")]


def _trend(vars: dict[str, Any], last: dict[str, int | None] | None) -> str | None:
    """"down" or "up" when the scores moved by two or more in total since the previous check-in."""
    if not last:
        return None
    diffs = [vars[k] - last[k] for k in ("energy", "boundaries", "client_respect")
             if isinstance(vars.get(k), int) and isinstance(last.get(k), int)]
    if not diffs:
        return None
    total = sum(diffs)
    return "down" if total <= -2 else "up" if total >= 2 else None


def flow_name(run: _Run, flow_id: str) -> str:
    mid = f"menu.{flow_id}"
    return run.label(mid) if mid in run.content.messages else flow_id


def _note_signals(vars: dict[str, Any], signals: Sequence[Signal]) -> None:
    seen = list(vars.get("_signals") or [])
    evidence = dict(vars.get("_evidence") or {})
    for s in sorted(signals, key=lambda s: -s.score):  # the clearest pattern of a message first
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


def _group(name: str) -> str:
    """The interruption group a command or intent belongs to."""
    intent = registry().intents.get(name)
    return intent.group if intent is not None else INTENT_GROUP.get(name, name)


def _allowed(run: _Run, convo: ConvoState | None, group: str) -> bool:
    """Whether the state the user is in lets ``group`` interrupt it (declared in the flow data)."""
    if convo is None:
        return True
    flow = run.content.flows[convo.flow]
    st = flow.states[convo.state]
    return group in (st.interrupts if st.interrupts is not None else flow.interrupts)


def step(*, content: Content, convo: ConvoState | None, inbound: Inbound, signals: Sequence[Signal],
         user: UserView, now: datetime, interpreters: Sequence[Interpreter | Callable] = ()) -> StepResult:
    """Advance one user's conversation by one inbound message. Pure: no I/O, clock passed in."""
    from bot.crisis.care import care_step  # crisis care comes first, whatever flow was running

    cared = care_step(content=content, convo=convo, inbound=inbound, signals=signals, user=user, now=now)
    if cared is not None:
        return cared
    run = _Run(content, user.language, now, signals, consent_store_text=user.consent_store_text, user=user)
    if convo is not None and convo.flow == IDLE:
        run.memory = _fresh_memory(convo.vars, now)
        convo = None
    convo = _live(run, convo, inbound)
    if convo is not None:
        run.memory = {k: convo.vars[k] for k in MEMORY_KEYS if k in convo.vars}
    new = _dispatch(run, convo, inbound, user, interpreters)
    # After an export or an erasure in this step, nothing new is held (the export shows all there is).
    if new is not None or inbound.kind == "unfollow" or any(e.name in ("delete_data", "export_data") for e in run.effects):
        return StepResult(convo=new, replies=run.replies, effects=run.effects, language=run.lang)
    memory = _fresh_memory(run.memory, now)
    return StepResult(convo=None, replies=run.replies, effects=run.effects, language=run.lang,
                      memory=memory or None, at=now)


def _fresh_memory(vars: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The recent part of a memory: answers younger than MEMORY_TTL, notices younger than NOTICE_QUIET."""
    def young(at: Any, ttl: timedelta) -> bool:
        try:
            return now - datetime.fromisoformat(at) < ttl
        except (TypeError, ValueError):
            return False
    out: dict[str, Any] = {}
    answers = {k: v for k, v in (vars.get("_memory") or {}).items() if isinstance(v, dict) and young(v.get("at"), MEMORY_TTL)}
    if answers:
        out["_memory"] = answers
    noticed = {k: v for k, v in (vars.get("_noticed_at") or {}).items() if young(v, NOTICE_QUIET)}
    if noticed:
        out["_noticed_at"] = noticed
    offer = vars.get("_offer")
    if isinstance(offer, dict) and young(offer.get("at"), OFFER_TTL):
        out["_offer"] = offer
    return out


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
    if user.is_new and (convo is None or convo.flow != "onboarding"):
        return _first_message(run, text, interpreters)
    if convo is None:
        return _idle_text(run, text, interpreters)
    return _flow_message(run, convo, text, interpreters)


# ------------------------------------------------------------------------------ free text

_NOT_HANDLED = object()


def _first_message(run: _Run, text: str, interpreters: Sequence[Interpreter]) -> ConvoState | None:
    """A new user's first words: whatever they are, acknowledge a request or a pattern, and ask the
    onboarding questions first (nothing they write is kept before they answer the consent question)."""
    named = U.named_language(run.u, text, run.lang)
    if named is not None and strongest(run.signals) is None:
        # "日本語" / "English" as a first message already answers the language question: greet, take it,
        # and go on to the next question instead of asking it.
        return _onboard_in(run, named)
    asked = match_command(run.content, text) is not None or U.read_intent(run.u, text, run.lang) not in (
        None, "greeting", "thanks") or any(_interpretation(run, i, text) for i in interpreters)
    if asked or strongest(run.signals) is not None:
        run.ui("first_ack")
    return run.start("onboarding")


def _onboard_in(run: _Run, lang: str) -> ConvoState | None:
    flow = run.content.flows["onboarding"]
    if lang != run.lang:
        run.lang = lang
        run.effect("set_language", language=lang)
    state = flow.states[flow.start]
    for _ in range(MAX_AUTO_STEPS):  # the greeting states before the first question
        if state.waits or state.next is None:
            break
        for message_id in state.say:
            run.say(message_id)
        state = flow.states[state.next]
    if "language" not in state.understands:
        return run.start("onboarding")
    return run.enter(flow, state.understands["language"], {})


def _idle_text(run: _Run, text: str, interpreters: Sequence[Interpreter]) -> ConvoState | None:
    matched = match_command(run.content, text)
    if matched and matched[0] == "command":
        return _command(run, None, matched[1])
    offer = run.memory.pop("_offer", None)  # answered now, or let go by whatever they wrote instead
    if isinstance(offer, dict) and not matched:
        answer = U.read_answer(run.u, text, run.lang)
        route = run.content.signal_routes.get(str(offer.get("kind")))
        if route is not None and route.flow and answer in ("yes", "no"):
            if answer == "yes":
                return run.start(route.flow)
            run.ui("offer_declined")
            return None
        if route is not None and route.flow and answer in ("maybe", "dont_know"):
            # 「うーん」 / "not sure": no pressure, and the offer stays open with its buttons.
            run.memory["_offer"] = offer
            run.ui("offer_wait", choices=run.offer_choices(str(offer.get("kind"))))
            return None
    got = _carry_out_intent(run, None, text, interpreters)
    if got is not _NOT_HANDLED:
        return got
    if matched:
        return run.start(matched[1])
    intent = U.read_intent(run.u, text, run.lang)
    if intent == "thanks":
        run.ui("thanks")
        return None
    if intent == "greeting":
        run.ui("greeting")
        _suggest(run)
        return None
    top = strongest(run.signals)
    noticed = dict(run.memory.get("_noticed_at") or {})
    if top is not None and top.kind not in noticed:
        run.notice(top, offer=True)
        noticed[top.kind] = run.now.isoformat()
        run.memory["_noticed_at"] = noticed
        return None
    if U.is_question(run.u, text, run.lang):
        run.ui("cannot_answer")
        _suggest(run)
        return None
    last = (run.memory.get("_noticed_at") or {}).get("_idle")
    noticed = dict(run.memory.get("_noticed_at") or {})
    noticed["_idle"] = run.now.isoformat()
    run.memory["_noticed_at"] = noticed
    if last is not None:  # they are writing on: listen, without the same suggestions again
        run.ui("idle_again")
        return None
    feel = U.tone(run.u, text, run.lang)
    if feel == "hard":
        run.ui("idle_hard")
    elif feel == "good":
        run.ui("idle_good")
    else:
        run.ui("idle")
    _suggest(run)
    return None


def _suggest(run: _Run) -> None:
    """An open question with a few things to do, as buttons (not the whole menu)."""
    choices = [Choice(flow_name(run, f), f"go:{f}") for f in SUGGESTED_FLOWS if f in run.content.flows]
    choices.append(Choice(run.label(run.content.ui["suggest_more"]), "cmd:menu"))
    run.ui("idle_open", choices=choices)


def _flow_message(run: _Run, convo: ConvoState, text: str, interpreters: Sequence[Interpreter]) -> ConvoState | None:
    flow = run.content.flows[convo.flow]
    st = flow.states[convo.state]
    vars = dict(convo.vars)
    pending = vars.pop("_switch", None)
    convo = replace(convo, vars=vars)
    if pending:  # they were asked whether to switch to another flow now or finish this one first
        answer = U.read_answer(run.u, text, run.lang)
        if answer == "yes":
            return run.start(pending)
        if answer in ("no", "maybe"):
            vars["_then"] = pending
            return _reprompt(run, convo)
    ch = _match_choice(run, st, text)
    if ch is not None:  # a typed button label wins over a command that happens to read the same
        return _take_choice(run, flow, st, ch, vars)
    matched = match_command(run.content, text)
    if matched and matched[0] == "command":
        if not _allowed(run, convo, _group(matched[1])):
            run.ui("finish_first")
            return _reprompt(run, convo)
        return _command(run, convo, matched[1])
    got = _carry_out_intent(run, convo, text, interpreters)
    if got is not _NOT_HANDLED:
        return got
    if flow.hub:
        return _idle_text(run, text, interpreters)
    if matched and matched[1] != convo.flow and _allowed(run, convo, "switch"):
        vars["_switch"] = matched[1]
        run.ui("switch_ask", {"flow": flow_name(run, matched[1])},
               choices=[Choice(run.label(run.content.ui["switch_yes"]), f"go:{matched[1]}"),
                        Choice(run.label(run.content.ui["switch_no"]), "cmd:continue")])
        return replace(convo, vars=vars)
    return _answer(run, convo, flow, st, text)


def _interpretation(run: _Run, interpret: Interpreter, text: str) -> Interpretation | None:
    return interpret(text, lang=run.lang, now=run.now)


def _carry_out_intent(run: _Run, convo: ConvoState | None, text: str, interpreters: Sequence[Interpreter]):
    """What a domain's interpreters read (a reminder schedule) or an intent said in plain words,
    wherever the state allows it; the interrupted question comes back afterwards. _NOT_HANDLED when
    the message is neither."""
    st = run.content.flows[convo.flow].states[convo.state] if convo is not None else None
    for reading in run.domains.free_text:
        asked = st is not None and reading.understands in st.understands
        if not (_allowed(run, convo, reading.group) or asked):
            continue
        tries = [text]
        if asked:  # at a question about it a bare answer is enough ("9pm", 「夜9時」)
            tries += [retry.format(text=text) for retry in reading.retries]
        for attempt in tries:
            for interpret in interpreters:
                got = _interpretation(run, interpret, attempt)
                if got is not None:
                    run.effects.extend(got.effects)
                    run.say(got.message_id, got.values)
                    return _resume(run, convo, reading.understands)
    free_text = st is not None and st.text is not None and st.text.parse == "text"
    intent = U.read_intent(run.u, text, run.lang, free_text=free_text)
    if intent is None or intent in ("thanks", "greeting"):
        return _NOT_HANDLED
    if not _allowed(run, convo, _group(intent)):
        if st is not None and intent in st.understands:
            pass
        else:
            run.ui("finish_first")
            return _reprompt(run, convo)
    return _intent(run, convo, intent, text)


def _intent(run: _Run, convo: ConvoState | None, intent: str, text: str) -> ConvoState | None:
    handler = run.domains.intents.get(intent)
    if handler is not None:
        return handler.handle(run, convo, text)
    return _command(run, convo, intent)


def _date_text(run: _Run, when: datetime) -> str:
    local = when.astimezone(U._zone(run.user.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    return run.content.text(run.content.ui["date"], run.lang,
                            {"month": local.month, "day": local.day, "weekday": run.label(f"slack.day.{day}")})


def _resume(run: _Run, convo: ConvoState | None, what: str) -> ConvoState | None:
    """After carrying something out mid-flow: where the state says that leads, else its question again."""
    if convo is None:
        return None
    flow = run.content.flows[convo.flow]
    st = flow.states[convo.state]
    if what in st.understands:
        return run.enter(flow, st.understands[what], dict(convo.vars))
    return _reprompt(run, convo)


def _answer(run: _Run, convo: ConvoState, flow: FlowSpec, st: StateSpec, text: str) -> ConvoState | None:
    """The message as an answer to the state's question, read by meaning."""
    vars = dict(convo.vars)
    answer = U.read_answer(run.u, text, run.lang)
    if "language" in st.understands:
        lang = U.read_language(run.u, text, run.lang)
        if lang is not None:
            run.lang = lang
            run.effect("set_language", language=lang)
            return run.enter(flow, st.understands["language"], vars)
    if st.text is not None and st.text.parse == "score" and answer != "already_said":
        reading = U.read_score(run.u, text, run.lang)
        if reading is not None:
            if reading.out_of_range:
                run.ui("score_clamped", {"score": reading.value})
            return _flow_text(run, replace(convo, vars=vars), text, value=reading.value)
        if answer in ("skip", "dont_know"):
            run.ui("skip_ok")
            return run.enter(flow, st.text.next, vars)
        return _unreadable(run, convo, flow, st, vars, text,
                           message=st.text.invalid or run.content.ui["score_invalid"])
    if answer == "already_said":
        recalled = run.recalled(vars, flow, st)
        if recalled is not None and "choice" in recalled:
            ch = next((c for c in st.choices if c.id == recalled["choice"]), None)
            if ch is not None:
                run.ui("already_said_used")
                return _take_choice(run, flow, st, ch, vars)
        if recalled is not None and "value" in recalled and st.text is not None:
            run.ui("already_said_used")
            return _flow_text(run, replace(convo, vars=vars), str(recalled["value"]), value=recalled["value"])
        got = _earlier_answer(convo, st)
        if got is not None:
            run.ui("already_said_used")
            return _flow_text(run, replace(convo, vars=vars), got, value=got)
        run.ui("already_said_none")
        return _reprompt(run, convo)
    if answer in st.understands:
        return run.enter(flow, st.understands[answer], vars)
    if answer is None and U.asks_the_bot(run.u, text, run.lang):
        # Asked for our answer to our own reflective question: say why we hand it back, then ask again.
        run.ui("ask_back")
        return _reprompt(run, convo)
    if st.choices:
        folded = U.fold(text)
        short = len(folded) <= 60 if st.text is None else (
            len(folded.split()) <= 6 if U._is_ascii(folded) else len(folded) <= 20)
        ch, tied = _choice_by_meaning(run, st, text, answer, paraphrase=short)
        if ch is not None:
            label = run.label(ch.label)
            if len(st.choices) > 2 and U.fold(label) != folded and not (answer and answer in ch.means):
                # Read from their own words among several options: say which one we took.
                run.ui("understood_choice", {"option": label})
            return _take_choice(run, flow, st, ch, vars)
        if tied:
            return _clarify(run, convo, flow, st, vars, only=tied)
    if st.text is not None:
        return _flow_text(run, replace(convo, vars=vars), text)
    return _unreadable(run, convo, flow, st, vars, text)


def _unreadable(run: _Run, convo: ConvoState, flow: FlowSpec, st: StateSpec, vars: dict[str, Any], text: str, *,
                message: str | None = None) -> ConvoState | None:
    """Not an answer: small talk gets a short reply, a pattern is answered, a question is owned
    honestly; otherwise ask again, naming the options."""
    intent = U.read_intent(run.u, text, run.lang)
    if intent in ("thanks", "greeting"):
        run.ui("thanks" if intent == "thanks" else "greeting")
        return _reprompt(run, convo)
    top = strongest(run.signals)
    # A short answer to our own question ("yes keep them") answers it, even when it names no option:
    # it is not a pattern to point out, whatever a detector makes of it.
    answered = U.read_answer(run.u, text, run.lang) is not None
    if top is not None and not answered and top.kind not in (vars.get("_noticed") or []):
        # What they wrote matters more than the buttons we showed: answer it, as from idle.
        run.notice(top, offer=run.content.signal_routes[top.kind].flow != flow.id)
        return None
    if U.is_question(run.u, text, run.lang):
        run.ui("cannot_answer")
        return _reprompt(run, convo)
    return _clarify(run, convo, flow, st, vars, message=message)


def _earlier_answer(convo: ConvoState, st: StateSpec) -> Any:
    """What they answered to the same question in an interrupted flow (on the stack)."""
    key = st.text.save if st.text else None
    if not key:
        return None
    for frame in reversed(convo.vars.get("_stack") or []):
        if key in frame.get("vars", {}):
            return frame["vars"][key]
    return None


def _choice_by_meaning(run: _Run, st: StateSpec, text: str, answer: str | None, *, paraphrase: bool):
    """(choice, []) when the message picks one option; (None, tied options) when it could be several."""
    choices = list(st.choices)
    i = U.read_ordinal(run.u, text, run.lang, len(choices))
    if i is not None:
        return choices[i], []
    if answer is not None:
        hits = [c for c in choices if answer in c.means]
        if len(hits) == 1:
            return hits[0], []
        if len(hits) > 1:
            return None, hits
    if not paraphrase:
        return None, []
    scored = []
    for c in choices:
        best = max(U.similarity(text, run.content.text(c.label, lang)) for lang in run.content.messages[c.label].text)
        if best > 0:
            scored.append((best, c))
    if not scored:
        return None, []
    scored.sort(key=lambda sc: -sc[0])
    if len(scored) == 1 or scored[0][0] > scored[1][0]:
        return scored[0][1], []
    return None, [c for score, c in scored if score == scored[0][0]]


def _clarify(run: _Run, convo: ConvoState, flow: FlowSpec, st: StateSpec, vars: dict[str, Any], *,
             only: Sequence[Any] | None = None, message: str | None = None) -> ConvoState | None:
    """Say what we could not read and name the options; after two misses take the state's fallback."""
    misses = dict(vars.get("_misses") or {})
    misses[st.name] = misses.get(st.name, 0) + 1
    vars["_misses"] = misses
    if misses[st.name] >= 2 and st.fallback is not None:
        ch = next(c for c in st.choices if c.id == st.fallback)
        run.ui("fallback_taken", {"option": run.label(ch.label)})
        return _take_choice(run, flow, st, ch, vars)
    if misses[st.name] >= 2 and message is None:
        run.ui("clarify_again", {"options": run.options_text(flow, st, only, numbered=True)},
               choices=run.state_choices(flow, st))
    elif message is not None:
        run.say(message, choices=run.state_choices(flow, st))
    elif st.clarify is not None:
        run.say(st.clarify, vars, choices=run.state_choices(flow, st))
    else:
        run.ui("clarify", {"options": run.options_text(flow, st, only)}, choices=run.state_choices(flow, st))
    return replace(convo, vars=vars)


def _reprompt(run: _Run, convo: ConvoState | None) -> ConvoState | None:
    if convo is not None:
        flow = run.content.flows[convo.flow]
        run.prompt(flow, flow.states[convo.state], convo.vars, again=True)
    return convo


def _command(run: _Run, convo: ConvoState | None, name: str) -> ConvoState | None:
    if name == "help":
        run.ui("help")
        return _resume(run, convo, name)
    if name == "menu":
        return run.start_over(convo, "menu")
    if name == "cancel":
        if convo is None:
            run.ui("nothing_to_cancel")
            return None
        run.ui("cancelled")
        return run.after_flow({k: v for k, v in convo.vars.items() if k in ("_stack", "_memory", "_noticed_at")})
    if name == "continue":
        if convo is not None and convo.vars.get("_switch"):
            vars = dict(convo.vars)
            vars["_then"] = vars.pop("_switch")
            convo = replace(convo, vars=vars)
        return _reprompt(run, convo)
    handler = run.domains.intents.get(name)
    if handler is not None and handler.command:
        return handler.handle(run, convo, None)
    if name in ("language_ja", "language_en"):
        run.lang = name.rsplit("_", 1)[1]
        run.effect("set_language", language=run.lang)
        run.ui("language_set")
        return _resume(run, convo, "language")
    if name == "delete_data":
        return run.start_over(convo, "privacy", "confirm_delete")
    if name == "export_data":
        run.effect("export_data")
        run.ui("export_intro")
        return _resume(run, convo, name)
    if name in run.content.flows:  # adapters may name a flow directly (/coach checkin)
        return run.start(name)
    if convo is None:
        _suggest(run)
        return None
    flow = run.content.flows[convo.flow]
    return _clarify(run, convo, flow, flow.states[convo.state], dict(convo.vars))


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
    if kind in run.domains.choices:
        got = run.domains.choices[kind](run, convo, parts)
        if got is not NotImplemented:
            return got
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
        _suggest(run)
        return None
    return _reprompt(run, convo)


def _take_choice(run: _Run, flow: FlowSpec, st: StateSpec, ch, vars: dict[str, Any]) -> ConvoState | None:
    vars.pop("_misses", None)
    if flow.remember:
        run.remember(vars, flow, st, {"choice": ch.id})
    vars.update(ch.set)
    run.run_actions(ch.actions, vars)
    return run.enter(flow, ch.next, vars)


def _flow_text(run: _Run, convo: ConvoState, text: str, *, value: Any = None) -> ConvoState | None:
    """The state's text rule: save the answer (``value`` when already read) and move on."""
    flow = run.content.flows[convo.flow]
    st = flow.states[convo.state]
    vars = dict(convo.vars)
    vars.pop("_misses", None)
    _note_signals(vars, [s for s in run.signals if s.kind != "crisis"])
    for s in run.signals:
        target = st.on_signal.get(s.kind)
        if target is not None:
            vars["evidence"] = s.evidence
            return run.enter(flow, target, vars)
    if value is None:
        value = text.strip()
    if st.text.save:
        vars[st.text.save] = value
    if isinstance(value, int) and not isinstance(value, bool) and flow.remember:
        run.remember(vars, flow, st, {"value": value})
    if st.offers:
        top = strongest(run.signals)
        noticed = list(vars.get("_noticed") or [])
        if top is not None and run.content.signal_routes[top.kind].flow != flow.id and top.kind not in noticed:
            # Acknowledge now; the offer comes when this flow ends (one set of buttons at a time).
            run.notice(top, offer=False)
            vars["_noticed"] = noticed + [top.kind]
    run.run_actions(st.text.actions, vars)
    return run.enter(flow, st.text.next, vars)
