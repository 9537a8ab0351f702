"""Content as data: flows, messages, nudges, commands, signal routing, and each domain's own file.

Everything under ``CONTENT_DIR`` is loaded and validated once at start-up. Each file is read with
its pydantic model (``bot.content_models``); what spans files (targets, message ids, reachability,
phrases used twice) is checked here. ``load_content`` raises ``ContentInvalid`` listing every
problem with its file, key and what is wrong, so an operator editing their own copy sees all
mistakes at once. The format is documented in ``content/README.md``.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.content_models import (  # noqa: F401 - re-exported: the engine and tests read them from here
    ACTIONS, COMMAND_NAMES, DEFAULT_FLOW_TIMEOUT, END, GENERAL_THEME, INTERRUPTS, TEXT_PARSERS, THEMES, UNDERSTANDS,
    Action, ChoiceSpec, FlowSpec, MessageFile, MessageText, NudgeFile, SignalsFile, StateSpec,
    TextSpec, all_commands, check_theme, commands_model, parse_duration,
)
from bot.domain import registry
from bot.errors import ContentError, ContentInvalid
from bot.types import LANGUAGES, SIGNAL_KINDS
from bot.yamlfile import load_yaml

if TYPE_CHECKING:
    from bot.crisis import CrisisContent

M = TypeVar("M", bound=BaseModel)
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


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


@dataclass(slots=True)
class Content:
    """Everything under CONTENT_DIR, validated."""

    root: Path
    flows: dict[str, FlowSpec]
    messages: dict[str, Message]
    nudges: dict[str, Nudge]
    commands: dict[str, dict[str, tuple[str, ...]]]
    signal_routes: dict[str, SignalRoute]
    parts: dict[str, Any]  # domain name → what its content part attached (bot.domain.ContentPart)
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

    def __getattr__(self, name: str) -> Any:
        """A field of a domain's content part, by name (``content.presets`` from reminders)."""
        if name != "parts":
            for part in self.parts.values():
                if name in _data_fields(part):
                    return getattr(part, name)
        raise AttributeError(name)

    def nudges_for_theme(self, theme: str) -> list[Nudge]:
        return [n for n in self.nudges.values() if n.theme == theme]


def _data_fields(part: Any) -> set[str]:
    if isinstance(part, BaseModel):
        return set(type(part).model_fields)
    if dataclasses.is_dataclass(part):
        return {f.name for f in dataclasses.fields(part)}
    return set()


# ---------------------------------------------------------------------------- reading a file with its model


def read_yaml_file(root: Path, path: Path) -> tuple[Any, list[ContentError]]:
    """The YAML document in ``path`` (None and the problem when it cannot be read or parsed)."""
    rel = _rel(root, path)
    try:
        with path.open(encoding="utf-8") as f:
            return load_yaml(f), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        return None, [ContentError(rel, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    except UnicodeDecodeError:
        return None, [ContentError(rel, "(file)", "not UTF-8 text")]
    except OSError as exc:
        return None, [ContentError(rel, "(file)", f"cannot be read: {exc.strerror}")]


def model_errors(file: str, exc: ValidationError, raw: Any, *,
                 list_items: Literal["dot", "bracket"] = "dot") -> list[ContentError]:
    """Each pydantic error as a ContentError naming the file, the key as the author wrote it, and the problem.

    A list item with an ``id`` is named by it: ``presets.weekday_morning.time`` (``dot``) or
    ``resources[yorisoi].hours`` (``bracket``); other items by position: ``windows[0]``."""
    return [ContentError(file, error_key(raw, e["loc"], list_items=list_items) or "(file)", _problem(e))
            for e in exc.errors(include_url=False)]


def error_key(raw: Any, loc: tuple, *, list_items: Literal["dot", "bracket"] = "dot") -> str:
    """A pydantic error location as a readable key into ``raw``."""
    key = ""
    node = raw
    for i, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, list):
            item = node[step] if step < len(node) else None
            rid = item.get("id") if isinstance(item, dict) else None
            if isinstance(rid, str) and list_items == "dot":
                key += f".{rid}"
            else:
                key += f"[{rid if isinstance(rid, str) else step}]"
            node = item
        elif isinstance(node, dict) and (step in node or (i == len(loc) - 1 and step != "[key]")):
            key += f".{step}"
            node = node.get(step)
        # anything else is pydantic's own step (a union member, "[key]" for a bad mapping key): not the author's
    return key.lstrip(".")


_PROBLEMS = {
    "missing": "required, but missing",
    "extra_forbidden": "unknown key",
}


def _problem(error: dict) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] in _PROBLEMS:
        return _PROBLEMS[error["type"]]
    if error["type"] == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    return f"{error['msg']}, not {error['input']!r}" if "input" in error and not isinstance(
        error["input"], (dict, list)) else error["msg"]


def load_model(root: Path, relpath: str, model: type[M], *, missing: str = "missing",
               list_items: Literal["dot", "bracket"] = "dot") -> tuple[M | None, list[ContentError]]:
    """``root/relpath`` read and validated with ``model``: the object, or None and every problem found."""
    path = root / relpath
    if not path.is_file():
        return None, [ContentError(relpath, "(file)", missing)]
    raw, errors = read_yaml_file(root, path)
    if errors:
        return None, errors
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, model_errors(relpath, exc, raw, list_items=list_items)


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class _Collector:
    def __init__(self, root: Path):
        self.root = root
        self.errors: list[ContentError] = []
        # What exists but did not validate: references to these are not reported again.
        self.broken_flows: set[str] = set()
        self.broken_messages: set[str] = set()
        self.broken_files: set[str] = set()

    def rel(self, path: Path) -> str:
        return _rel(self.root, path)

    def add(self, path: Path | str, key: str, problem: str) -> None:
        self.errors.append(ContentError(self.rel(path) if isinstance(path, Path) else path, key, problem))

    def read_yaml(self, path: Path) -> Any:
        raw, errors = read_yaml_file(self.root, path)
        self.errors.extend(errors)
        return raw

    def read_required(self, path: Path) -> Any:
        """Like ``read_yaml`` for a file that must exist: a missing one is reported, not skipped."""
        if not path.is_file():
            self.add(path, "(file)", "missing")
            return None
        return self.read_yaml(path)

    def validate(self, path: Path, model: type[M], raw: Any, *, salvage: bool = False) -> M | None:
        """``raw`` validated with ``model``, its problems recorded. With ``salvage``, a file with problems
        still gives what is sound in it (the faulty parts left out), so what it refers to is checked too."""
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            self.errors.extend(model_errors(self.rel(path), exc, raw))
            self.broken_files.add(self.rel(path))
            return _salvage(model, raw, exc) if salvage else None


def _salvage(model: type[M], raw: Any, exc: ValidationError, tries: int = 8) -> M | None:
    """``raw`` with every part pydantic refused taken out, validated again (None when nothing is left)."""
    raw = copy.deepcopy(raw)
    for _ in range(tries):
        if not all(_prune(raw, e["loc"]) for e in exc.errors()):
            return None
        try:
            return model.model_validate(raw)
        except ValidationError as again:
            exc = again
    return None


def _prune(raw: Any, loc: tuple) -> bool:
    """Take out of ``raw`` the part an error points at (the mapping that lacks a required key); False
    when that would be the whole document."""
    trail: list[tuple[Any, Any]] = []  # (container, key) down to the faulty part
    node = raw
    for step in loc:
        if isinstance(node, list) and isinstance(step, int) and step < len(node):
            trail.append((node, step))
            node = node[step]
        elif isinstance(node, dict) and step in node:
            trail.append((node, step))
            node = node[step]
    if not trail:
        return False
    container, key = trail[-1]
    if isinstance(container, list):
        container[key] = _REMOVED
        container[:] = [x for x in container if x is not _REMOVED]
    else:
        container.pop(key, None)
    return True


_REMOVED = object()


# ---------------------------------------------------------------------------- each kind of file


def _load_flows(c: _Collector, root: Path) -> dict[str, FlowSpec]:
    flows: dict[str, FlowSpec] = {}
    fdir = root / "flows"
    for path in sorted(fdir.glob("*.yaml")) if fdir.is_dir() else []:
        raw = c.read_yaml(path)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            c.add(path, "(file)", "a flow file must be a mapping with id, start and states")
            continue
        flow = c.validate(path, FlowSpec, raw, salvage=True)
        if flow is None:
            c.broken_flows.add(str(raw.get("id", path.stem)))
            continue
        if c.rel(path) in c.broken_files:  # what it refers to is checked; others' references into it are not
            c.broken_flows.add(flow.id)
        flow = flow.model_copy(update={"file": c.rel(path)})
        if path.stem != flow.id:
            c.add(path, "id", f"flow id {flow.id!r} must match the file name {path.stem!r}")
        if flow.id in flows:
            c.add(path, "id", f"flow {flow.id!r} is declared twice")
        _check_flow(c, flow)
        flows[flow.id] = flow
    return flows


def _check_flow(c: _Collector, flow: FlowSpec) -> None:
    """What one flow file can get wrong beyond its shape: its start, its fallbacks."""
    if flow.start not in flow.states:
        c.add(flow.file, "start", f"start state {flow.start!r} is not declared in states")
    for name, st in flow.states.items():
        if st.fallback is not None and st.fallback not in {ch.id for ch in st.choices}:
            c.add(flow.file, f"states.{name}.fallback", f"{st.fallback!r} is not one of this state's choice ids")


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
            parsed = c.validate(path, MessageFile, raw)
            if parsed is None:
                c.broken_messages.update(str(k) for k in raw)
                continue
            for mid, entry in parsed.entries.items():
                theme = entry.theme if entry.theme is not None else parsed.theme
                seed = entry.seed if entry.seed is not None else parsed.seed if theme == parsed.theme else None
                problem = check_theme(theme, seed)
                if problem:
                    c.add(path, f"{mid}.{problem[0]}", problem[1])
                if mid in per_lang[lang]:
                    other = per_lang[lang][mid][3]
                    c.add(path, mid, f"defined twice (also in {c.rel(other)})")
                per_lang[lang][mid] = (entry.text, theme, seed, path)
    messages: dict[str, Message] = {}
    all_ids = set().union(*per_lang.values())
    for mid in sorted(all_ids):
        missing = [lang for lang in LANGUAGES if mid not in per_lang[lang]]
        if missing:
            if mid not in c.broken_messages:
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
        parsed = c.validate(path, NudgeFile, raw) if raw is not None else None
        if parsed is None:
            continue
        for item in parsed.nudges:
            if item.id in nudges:
                c.add(path, f"nudges.{item.id}", "duplicate nudge id")
            nudges[item.id] = Nudge(id=item.id, theme=parsed.theme, seed=parsed.seed,
                                    text={lang: getattr(item, lang) for lang in LANGUAGES}, flow=item.flow,
                                    signals=item.signals)
    return nudges


def _load_commands(c: _Collector, root: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    path = root / "commands.yaml"
    raw = c.read_required(path)
    parsed = c.validate(path, commands_model(), raw) if raw is not None else None
    if parsed is None:
        return {}
    return {name: {lang: getattr(getattr(parsed, name), lang) for lang in LANGUAGES} for name in all_commands()}


def _load_signal_routes(c: _Collector, root: Path) -> dict[str, SignalRoute]:
    path = root / "signals.yaml"
    raw = c.read_required(path)
    parsed = c.validate(path, SignalsFile, raw) if raw is not None else None
    if parsed is None:
        return {}
    routes = {}
    for kind in SIGNAL_KINDS:
        r = getattr(parsed, kind)
        routes[kind] = SignalRoute(kind=kind, noticed=r.noticed, offer=getattr(r, "offer", None),
                                   flow=getattr(r, "flow", None), accept=getattr(r, "accept", None),
                                   decline=getattr(r, "decline", None))
    return routes


def _load_parts(c: _Collector, root: Path) -> dict[str, Any]:
    """Each domain's own file (reminders.yaml, ...), read with the domain's model."""
    parts: dict[str, Any] = {}
    for domain in registry().parts:
        part = domain.content
        path = root / part.file
        raw = c.read_required(path)
        parsed = c.validate(path, part.model, raw) if raw is not None else None
        parts[domain.name] = part.attach(parsed) if parsed is not None else part.empty()
    return parts


def flow_actions(content: Content):
    """Every action in every flow: (flow, key, action), for checks of what actions name."""
    for flow in content.flows.values():
        for sname, st in flow.states.items():
            k = f"states.{sname}"
            places = [(f"{k}.actions", st.actions)]
            places += [(f"{k}.choices.{ch.id}.actions", ch.actions) for ch in st.choices]
            if st.text:
                places.append((f"{k}.text.actions", st.text.actions))
            for key, actions in places:
                for i, a in enumerate(actions):
                    yield flow, f"{key}[{i}]", a


UI_ROLES = {
    "fallback": "common.fallback",
    "stale_choice": "common.stale_choice",
    "expired": "common.expired",
    "help": "common.help",
    "cancelled": "common.cancelled",
    "nothing_to_cancel": "common.nothing_to_cancel",
    "idle": "common.idle",
    "language_set": "common.language_set",
    "unsupported": "common.unsupported",
    "offer_declined": "common.offer_declined",
    "score_invalid": "common.score_invalid",
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
    "ask_back": "common.ask_back",
    "understood_choice": "common.understood_choice",
    "offer_wait": "common.offer_wait",
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
        if mid in c.broken_messages:
            return
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
            if fid in c.broken_flows or (fid in flows and state in flows[fid].states):
                return
            c.add(flow.file, key, f"unknown target {target!r} (flow {fid!r} or its state {state!r} does not exist)")
            return
        if target.startswith("@") and (target[1:] in flows or target[1:] in c.broken_flows):
            return
        c.add(flow.file, key, f"unknown target {target!r}: use a state of this flow, '{END}', "
                              "'@flow' or 'flow:state'")

    def check_actions(flow: FlowSpec, key: str, actions: tuple[Action, ...]) -> None:
        for i, a in enumerate(actions):
            if a.name == "schedule_followup" and isinstance(a.arg, dict):
                mid = a.arg.get("message")
                check_msg(flow.file, f"{key}[{i}].message", mid)
                if mid in messages and content.placeholders(mid) and f"{mid}.plain" not in messages:
                    c.add(flow.file, f"{key}[{i}].message",
                          f"{mid!r} uses the user's words ({', '.join(sorted(content.placeholders(mid)))}); add "
                          f"'{mid}.plain' for users who did not agree to us keeping their words")
                talk = a.arg.get("flow")
                fid, _, sname = str(talk).partition(":")
                if talk is not None and fid not in c.broken_flows and (fid not in flows or (sname and sname not in flows[fid].states)):
                    c.add(flow.file, f"{key}[{i}].flow", f"unknown flow or flow:state {talk!r}")

    for name in REQUIRED_FLOWS:
        if name not in flows and name not in c.broken_flows:
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
        if n.flow and n.flow not in flows and n.flow not in c.broken_flows:
            c.add(f"nudges/{n.theme}.yaml", f"nudges.{nid}.flow", f"unknown flow {n.flow!r}")
    for kind, route in content.signal_routes.items():
        for k in ("noticed", "offer", "accept", "decline"):
            if getattr(route, k) is not None:
                check_msg("signals.yaml", f"{kind}.{k}", getattr(route, k))
        if route.flow is not None and route.flow not in flows and route.flow not in c.broken_flows:
            c.add("signals.yaml", f"{kind}.flow", f"unknown flow {route.flow!r}")
    if content.understanding is not None:
        for lang, lx in content.understanding.lexicons.items():
            for mid in lx.topics:
                check_msg(f"understanding/{lang}.yaml", f"topics.{mid}", mid)
    for role, mid in content.ui.items():
        if mid not in messages and mid not in c.broken_messages:
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


def _collect(root: Path | str) -> tuple[Content, _Collector]:
    from bot.crisis import check_content as check_crisis_content, load_crisis

    root = Path(root)
    c = _Collector(root)
    if not root.is_dir():
        c.add(root, "(dir)", "content folder does not exist")
        return Content(root, {}, {}, {}, {}, {}, {}), c
    content = Content(
        root=root,
        flows=_load_flows(c, root),
        messages=_load_messages(c, root),
        nudges=_load_nudges(c, root),
        commands=_load_commands(c, root),
        signal_routes=_load_signal_routes(c, root),
        parts=_load_parts(c, root),
        ui={**UI_ROLES, **registry().ui},
        understanding=_load_understanding(c, root),
    )
    _validate_links(c, content)
    for domain in registry().parts:
        if domain.content.file not in c.broken_files:
            c.errors.extend(domain.content.check(content))
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


def validate_content(root: Path | str) -> list[ContentError]:
    """Every problem in the content folder (flows, messages, nudges, commands, signals, reminders, lexicons)."""
    from bot.detect import validate_lexicons

    _, c = _collect(root)
    return c.errors + validate_lexicons(Path(root))


def load_content(root: Path | str) -> Content:
    """Load and validate content; raise ContentInvalid naming every problem."""
    content, c = _collect(root)
    if c.errors:
        raise ContentInvalid(c.errors)
    return content
