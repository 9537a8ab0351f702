"""Content as data: flows, messages, nudges, commands, signal routing and reminder presets.

Everything under ``CONTENT_DIR`` is loaded and validated once at start-up. ``load_content`` raises
``ContentInvalid`` listing every problem with its file, key and what is wrong, so an operator
editing their own copy sees all mistakes at once. The format is documented in
``content/README.md``.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.crisis import CrisisContent, check_content as check_crisis_content, load_crisis
from bot.errors import ContentError, ContentInvalid
from bot.types import LANGUAGES, SIGNAL_KINDS

THEMES: dict[str, str] = {
    "results_emerge": "000_f39c0e8aba4ab1c7.txt",
    "choose_clients": "001_da85a8f41c060dce.txt",
    "right_people": "002_7707d65226a3bda9.txt",
    "lost_passion": "003_11a07688304f7d76.txt",
    "no_control": "004_06449b417b716eba.txt",
}
GENERAL_THEME = "general"
END = "end"
DEFAULT_FLOW_TIMEOUT = timedelta(hours=24)

# Actions a state or choice may ask for; the engine turns them into effects for the service.
ACTIONS: dict[str, str] = {
    "save_checkin": "none",
    "set_language": "language",
    "set_consent": "bool",
    "reminder_preset": "preset",
    "reminders_off": "none",
    "reminders_on": "none",
    "reminders_pause": "duration",
    "schedule_followup": "followup",
    "export_data": "none",
    "delete_data": "none",
    "resume": "none",
    "clear_vars": "none",
    "acknowledge": "none",
    "short_topic": "topic",
}
# What may interrupt a state (a flow's default, a state's override); see content/README.md.
INTERRUPTS = ("help", "menu", "cancel", "reminders", "language", "privacy", "switch", "chat")
# What a state understands beyond its buttons and its text rule, each with where it leads.
UNDERSTANDS = ("language", "reminder_time", "skip", "dont_know", "already_said", "help", "stop_reminders",
               "pause_reminders", "resume", "reminder_frequency", "export_data")
TEXT_PARSERS = ("text", "score")
COMMAND_NAMES = (
    "help", "menu", "cancel", "stop_reminders", "resume", "language_ja", "language_en",
    "delete_data", "export_data",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def parse_duration(raw: Any) -> timedelta | None:
    """'24h', '3d', '30m', '1w' → timedelta; None when malformed."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return timedelta(hours=raw)
    if not isinstance(raw, str):
        return None
    m = _DURATION.match(raw)
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n),
            "w": timedelta(weeks=n)}[unit]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    arg: Any = None


@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    id: str
    label: str  # message id
    next: str | None
    set: dict[str, Any]
    actions: tuple[Action, ...]
    means: tuple[str, ...] = ()  # answer kinds this choice stands for (yes, no, skip, dont_know, ...)


@dataclass(frozen=True, slots=True)
class TextSpec:
    next: str | None
    save: str | None
    parse: str
    actions: tuple[Action, ...]
    invalid: str | None  # message id said when parse fails


@dataclass(frozen=True, slots=True)
class StateSpec:
    name: str
    say: tuple[str, ...]
    say_by_signal: dict[str, str]
    choices: tuple[ChoiceSpec, ...]
    text: TextSpec | None
    on_signal: dict[str, str]
    actions: tuple[Action, ...]
    next: str | None
    offers: bool
    interrupts: tuple[str, ...] | None = None  # None: the flow's default
    understands: dict[str, str | None] = field(default_factory=dict)
    lean_on_scores: dict[str, str] = field(default_factory=dict)  # low score of a value → a signal kind for say_by_signal
    say_by_mood: dict[str, str] = field(default_factory=dict)  # hard | mixed | good → message id
    clarify: str | None = None  # message id when an answer could not be read (default: name the options)
    fallback: str | None = None  # choice id taken after two answers that could not be read

    @property
    def waits(self) -> bool:
        """Whether the state waits for the user (otherwise it says its piece and moves on)."""
        return bool(self.choices or self.text) or self.next is None


@dataclass(frozen=True, slots=True)
class FlowSpec:
    id: str
    start: str
    states: dict[str, StateSpec]
    timeout: timedelta
    entry: dict[str, tuple[str, ...]]
    theme: str
    seed: str | None
    on_timeout: str | None  # message id said when the user returns after the flow expired
    file: str
    interrupts: tuple[str, ...] = INTERRUPTS
    hub: bool = False  # a menu: left (not stacked) when something else starts, and free text is read as from idle
    remember: bool = True  # recent answers are recalled when a question comes again (off for settings and menus)

    @property
    def compares_checkins(self) -> bool:
        """Whether the flow acknowledges a check-in (and so may compare it with the previous one)."""
        return any(a.name == "acknowledge" for st in self.states.values() for a in st.actions)


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    text: dict[str, str]
    theme: str
    seed: str | None


@dataclass(frozen=True, slots=True)
class Nudge:
    id: str
    theme: str
    seed: str
    text: dict[str, str]
    flow: str
    signals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignalRoute:
    """How the bot responds to a signal: what it says it noticed, and what it offers."""

    kind: str
    noticed: str  # message id, may use {evidence}; for crisis, the safety reply
    offer: str | None  # message id of the question offering the flow; None for crisis
    flow: str | None  # the flow offered; None for crisis
    accept: str | None  # label message id of the offer button
    decline: str | None


@dataclass(frozen=True, slots=True)
class ReminderPreset:
    id: str
    label: str  # message id
    days: tuple[str, ...]
    time: str


@dataclass(slots=True)
class Content:
    """Everything under CONTENT_DIR, validated."""

    root: Path
    flows: dict[str, FlowSpec]
    messages: dict[str, Message]
    nudges: dict[str, Nudge]
    commands: dict[str, dict[str, tuple[str, ...]]]
    signal_routes: dict[str, SignalRoute]
    presets: dict[str, ReminderPreset]
    ui: dict[str, str] = field(default_factory=dict)  # role → message id (fallback, help, ...)
    crisis: CrisisContent | None = None  # crisis/*.yaml: support lines and how care reads messages
    understanding: Any = None  # bot.understand.Understanding
    _phrases: dict[str, tuple[str, str]] | None = None

    def phrase_index(self) -> dict[str, tuple[str, str]]:
        """Folded phrase → ('command', name) or ('flow', flow id); built once (commands win)."""
        if self._phrases is None:
            from bot.text import normalize_command

            index: dict[str, tuple[str, str]] = {}
            for flow in self.flows.values():
                for phrases in flow.entry.values():
                    for p in phrases:
                        index[normalize_command(p)] = ("flow", flow.id)
            for name, per_lang in self.commands.items():
                for phrases in per_lang.values():
                    for p in phrases:
                        index[normalize_command(p)] = ("command", name)
            self._phrases = index
        return self._phrases

    def text(self, message_id: str, lang: str, values: dict[str, Any] | None = None) -> str:
        """The message in ``lang`` with ``{placeholders}`` filled (unknown ones left as they are)."""
        raw = self.messages[message_id].text[lang]
        if not values:
            return raw
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), raw)

    def placeholders(self, message_id: str) -> set[str]:
        """The ``{names}`` a message needs (the same in every language; the validator checks that)."""
        return set(_PLACEHOLDER.findall(next(iter(self.messages[message_id].text.values()))))

    def nudges_for_theme(self, theme: str) -> list[Nudge]:
        return [n for n in self.nudges.values() if n.theme == theme]


# ---------------------------------------------------------------------------- loading


class _Collector:
    def __init__(self, root: Path):
        self.root = root
        self.errors: list[ContentError] = []

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def add(self, path: Path | str, key: str, problem: str) -> None:
        self.errors.append(ContentError(self.rel(path) if isinstance(path, Path) else path, key, problem))

    def read_yaml(self, path: Path) -> Any:
        try:
            with path.open(encoding="utf-8") as f:
                return yaml.safe_load(f)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "(file)"
            self.add(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        except UnicodeDecodeError:
            self.add(path, "(file)", "not UTF-8 text")
        except OSError as exc:
            self.add(path, "(file)", f"cannot be read: {exc.strerror}")
        return None

    def read_required(self, path: Path) -> Any:
        """Like ``read_yaml`` for a file that must exist: a missing one is reported, not skipped."""
        if not path.is_file():
            self.add(path, "(file)", "missing")
            return None
        return self.read_yaml(path)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parse_actions(c: _Collector, path: Path, key: str, raw: Any) -> tuple[Action, ...]:
    actions = []
    for i, item in enumerate(_as_list(raw)):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            name, arg = item, None
        elif isinstance(item, dict) and len(item) == 1:
            name, arg = next(iter(item.items()))
        else:
            c.add(path, where, "an action is a name or a one-key mapping {name: argument}")
            continue
        kind = ACTIONS.get(name)
        if kind is None:
            c.add(path, where, f"unknown action {name!r} (known: {', '.join(sorted(ACTIONS))})")
            continue
        if kind == "none" and arg is not None:
            c.add(path, where, f"action {name!r} takes no argument")
        elif kind == "language" and arg not in LANGUAGES:
            c.add(path, where, f"set_language needs one of {LANGUAGES}, not {arg!r}")
        elif kind == "bool" and not isinstance(arg, bool):
            c.add(path, where, f"{name} needs true or false, not {arg!r}")
        elif kind == "duration" and parse_duration(arg) is None:
            c.add(path, where, f"{name} needs a duration like 7d, not {arg!r}")
        elif kind == "preset" and not isinstance(arg, str):
            c.add(path, where, "reminder_preset needs a preset id")
        elif kind == "topic":
            if not isinstance(arg, dict) or not all(isinstance(arg.get(k), str) for k in ("from", "save", "generic")):
                c.add(path, where, "short_topic needs {from: <value>, save: <value>, generic: <message id>}")
        elif kind == "followup":
            if not isinstance(arg, dict) or parse_duration(arg.get("after")) is None or \
                    not isinstance(arg.get("message"), str):
                c.add(path, where, "schedule_followup needs {after: <duration like 3d>, message: <id>, "
                                   "flow: <flow id, optional>}")
        actions.append(Action(name, arg))
    return tuple(actions)


def _str_map(c: _Collector, path: Path, key: str, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        c.add(path, key, "must be a mapping of names to strings")
        return {}
    return {str(k): v for k, v in raw.items()}


def _load_flow(c: _Collector, path: Path, raw: Any) -> FlowSpec | None:
    if not isinstance(raw, dict):
        c.add(path, "(file)", "a flow file must be a mapping with id, start and states")
        return None
    fid = raw.get("id")
    if not isinstance(fid, str) or not _ID.match(fid):
        c.add(path, "id", f"flow id must be lower_snake_case text, not {fid!r}")
        return None
    if path.stem != fid:
        c.add(path, "id", f"flow id {fid!r} must match the file name {path.stem!r}")
    theme = raw.get("theme", GENERAL_THEME)
    seed = raw.get("seed")
    _check_theme(c, path, "theme", theme, seed)
    timeout = parse_duration(raw.get("timeout", "24h"))
    if timeout is None or timeout <= timedelta(0):
        c.add(path, "timeout", f"not a duration like 24h or 3d: {raw.get('timeout')!r}")
        timeout = DEFAULT_FLOW_TIMEOUT
    entry_raw = raw.get("entry") or {}
    entry: dict[str, tuple[str, ...]] = {}
    if not isinstance(entry_raw, dict):
        c.add(path, "entry", "entry must map a language to a list of phrases that start the flow")
    else:
        for lang, phrases in entry_raw.items():
            if lang not in LANGUAGES:
                c.add(path, f"entry.{lang}", f"unknown language (known: {', '.join(LANGUAGES)})")
                continue
            if not all(isinstance(p, str) and p.strip() for p in _as_list(phrases)):
                c.add(path, f"entry.{lang}", "phrases must be non-empty strings")
                continue
            entry[lang] = tuple(_as_list(phrases))
    states_raw = raw.get("states")
    if not isinstance(states_raw, dict) or not states_raw:
        c.add(path, "states", "a flow needs a mapping of states")
        return None
    states: dict[str, StateSpec] = {}
    for name, spec in states_raw.items():
        key = f"states.{name}"
        if name == END:
            c.add(path, key, f"{END!r} is reserved for the end of a flow and cannot be declared")
            continue
        if not isinstance(name, str) or not _ID.match(name):
            c.add(path, key, "state names are lower_snake_case")
            continue
        if not isinstance(spec, dict):
            c.add(path, key, "a state must be a mapping")
            continue
        unknown = set(spec) - {"say", "say_by_signal", "choices", "text", "on_signal", "actions", "next",
                               "offers", "interrupts", "understands", "lean_on_scores", "say_by_mood", "clarify",
                               "fallback"}
        for u in sorted(unknown):
            c.add(path, f"{key}.{u}", "unknown key")
        choices = []
        seen_ids = set()
        for i, ch in enumerate(_as_list(spec.get("choices"))):
            ck = f"{key}.choices[{i}]"
            if isinstance(ch, dict) and isinstance(ch.get("id"), (bool, int, float)):
                c.add(path, ck, f"choice id {ch['id']!r} is not text: quote it (YAML reads yes/no/on/off "
                                "as true/false and bare digits as numbers)")
                continue
            if not isinstance(ch, dict) or not isinstance(ch.get("id"), str) or not isinstance(ch.get("label"), str):
                c.add(path, ck, "a choice needs an id and a label (message id)")
                continue
            if ch["id"] in seen_ids:
                c.add(path, ck, f"duplicate choice id {ch['id']!r}")
            seen_ids.add(ch["id"])
            if ":" in ch["id"]:
                c.add(path, ck, "choice ids cannot contain ':'")
            means = tuple(_as_list(ch.get("means")))
            from bot.understand import ANSWER_KINDS
            for m in means:
                if m not in ANSWER_KINDS:
                    c.add(path, f"{ck}.means", f"unknown answer kind {m!r} (known: {', '.join(ANSWER_KINDS)})")
            if not means and ch["id"] in ANSWER_KINDS:
                means = (ch["id"],)
            elif not means and ch["id"] in ("unsure", "not_sure"):
                means = ("dont_know", "maybe")
            choices.append(ChoiceSpec(
                id=ch["id"], label=ch["label"], next=ch.get("next"),
                set=ch.get("set") or {}, actions=_parse_actions(c, path, f"{ck}.actions", ch.get("actions")),
                means=means,
            ))
        text_spec = None
        if spec.get("text") is not None:
            t = spec["text"]
            if not isinstance(t, dict):
                c.add(path, f"{key}.text", "text must be a mapping with next, and optionally save/parse/actions")
            else:
                parse = t.get("parse", "text")
                if parse not in TEXT_PARSERS:
                    c.add(path, f"{key}.text.parse", f"unknown parser {parse!r} (known: {', '.join(TEXT_PARSERS)})")
                text_spec = TextSpec(next=t.get("next"), save=t.get("save"), parse=parse,
                                     actions=_parse_actions(c, path, f"{key}.text.actions", t.get("actions")),
                                     invalid=t.get("invalid"))
        on_signal = _str_map(c, path, f"{key}.on_signal", spec.get("on_signal"))
        for kind in on_signal:
            if kind not in SIGNAL_KINDS:
                c.add(path, f"{key}.on_signal.{kind}", f"unknown signal kind (known: {', '.join(SIGNAL_KINDS)})")
        say_by_signal = _str_map(c, path, f"{key}.say_by_signal", spec.get("say_by_signal"))
        for kind in say_by_signal:
            if kind not in SIGNAL_KINDS and kind != "default":
                c.add(path, f"{key}.say_by_signal.{kind}", "unknown signal kind (or use 'default')")
        if say_by_signal and "default" not in say_by_signal:
            c.add(path, f"{key}.say_by_signal", "needs a 'default' message for when nothing was noticed")
        say = _as_list(spec.get("say"))
        if not all(isinstance(s, str) for s in say):
            c.add(path, f"{key}.say", "say is a list of message ids")
            say = [s for s in say if isinstance(s, str)]
        interrupts = _interrupts(c, path, f"{key}.interrupts", spec["interrupts"]) if "interrupts" in spec else None
        understands: dict[str, str | None] = {}
        raw_u = spec.get("understands") or {}
        if not isinstance(raw_u, dict):
            c.add(path, f"{key}.understands", f"a mapping of {', '.join(UNDERSTANDS)} to a target (or null)")
            raw_u = {}
        for k, target in raw_u.items():
            if k not in UNDERSTANDS:
                c.add(path, f"{key}.understands.{k}", f"unknown (known: {', '.join(UNDERSTANDS)})")
                continue
            understands[k] = target
        lean = _str_map(c, path, f"{key}.lean_on_scores", spec.get("lean_on_scores"))
        for v in lean.values():
            if v not in SIGNAL_KINDS:
                c.add(path, f"{key}.lean_on_scores", f"unknown signal kind {v!r}")
        mood = _str_map(c, path, f"{key}.say_by_mood", spec.get("say_by_mood"))
        for k in mood:
            if k not in ("hard", "mixed", "good"):
                c.add(path, f"{key}.say_by_mood.{k}", "moods are hard, mixed and good")
        if mood and set(mood) != {"hard", "mixed", "good"}:
            c.add(path, f"{key}.say_by_mood", "needs hard, mixed and good")
        fallback = spec.get("fallback")
        if fallback is not None and fallback not in {ch.id for ch in choices}:
            c.add(path, f"{key}.fallback", f"{fallback!r} is not one of this state's choice ids")
        states[name] = StateSpec(
            name=name, say=tuple(say), say_by_signal=say_by_signal, choices=tuple(choices), text=text_spec,
            on_signal=on_signal, actions=_parse_actions(c, path, f"{key}.actions", spec.get("actions")),
            next=spec.get("next"), offers=bool(spec.get("offers", True)), interrupts=interrupts,
            understands=understands, lean_on_scores=lean, say_by_mood=mood, clarify=spec.get("clarify"),
            fallback=fallback,
        )
    start = raw.get("start")
    if start not in states:
        c.add(path, "start", f"start state {start!r} is not declared in states")
    on_timeout = raw.get("on_timeout")
    interrupts = _interrupts(c, path, "interrupts", raw["interrupts"]) if "interrupts" in raw else INTERRUPTS
    return FlowSpec(id=fid, start=start if isinstance(start, str) else "", states=states, timeout=timeout,
                    entry=entry, theme=theme if isinstance(theme, str) else GENERAL_THEME,
                    seed=seed, on_timeout=on_timeout, file=c.rel(path), interrupts=interrupts,
                    hub=bool(raw.get("hub", False)), remember=bool(raw.get("remember", not raw.get("hub", False))))


def _interrupts(c: _Collector, path: Path, key: str, raw: Any) -> tuple[str, ...]:
    """``all``, ``none`` or a list of INTERRUPTS."""
    if raw == "all":
        return INTERRUPTS
    if raw in ("none", None):
        return ()
    items = _as_list(raw)
    for i in items:
        if i not in INTERRUPTS:
            c.add(path, key, f"unknown interruption {i!r} (known: all, none, {', '.join(INTERRUPTS)})")
    return tuple(i for i in items if i in INTERRUPTS)


def _check_theme(c: _Collector, path: Path, key: str, theme: Any, seed: Any, *, allow_general: bool = True) -> None:
    if theme == GENERAL_THEME and allow_general:
        if seed is not None:
            c.add(path, f"{key}", "general content names no seed")
        return
    if theme not in THEMES:
        allowed = sorted(THEMES) + ([GENERAL_THEME] if allow_general else [])
        c.add(path, key, f"unknown theme {theme!r} (known: {', '.join(allowed)})")
        return
    if seed != THEMES[theme]:
        c.add(path, key.rsplit(".", 1)[0] + ".seed" if "." in key else "seed",
              f"theme {theme!r} comes from seed {THEMES[theme]!r}, not {seed!r}")


def _load_messages(c: _Collector, root: Path) -> dict[str, Message]:
    """messages/<lang>/*.yaml: each file maps message id → {text, theme, seed} or a plain string
    (plain strings take the file's top-level ``_theme``/``_seed``, default general)."""
    per_lang: dict[str, dict[str, tuple[str, str, str | None, Path]]] = {lang: {} for lang in LANGUAGES}
    mdir = root / "messages"
    if not mdir.is_dir():
        c.add(root / "messages", "(dir)", "missing: messages/<lang>/*.yaml hold the bot's words")
        return {}
    for lang in LANGUAGES:
        ldir = mdir / lang
        files = sorted(ldir.glob("*.yaml")) if ldir.is_dir() else []
        if not files:
            c.add(ldir, "(dir)", f"no message files for language {lang!r}")
        for path in files:
            raw = c.read_yaml(path)
            if raw is None:
                continue
            if not isinstance(raw, dict):
                c.add(path, "(file)", "a message file maps message ids to texts")
                continue
            file_theme = raw.get("_theme", GENERAL_THEME)
            file_seed = raw.get("_seed")
            for mid, entry in raw.items():
                if mid in ("_theme", "_seed"):
                    continue
                if isinstance(entry, str):
                    text, theme, seed = entry, file_theme, file_seed
                elif isinstance(entry, dict) and isinstance(entry.get("text"), str):
                    text = entry["text"]
                    theme = entry.get("theme", file_theme)
                    seed = entry.get("seed", file_seed if theme == file_theme else None)
                else:
                    c.add(path, str(mid), "a message is a string or a mapping with text (and theme, seed)")
                    continue
                if not text.strip():
                    c.add(path, str(mid), "empty text")
                _check_theme(c, path, f"{mid}.theme", theme, seed)
                if mid in per_lang[lang]:
                    other = per_lang[lang][mid][3]
                    c.add(path, str(mid), f"defined twice (also in {c.rel(other)})")
                per_lang[lang][mid] = (text, theme, seed, path)
    messages: dict[str, Message] = {}
    all_ids = set().union(*per_lang.values())
    for mid in sorted(all_ids):
        missing = [lang for lang in LANGUAGES if mid not in per_lang[lang]]
        if missing:
            present = next(lang for lang in LANGUAGES if mid in per_lang[lang])
            c.add(per_lang[present][mid][3], mid, f"missing in language(s): {', '.join(missing)}")
            continue
        themes = {per_lang[lang][mid][1] for lang in LANGUAGES}
        if len(themes) > 1:
            c.add(per_lang[LANGUAGES[0]][mid][3], mid, f"tagged with different themes per language: {sorted(themes)}")
        holes = {lang: set(_PLACEHOLDER.findall(per_lang[lang][mid][0])) for lang in LANGUAGES}
        if len({frozenset(h) for h in holes.values()}) > 1:
            c.add(per_lang[LANGUAGES[0]][mid][3], mid,
                  "placeholders differ between languages: " + "; ".join(f"{k}: {sorted(v)}" for k, v in holes.items()))
        first = per_lang[LANGUAGES[0]][mid]
        messages[mid] = Message(id=mid, text={lang: per_lang[lang][mid][0] for lang in LANGUAGES},
                                theme=first[1], seed=first[2])
    return messages


def _load_nudges(c: _Collector, root: Path) -> dict[str, Nudge]:
    nudges: dict[str, Nudge] = {}
    ndir = root / "nudges"
    files = sorted(ndir.glob("*.yaml")) if ndir.is_dir() else []
    if not files:
        c.add(ndir, "(dir)", "no nudge files (nudges/<theme>.yaml)")
    for path in files:
        raw = c.read_yaml(path)
        if raw is None:
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("nudges"), list):
            c.add(path, "(file)", "a nudge file has theme, seed and a list under nudges")
            continue
        theme, seed = raw.get("theme"), raw.get("seed")
        _check_theme(c, path, "theme", theme, seed, allow_general=False)
        for i, item in enumerate(raw["nudges"]):
            key = f"nudges[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                c.add(path, key, "a nudge needs an id")
                continue
            key = f"nudges.{item['id']}"
            texts = {}
            for lang in LANGUAGES:
                t = item.get(lang)
                if not isinstance(t, str) or not t.strip():
                    c.add(path, f"{key}.{lang}", "missing text in this language")
                else:
                    texts[lang] = t
            sigs = tuple(_as_list(item.get("signals")))
            for s in sigs:
                if s not in SIGNAL_KINDS:
                    c.add(path, f"{key}.signals", f"unknown signal kind {s!r}")
            flow = item.get("flow")
            if not isinstance(flow, str):
                c.add(path, f"{key}.flow", "name the flow that 'talk about it' opens")
                flow = ""
            if item["id"] in nudges:
                c.add(path, key, "duplicate nudge id")
            if len(texts) == len(LANGUAGES):
                nudges[item["id"]] = Nudge(id=item["id"], theme=theme, seed=seed, text=texts, flow=flow, signals=sigs)
    return nudges


def _load_commands(c: _Collector, root: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    path = root / "commands.yaml"
    raw = c.read_required(path)
    commands: dict[str, dict[str, tuple[str, ...]]] = {}
    if raw is None:
        return commands
    if not isinstance(raw, dict):
        c.add(path, "(file)", "commands.yaml maps a command name to phrases per language")
        return commands
    for name, per_lang in raw.items():
        if name not in COMMAND_NAMES:
            c.add(path, str(name), f"unknown command (known: {', '.join(COMMAND_NAMES)})")
            continue
        if not isinstance(per_lang, dict):
            c.add(path, str(name), "map each language to a list of phrases")
            continue
        commands[name] = {}
        for lang in LANGUAGES:
            phrases = _as_list(per_lang.get(lang))
            if not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
                c.add(path, f"{name}.{lang}", "needs a list of non-empty phrases")
                continue
            commands[name][lang] = tuple(phrases)
    for name in COMMAND_NAMES:
        if name not in raw:
            c.add(path, name, "command missing")
    return commands


def _load_signal_routes(c: _Collector, root: Path) -> dict[str, SignalRoute]:
    path = root / "signals.yaml"
    raw = c.read_required(path)
    routes: dict[str, SignalRoute] = {}
    if not isinstance(raw, dict):
        if raw is not None:
            c.add(path, "(file)", "signals.yaml maps a signal kind to its offer")
        return routes
    for kind, spec in raw.items():
        if kind not in SIGNAL_KINDS:
            c.add(path, str(kind), f"unknown signal kind (known: {', '.join(SIGNAL_KINDS)})")
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("noticed"), str):
            c.add(path, str(kind), "needs noticed (a message id), and offer/flow/accept/decline except for crisis")
            continue
        if kind != "crisis" and not all(isinstance(spec.get(k), str) for k in ("offer", "flow", "accept", "decline")):
            c.add(path, str(kind), "needs offer, flow, accept and decline")
            continue
        routes[kind] = SignalRoute(kind=kind, noticed=spec["noticed"], offer=spec.get("offer"), flow=spec.get("flow"),
                                   accept=spec.get("accept"), decline=spec.get("decline"))
    for kind in SIGNAL_KINDS:
        if kind not in raw:
            c.add(path, kind, "no route for this signal kind")
    return routes


def _load_presets(c: _Collector, root: Path) -> dict[str, ReminderPreset]:
    path = root / "reminders.yaml"
    raw = c.read_required(path)
    presets: dict[str, ReminderPreset] = {}
    if raw is None:
        return presets
    items = raw.get("presets") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        c.add(path, "presets", "a list of reminder presets (id, label, days, time)")
        return presets
    for i, p in enumerate(items):
        if not isinstance(p, dict) or not isinstance(p.get("id"), str):
            c.add(path, f"presets[{i}]", "a preset needs an id")
            continue
        key = f"presets.{p['id']}"
        days = _as_list(p.get("days"))
        if not days or any(d not in WEEKDAYS for d in days):
            c.add(path, f"{key}.days", f"days must be a non-empty list of {', '.join(WEEKDAYS)}")
        t = p.get("time")
        if not isinstance(t, str) or not _TIME.match(t):
            c.add(path, f"{key}.time", f"time must be HH:MM (24-hour), not {t!r}")
        if not isinstance(p.get("label"), str):
            c.add(path, f"{key}.label", "needs a label (message id)")
        presets[p["id"]] = ReminderPreset(id=p["id"], label=str(p.get("label")), days=tuple(days), time=str(t))
    return presets


UI_ROLES = {
    "fallback": "common.fallback",
    "stale_choice": "common.stale_choice",
    "expired": "common.expired",
    "help": "common.help",
    "cancelled": "common.cancelled",
    "nothing_to_cancel": "common.nothing_to_cancel",
    "idle": "common.idle",
    "language_set": "common.language_set",
    "reminders_stopped": "common.reminders_stopped",
    "resumed": "common.resumed",
    "unsupported": "common.unsupported",
    "offer_declined": "common.offer_declined",
    "score_invalid": "common.score_invalid",
    "nudge_done": "nudge.answer_done",
    "nudge_later": "nudge.answer_later",
    "nudge_talk": "nudge.answer_talk",
    "nudge_button_done": "nudge.button_done",
    "nudge_button_later": "nudge.button_later",
    "nudge_button_talk": "nudge.button_talk",
    "nudge_button_thought": "nudge.button_thought",
    "export_intro": "privacy.export_intro",
    "deleted": "privacy.deleted",
    "group_only_one_to_one": "common.group_one_to_one",
    "clarify": "common.clarify",
    "option_quote": "common.option_quote",
    "options_join": "common.options_join",
    "score_clamped": "common.score_clamped",
    "thanks": "common.thanks_reply",
    "greeting": "common.greeting",
    "cannot_answer": "common.cannot_answer",
    "idle_open": "common.idle_open",
    "idle_hard": "common.idle_hard",
    "idle_good": "common.idle_good",
    "suggest_more": "common.suggest_more",
    "first_ack": "common.first_ack",
    "finish_first": "common.finish_first",
    "back_to": "common.back_to",
    "switch_ask": "common.switch_ask",
    "switch_yes": "common.switch_yes",
    "switch_no": "common.switch_no",
    "then_start": "common.then_start",
    "reminders_paused_until": "common.reminders_paused_until",
    "reminders_frequency": "common.reminders_frequency",
    "reminders_fewer": "common.reminders_fewer",
    "reminders_none": "common.reminders_none",
    "resumed_no_reminders": "common.resumed_no_reminders",
    "reminders_ask_time": "common.reminders_ask_time",
    "date": "common.date",
    "already_said_none": "common.already_said_none",
    "already_said_used": "common.already_said_used",
    "skip_ok": "common.skip_ok",
    "fallback_taken": "common.fallback_taken",
    "recalled": "common.recalled",
    "clarify_again": "common.clarify_again",
    "idle_again": "common.idle_again",
}
REQUIRED_FLOWS = ("onboarding", "menu", "privacy")
REQUIRED_STATES = ("privacy:confirm_delete",)


def _validate_links(c: _Collector, content: Content) -> None:
    flows, messages = content.flows, content.messages

    def check_msg(file: str, key: str, mid: Any) -> None:
        if not isinstance(mid, str) or mid not in messages:
            c.add(file, key, f"unknown message id {mid!r}")

    def check_target(flow: FlowSpec, key: str, target: Any) -> None:
        if target is None:
            return
        if not isinstance(target, str):
            c.add(flow.file, key, f"a target is text, not {target!r}")
            return
        if target == END or target in flow.states:
            return
        if ":" in target:
            fid, state = target.split(":", 1)
            if fid in flows and (state in flows[fid].states):
                return
            c.add(flow.file, key, f"unknown target {target!r} (flow {fid!r} or its state {state!r} does not exist)")
            return
        if target.startswith("@") and target[1:] in flows:
            return
        c.add(flow.file, key, f"unknown target {target!r}: use a state of this flow, '{END}', "
                              "'@flow' or 'flow:state'")

    def check_actions(flow: FlowSpec, key: str, actions: tuple[Action, ...]) -> None:
        for i, a in enumerate(actions):
            if a.name == "reminder_preset" and a.arg not in content.presets:
                c.add(flow.file, f"{key}[{i}]", f"unknown reminder preset {a.arg!r}")
            if a.name == "schedule_followup" and isinstance(a.arg, dict):
                mid = a.arg.get("message")
                check_msg(flow.file, f"{key}[{i}].message", mid)
                if mid in messages and content.placeholders(mid) and f"{mid}.plain" not in messages:
                    c.add(flow.file, f"{key}[{i}].message",
                          f"{mid!r} uses the user's words ({', '.join(sorted(content.placeholders(mid)))}); add "
                          f"'{mid}.plain' for users who did not agree to us keeping their words")
                talk = a.arg.get("flow")
                fid, _, sname = str(talk).partition(":")
                if talk is not None and (fid not in flows or (sname and sname not in flows[fid].states)):
                    c.add(flow.file, f"{key}[{i}].flow", f"unknown flow or flow:state {talk!r}")

    for name in REQUIRED_FLOWS:
        if name not in flows:
            c.add("flows", name, "this flow is required")
    for target in REQUIRED_STATES:
        fid, state = target.split(":")
        if fid in flows and state not in flows[fid].states:
            c.add(flows[fid].file, f"states.{state}", "this state is required (the delete-my-data command goes there)")
    for flow in flows.values():
        if flow.on_timeout is not None:
            check_msg(flow.file, "on_timeout", flow.on_timeout)
        for sname, st in flow.states.items():
            k = f"states.{sname}"
            for i, mid in enumerate(st.say):
                check_msg(flow.file, f"{k}.say[{i}]", mid)
            for sig, mid in st.say_by_signal.items():
                check_msg(flow.file, f"{k}.say_by_signal.{sig}", mid)
            for ch in st.choices:
                check_msg(flow.file, f"{k}.choices.{ch.id}.label", ch.label)
                check_target(flow, f"{k}.choices.{ch.id}.next", ch.next)
                check_actions(flow, f"{k}.choices.{ch.id}.actions", ch.actions)
            if st.text:
                check_target(flow, f"{k}.text.next", st.text.next)
                check_actions(flow, f"{k}.text.actions", st.text.actions)
                if st.text.invalid is not None:
                    check_msg(flow.file, f"{k}.text.invalid", st.text.invalid)
            for sig, target in st.on_signal.items():
                check_target(flow, f"{k}.on_signal.{sig}", target)
            for what, target in st.understands.items():
                check_target(flow, f"{k}.understands.{what}", target)
            for mood, mid in st.say_by_mood.items():
                check_msg(flow.file, f"{k}.say_by_mood.{mood}", mid)
            for opt in ("clarify",):
                if getattr(st, opt) is not None:
                    check_msg(flow.file, f"{k}.{opt}", getattr(st, opt))
            for i, a in enumerate((*st.actions, *(st.text.actions if st.text else ()))):
                if a.name == "short_topic" and isinstance(a.arg, dict):
                    check_msg(flow.file, f"{k}.actions[{i}].generic", a.arg.get("generic"))
            check_target(flow, f"{k}.next", st.next)
            check_actions(flow, f"{k}.actions", st.actions)
            if not st.say and not st.say_by_signal and st.waits:
                c.add(flow.file, k, "a state that waits for the user must say something")
            if not st.choices and st.text is None and st.next is None:
                c.add(flow.file, k, "offers no choices, takes no text and has no next: the user would be stuck "
                                    "(add choices, text, or next: end)")
        _check_reachable(c, flow, _entered_from_outside(flows).get(flow.id, set()))
    for nid, n in content.nudges.items():
        if n.flow and n.flow not in flows:
            c.add(f"nudges/{n.theme}.yaml", f"nudges.{nid}.flow", f"unknown flow {n.flow!r}")
    for kind, route in content.signal_routes.items():
        for k in ("noticed", "offer", "accept", "decline"):
            if getattr(route, k) is not None:
                check_msg("signals.yaml", f"{kind}.{k}", getattr(route, k))
        if route.flow is not None and route.flow not in flows:
            c.add("signals.yaml", f"{kind}.flow", f"unknown flow {route.flow!r}")
    for pid, p in content.presets.items():
        check_msg("reminders.yaml", f"presets.{pid}.label", p.label)
    if content.understanding is not None:
        for lang, lx in content.understanding.lexicons.items():
            for mid in lx.topics:
                check_msg(f"understanding/{lang}.yaml", f"topics.{mid}", mid)
    for role, mid in content.ui.items():
        if mid not in messages:
            c.add("messages", mid, f"required message (used for {role}) is missing")


def _entered_from_outside(flows: dict[str, FlowSpec]) -> dict[str, set[str]]:
    """States other flows (``flow:state`` targets) or follow-ups ("talk about it") lead into directly."""
    entries: dict[str, set[str]] = {}
    for flow in flows.values():
        for st in flow.states.values():
            targets = [st.next, st.text.next if st.text else None, *[ch.next for ch in st.choices],
                       *st.on_signal.values(), *st.understands.values()]
            actions = [*st.actions, *(st.text.actions if st.text else ()), *[a for ch in st.choices for a in ch.actions]]
            targets += [a.arg.get("flow") for a in actions if a.name == "schedule_followup" and isinstance(a.arg, dict)]
            for t in targets:
                if isinstance(t, str) and ":" in t and not t.startswith("@"):
                    fid, state = t.split(":", 1)
                    entries.setdefault(fid, set()).add(state)
    return entries


def _check_reachable(c: _Collector, flow: FlowSpec, entries: set[str] = frozenset()) -> None:
    if flow.start not in flow.states:
        return
    seen = {flow.start, *(e for e in entries if e in flow.states)}
    todo = deque(seen)
    while todo:
        st = flow.states[todo.popleft()]
        targets = [st.next, st.text.next if st.text else None, *[ch.next for ch in st.choices],
                   *st.on_signal.values(), *st.understands.values()]
        for t in targets:
            if isinstance(t, str) and t in flow.states and t not in seen:
                seen.add(t)
                todo.append(t)
    for name in flow.states:
        if name not in seen:
            c.add(flow.file, f"states.{name}", f"unreachable from the start state {flow.start!r}")


def _collect(root: Path) -> tuple[Content, _Collector]:
    c = _Collector(root)
    if not root.is_dir():
        c.add(root, "(dir)", "content folder does not exist")
        return Content(root, {}, {}, {}, {}, {}, {}), c
    flows: dict[str, FlowSpec] = {}
    fdir = root / "flows"
    for path in sorted(fdir.glob("*.yaml")) if fdir.is_dir() else []:
        raw = c.read_yaml(path)
        if raw is None:
            continue
        flow = _load_flow(c, path, raw)
        if flow is not None:
            if flow.id in flows:
                c.add(path, "id", f"flow {flow.id!r} is declared twice")
            flows[flow.id] = flow
    content = Content(
        root=root,
        flows=flows,
        messages=_load_messages(c, root),
        nudges=_load_nudges(c, root),
        commands=_load_commands(c, root),
        signal_routes=_load_signal_routes(c, root),
        presets=_load_presets(c, root),
        ui=dict(UI_ROLES),
        understanding=_load_understanding(c, root),
    )
    _validate_links(c, content)
    _check_entry_clashes(c, content)
    content.crisis, crisis_errors = load_crisis(root)
    c.errors.extend(crisis_errors + check_crisis_content(content))
    return content, c


def _load_understanding(c: _Collector, root: Path):
    from bot.understand import load_understanding

    return load_understanding(root, LANGUAGES, c.add, c.read_yaml)


def _check_entry_clashes(c: _Collector, content: Content) -> None:
    from bot.text import normalize_command

    owners: dict[tuple[str, str], str] = {}
    for name, per_lang in content.commands.items():
        for lang, phrases in per_lang.items():
            for p in phrases:
                owners.setdefault((lang, normalize_command(p)), f"commands.yaml:{name}")
    for flow in content.flows.values():
        for lang, phrases in flow.entry.items():
            for p in phrases:
                key = (lang, normalize_command(p))
                if key in owners and owners[key] != f"{flow.file}:entry":
                    c.add(flow.file, f"entry.{lang}", f"phrase {p!r} is already used by {owners[key]}")
                owners[key] = f"{flow.file}:entry"


def validate_content(root: Path) -> list[ContentError]:
    """Every problem in the content folder (flows, messages, nudges, commands, signals, reminders, lexicons)."""
    from bot.detect import validate_lexicons

    _, c = _collect(root)
    return c.errors + validate_lexicons(root)


def load_content(root: Path) -> Content:
    """Load and validate content; raise ContentInvalid naming every problem."""
    content, c = _collect(root)
    if c.errors:
        raise ContentInvalid(c.errors)
    return content
