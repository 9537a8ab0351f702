"""The shape of every content file, as pydantic models.

These models are both the parser (``bot.content`` validates each YAML file with them) and the
objects the engine reads (``FlowSpec``, ``StateSpec``, ...). What a single file can get wrong is
said here, next to the field; what needs several files (targets, message ids, reachability) is
checked in ``bot.content``. ``json_schemas()`` turns the models into JSON Schema for editors.
"""
from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any, Callable, Literal

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError,
    create_model, field_validator, model_validator,
)
from pydantic.json_schema import SkipJsonSchema

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
# What may interrupt a state (a flow's default, a state's override), beyond what domains add
# (``all_interrupts()``); see content/README.md.
INTERRUPTS = ("help", "menu", "cancel", "language", "privacy", "switch", "chat")
# What a state understands beyond its buttons and its text rule, each with where it leads (domains add more).
UNDERSTANDS = ("language", "skip", "dont_know", "already_said", "help", "export_data")
TEXT_PARSERS = ("text", "score")
# The core's commands (commands.yaml); domains add theirs (``all_commands()``).
COMMAND_NAMES = ("help", "menu", "cancel", "language_ja", "language_en", "delete_data", "export_data")
MOODS = ("hard", "mixed", "good")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
DURATION_PATTERN = _DURATION.pattern
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def _registry():
    from bot.domain import registry  # domains import these models: read them only when asked

    return registry()


def all_interrupts() -> tuple[str, ...]:
    """Every interruption group: the core's and the domains'."""
    return INTERRUPTS + _registry().interrupt_groups


def all_understands() -> tuple[str, ...]:
    return UNDERSTANDS + _registry().understands


def all_commands() -> tuple[str, ...]:
    return COMMAND_NAMES + tuple(name for name, i in _registry().intents.items() if i.command)


def action_kinds() -> dict[str, str]:
    """Every flow action with the kind of its argument: the core's and the domains'."""
    return {**ACTIONS, **{name: a.arg for name, a in _registry().actions.items()}}


def parse_duration(raw: Any) -> timedelta | None:
    """'24h', '3d', '30m', '1w' → timedelta (a bare number is hours); None when malformed."""
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


# ---------------------------------------------------------------------------- small types


def as_list(value: Any) -> Any:
    """YAML lets a one-item list be written as the item alone."""
    if value is None:
        return []
    return value if isinstance(value, (list, tuple)) else [value]


def _one_of(known: tuple[str, ...], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in known:
            raise ValueError(f"unknown {what} {value!r} (known: {', '.join(known)})")
        return value
    return check


def _all_of(known: tuple[str, ...] | Callable[[], tuple[str, ...]], what: str) -> Callable[[tuple], tuple]:
    """Check a whole list at once, so the problem is named at the list's key."""
    def check(values: tuple) -> tuple:
        names = known() if callable(known) else known
        for v in values:
            if v not in names:
                raise ValueError(f"unknown {what} {v!r} (known: {', '.join(names)})")
        return values
    return check


def _enum(values: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> Callable[[dict], None]:
    def extra(schema: dict) -> None:
        schema["enum"] = list(values() if callable(values) else values)
    return extra


def _answer_kinds() -> tuple[str, ...]:
    from bot.understand import ANSWER_KINDS  # the understanding module is heavy; read it only when asked

    return ANSWER_KINDS


def _lower_snake(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{what} must be lower_snake_case text, not {value!r}")
        return value
    return check


def _duration(value: Any) -> Any:
    if parse_duration(value) is None:
        raise ValueError(f"not a duration like 24h or 3d: {value!r}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("empty text")
    return value


MessageId = Annotated[str, Field(description="a message id (messages/<lang>/*.yaml)")]
Target = Annotated[str | None, Field(description="a state of this flow, 'end', '@flow' or 'flow:state'")]
Id = Annotated[str, AfterValidator(_lower_snake("an id")), Field(pattern=_ID.pattern)]
Language = Annotated[str, AfterValidator(_one_of(LANGUAGES, "language")), Field(json_schema_extra=_enum(LANGUAGES))]
SignalKind = Annotated[str, AfterValidator(_one_of(SIGNAL_KINDS, "signal kind")),
                       Field(json_schema_extra=_enum(SIGNAL_KINDS))]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Phrase = Annotated[str, AfterValidator(_non_empty), Field(min_length=1)]
Phrases = Annotated[tuple[Phrase, ...], BeforeValidator(as_list, json_schema_input_type=Phrase | list[Phrase])]
Duration = Annotated[Any, AfterValidator(_duration), Field(json_schema_extra={
    "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "description": "hours"}]})]
AnswerKinds = Annotated[tuple[Annotated[str, Field(json_schema_extra=_enum(_answer_kinds))], ...],
                        BeforeValidator(as_list), AfterValidator(_all_of(_answer_kinds, "answer kind"))]
SignalKinds = Annotated[tuple[Annotated[str, Field(json_schema_extra=_enum(SIGNAL_KINDS))], ...],
                        BeforeValidator(as_list), AfterValidator(_all_of(SIGNAL_KINDS, "signal kind"))]


class Strict(BaseModel):
    """A content mapping: unknown keys are mistakes, and what is read is never changed."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_theme(theme: Any, seed: Any, *, allow_general: bool = True) -> tuple[str, str] | None:
    """(key, problem) when a theme is unknown or names the wrong seed; None when they agree."""
    if theme == GENERAL_THEME and allow_general:
        return ("seed", "general content names no seed") if seed is not None else None
    if theme not in THEMES:
        allowed = sorted(THEMES) + ([GENERAL_THEME] if allow_general else [])
        return "theme", f"unknown theme {theme!r} (known: {', '.join(allowed)})"
    if seed != THEMES[theme]:
        return "seed", f"theme {theme!r} comes from seed {THEMES[theme]!r}, not {seed!r}"
    return None


# ---------------------------------------------------------------------------- actions


class TopicArg(Strict):
    """short_topic: shorten the answer saved as ``from`` into ``save``; ``generic`` when it cannot."""

    from_: str = Field(alias="from")
    save: str
    generic: MessageId
    quote: bool = False  # the label in quote marks


class FollowupArg(Strict):
    """schedule_followup: a check-in ``after`` a while, saying ``message``, offering ``flow``."""

    after: Duration
    message: MessageId
    flow: str | None = None


class ArgKind:
    """What argument an action takes: a pydantic type and what to say when the argument is wrong."""

    def __init__(self, type_: Any, problem: str):
        self.adapter = TypeAdapter(type_) if type_ is not None else None
        self.problem = problem  # formatted with name and arg

    def check(self, name: str, arg: Any) -> str | None:
        if self.adapter is None:
            return None if arg is None else self.problem.format(name=name, arg=arg)
        try:
            self.adapter.validate_python(arg)
        except ValidationError:
            return self.problem.format(name=name, arg=arg)
        return None

    def json_schema(self) -> dict | None:
        return None if self.adapter is None else self.adapter.json_schema(by_alias=True)


ARG_KINDS: dict[str, ArgKind] = {
    "none": ArgKind(None, "action {name!r} takes no argument"),
    "language": ArgKind(Literal[LANGUAGES], "{name} needs one of " + str(LANGUAGES) + ", not {arg!r}"),
    "bool": ArgKind(Annotated[bool, Field(strict=True)], "{name} needs true or false, not {arg!r}"),
    "duration": ArgKind(Duration, "{name} needs a duration like 7d, not {arg!r}"),
    "preset": ArgKind(Annotated[str, Field(strict=True)], "{name} needs a preset id"),
    "topic": ArgKind(TopicArg, "{name} needs {{from: <value>, save: <value>, generic: <message id>, quote: <true or false, optional>}}"),
    "followup": ArgKind(FollowupArg, "{name} needs {{after: <duration like 3d>, message: <id>, "
                                     "flow: <flow id, optional>}}"),
}
# Actions a state or choice may ask for, with the kind of their argument; the engine turns them
# into effects for the service. Domains add theirs (``action_kinds()``).
ACTIONS: dict[str, str] = {
    "save_checkin": "none",
    "set_language": "language",
    "set_consent": "bool",
    "schedule_followup": "followup",
    "export_data": "none",
    "delete_data": "none",
    "resume": "none",
    "clear_vars": "none",
    "acknowledge": "none",
    "short_topic": "topic",
}


class Action(BaseModel):
    """One action: a name alone, or a one-key mapping ``{name: argument}``."""

    model_config = ConfigDict(frozen=True)
    name: str
    arg: Any = None

    @model_validator(mode="before")
    @classmethod
    def _read(cls, raw: Any) -> Any:
        if isinstance(raw, Action):
            return raw
        if isinstance(raw, str):
            name, arg = raw, None
        elif isinstance(raw, dict) and len(raw) == 1:
            name, arg = next(iter(raw.items()))
        else:
            raise ValueError("an action is a name or a one-key mapping {name: argument}")
        kinds = action_kinds()
        kind = kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            raise ValueError(f"unknown action {name!r} (known: {', '.join(sorted(kinds))})")
        problem = ARG_KINDS[kind].check(name, arg)
        if problem:
            raise ValueError(problem)
        return {"name": name, "arg": arg}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict:
        kinds = action_kinds()
        bare = sorted(n for n, k in kinds.items() if ARG_KINDS[k].adapter is None)
        options: list[dict] = [{"enum": bare}]
        for name, kind in sorted(kinds.items()):
            arg = ARG_KINDS[kind].json_schema()
            if arg is not None:
                options.append({"type": "object", "properties": {name: arg}, "required": [name],
                                "additionalProperties": False})
        return {"anyOf": options}


Actions = Annotated[tuple[Action, ...], BeforeValidator(as_list)]


# ---------------------------------------------------------------------------- flows


def _choice_id(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        raise ValueError(f"choice id {value!r} is not text: quote it (YAML reads yes/no/on/off "
                         "as true/false and bare digits as numbers)")
    if isinstance(value, str) and ":" in value:
        raise ValueError("choice ids cannot contain ':'")
    return value


class ChoiceSpec(Strict):
    """A button: its id, its label, where it leads and what it sets or does."""

    id: Annotated[str, BeforeValidator(_choice_id)]
    label: MessageId
    next: Target = None
    set: dict[str, Any] = {}
    actions: Actions = ()
    # Answer kinds this choice stands for (yes, no, skip, dont_know, ...); by default its id when that is one.
    means: AnswerKinds = ()

    @model_validator(mode="before")
    @classmethod
    def _default_means(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and not raw.get("means") and isinstance(raw.get("id"), str):
            if raw["id"] in _answer_kinds():
                return {**raw, "means": [raw["id"]]}
            if raw["id"] in ("unsure", "not_sure"):
                return {**raw, "means": ["dont_know", "maybe"]}
        return raw


class TextSpec(Strict):
    """What a state does with typed text."""

    next: Target = None
    save: str | None = None
    parse: Annotated[str, AfterValidator(_one_of(TEXT_PARSERS, "parser")),
                     Field(json_schema_extra=_enum(TEXT_PARSERS))] = "text"
    actions: Actions = ()
    invalid: MessageId | None = None  # said when parse fails


def _interrupts(raw: Any) -> Any:
    if raw == "all":
        return all_interrupts()
    if raw in ("none", None):
        return ()
    return as_list(raw)


Interrupt = Annotated[str, Field(json_schema_extra=_enum(all_interrupts))]
Interrupts = Annotated[tuple[Interrupt, ...],
                       BeforeValidator(_interrupts, json_schema_input_type=Literal["all", "none"] | list[Interrupt]),
                       AfterValidator(_all_of(all_interrupts, "interruption"))]


def _understood(value: str) -> str:
    return _one_of(all_understands(), "understanding")(value)


Understood = Annotated[str, AfterValidator(_understood), Field(json_schema_extra=_enum(all_understands))]
SignalOrDefault = Annotated[str, AfterValidator(_one_of((*SIGNAL_KINDS, "default"), "signal kind")),
                            Field(json_schema_extra=_enum((*SIGNAL_KINDS, "default")))]
Mood = Annotated[str, AfterValidator(_one_of(MOODS, "mood")), Field(json_schema_extra=_enum(MOODS))]


class StateSpec(Strict):
    """One state of a flow."""

    name: SkipJsonSchema[str] = ""  # filled in from its key under states
    say: Annotated[tuple[MessageId, ...],
                   BeforeValidator(as_list, json_schema_input_type=MessageId | list[MessageId])] = ()
    say_by_signal: dict[SignalOrDefault, MessageId] = {}
    choices: Annotated[tuple[ChoiceSpec, ...], BeforeValidator(as_list)] = ()
    text: TextSpec | None = None
    on_signal: dict[SignalKind, Target] = {}
    actions: Actions = ()
    next: Target = None
    offers: bool = True
    interrupts: Interrupts | None = None  # None: the flow's default
    understands: dict[Understood, Target] = {}
    lean_on_scores: dict[str, SignalKind] = {}  # low score of a value → a signal kind for say_by_signal
    say_by_mood: dict[Mood, MessageId] = {}  # hard | mixed | good → message id
    clarify: MessageId | None = None  # said when an answer could not be read (default: name the options)
    fallback: str | None = None  # choice id taken after two answers that could not be read

    @field_validator("say_by_signal")
    @classmethod
    def _default_signal(cls, value: dict[str, str]) -> dict[str, str]:
        if value and "default" not in value:
            raise ValueError("needs a 'default' message for when nothing was noticed")
        return value

    @field_validator("say_by_mood")
    @classmethod
    def _all_moods(cls, value: dict[str, str]) -> dict[str, str]:
        if value and set(value) != set(MOODS):
            raise ValueError("needs hard, mixed and good")
        return value

    @field_validator("choices")
    @classmethod
    def _unique_choices(cls, value: tuple[ChoiceSpec, ...]) -> tuple[ChoiceSpec, ...]:
        ids = [c.id for c in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"duplicate choice id(s) {', '.join(map(repr, twice))}")
        return value

    @property
    def waits(self) -> bool:
        """Whether the state waits for the user (otherwise it says its piece and moves on)."""
        return bool(self.choices or self.text) or self.next is None


def _state_name(value: str) -> str:
    if value == END:
        raise ValueError(f"{END!r} is reserved for the end of a flow and cannot be declared")
    if not _ID.match(value):
        raise ValueError("state names are lower_snake_case")
    return value


class FlowSpec(Strict):
    """flows/<id>.yaml: a finite-state conversation."""

    id: Annotated[str, AfterValidator(_lower_snake("flow id")), Field(pattern=_ID.pattern)]
    start: str
    states: Annotated[dict[Annotated[str, AfterValidator(_state_name)], StateSpec], Field(min_length=1)]
    timeout: Annotated[timedelta, BeforeValidator(lambda v: _positive(parse_duration(_duration(v)), v),
                                                  json_schema_input_type=Duration)] = DEFAULT_FLOW_TIMEOUT
    entry: dict[Language, Phrases] = {}
    theme: str = GENERAL_THEME
    seed: str | None = None
    on_timeout: MessageId | None = None  # said when the user returns after the flow expired
    file: SkipJsonSchema[str] = ""  # where it was read from, relative to the content folder
    interrupts: Annotated[Interrupts, Field(default_factory=all_interrupts)]
    hub: bool = False  # a menu: left (not stacked) when something else starts; free text is read as from idle
    remember: bool = True  # recent answers are recalled when a question comes again (default: not a hub)

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        if isinstance(raw.get("states"), dict):
            raw["states"] = {k: {**v, "name": k} if isinstance(v, dict) else v for k, v in raw["states"].items()}
        if "remember" not in raw:
            raw["remember"] = not raw.get("hub", False)
        return raw

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, theme: str) -> str:
        if theme != GENERAL_THEME and theme not in THEMES:
            raise ValueError(check_theme(theme, None)[1])
        return theme

    @field_validator("seed")
    @classmethod
    def _seed_of_theme(cls, seed: str | None, info) -> str | None:
        problem = check_theme(info.data["theme"], seed) if "theme" in info.data else None
        if problem:
            raise ValueError(problem[1])
        return seed

    @property
    def compares_checkins(self) -> bool:
        """Whether the flow acknowledges a check-in (and so may compare it with the previous one)."""
        return any(a.name == "acknowledge" for st in self.states.values() for a in st.actions)


def _positive(value: timedelta | None, raw: Any) -> timedelta:
    if value is None or value <= timedelta(0):
        raise ValueError(f"not a duration like 24h or 3d: {raw!r}")
    return value


# ---------------------------------------------------------------------------- messages, nudges, commands


class MessageText(Strict):
    """One message in one language: its text, and its theme and seed when not the file's."""

    text: Annotated[str, AfterValidator(_non_empty)]
    theme: str | None = None
    seed: str | None = None


MessageEntry = Annotated[MessageText, BeforeValidator(lambda v: {"text": v} if isinstance(v, str) else v,
                                                     json_schema_input_type=str | MessageText)]


class MessageFile(BaseModel):
    """messages/<lang>/*.yaml: message id → text (or {text, theme, seed}); ``_theme``/``_seed`` for the file."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    __pydantic_extra__: dict[str, MessageEntry] = Field(init=False)
    theme: str = Field(GENERAL_THEME, alias="_theme")
    seed: str | None = Field(None, alias="_seed")

    @property
    def entries(self) -> dict[str, MessageText]:
        return dict(self.__pydantic_extra__ or {})


class NudgeItem(Strict):
    id: Id
    ja: Annotated[str, AfterValidator(_non_empty)]
    en: Annotated[str, AfterValidator(_non_empty)]
    flow: str = Field(description="the flow that 'talk about it' opens")
    signals: SignalKinds = ()


class NudgeFile(Strict):
    """nudges/<theme>.yaml: the reminders drawn from one seed."""

    theme: Annotated[str, AfterValidator(_one_of(tuple(THEMES), "theme")), Field(json_schema_extra=_enum(tuple(THEMES)))]
    seed: str
    nudges: tuple[NudgeItem, ...]

    @field_validator("seed")
    @classmethod
    def _seed_of_theme(cls, seed: str, info) -> str:
        theme = info.data.get("theme")
        problem = check_theme(theme, seed, allow_general=False) if theme else None
        if problem:
            raise ValueError(problem[1])
        return seed


class PhrasesByLanguage(Strict):
    ja: Annotated[Phrases, Field(min_length=1)]
    en: Annotated[Phrases, Field(min_length=1)]


@lru_cache(maxsize=1)
def commands_model() -> type[Strict]:
    """commands.yaml's model: every command, the core's and the domains'."""
    return create_model(
        "CommandsFile", __base__=Strict, __doc__="commands.yaml: the words that work anywhere, per language.",
        **{name: (PhrasesByLanguage, ...) for name in all_commands()})


class OfferRoute(Strict):
    """What the bot says when it notices a signal, and the flow it offers."""

    noticed: MessageId  # may use {evidence}
    offer: MessageId
    flow: str
    accept: MessageId
    decline: MessageId


class CrisisRoute(Strict):
    noticed: MessageId  # the safety reply


SignalsFile = create_model(
    "SignalsFile", __base__=Strict, __doc__="signals.yaml: how the bot responds to each signal kind.",
    **{kind: (CrisisRoute if kind == "crisis" else OfferRoute, ...) for kind in SIGNAL_KINDS})


# ---------------------------------------------------------------------------- understanding


def _understand(name: str) -> Callable[[], tuple[str, ...]]:
    def get() -> tuple[str, ...]:
        import bot.understand  # heavy (the detectors): only when an understanding file is read

        return getattr(bot.understand, name)
    return get


def _key_of(known: Callable[[], tuple[str, ...]], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        value = str(value)  # YAML reads an unquoted 1 as a number
        if value not in known():
            raise ValueError(f"unknown {what} (known: {', '.join(known())})")
        return value
    return check


def _word(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not text: quote it (YAML reads yes/no/on/off as true/false)")
    return str(value) if isinstance(value, int) else value  # an unquoted 1 is a number to YAML


Word = Annotated[str, BeforeValidator(_word), AfterValidator(_non_empty)]
Words = Annotated[tuple[Word, ...], BeforeValidator(as_list)]
AnswerKindKey = Annotated[str, BeforeValidator(_key_of(_understand("ANSWER_KINDS"), "answer kind")),
                          Field(json_schema_extra=_enum(_understand("ANSWER_KINDS")))]
IntentKey = Annotated[str, BeforeValidator(_key_of(_understand("INTENTS"), "intent")),
                      Field(json_schema_extra=_enum(_understand("INTENTS")))]
OrdinalKey = Annotated[str, BeforeValidator(_key_of(_understand("ORDINAL_KEYS"), "position")),
                       Field(json_schema_extra=_enum(_understand("ORDINAL_KEYS")))]


class IntentSpec(Strict):
    """Phrases that mean an intent: whole messages (``exact``) or word groups that must all appear."""

    exact: Words = ()
    all: tuple[Words, ...] = ()
    none: Words = ()  # words that rule it out
    max_chars: Annotated[int, Field(gt=0, strict=True)] = 40
    in_free_text: Words = ()

    @model_validator(mode="after")
    def _something(self) -> "IntentSpec":
        if not self.exact and not self.all:
            raise ValueError("needs exact phrases or word groups under all")
        return self


class QuestionSpec(Strict):
    endings: tuple[str, ...] = ()
    starts: Words = ()
    to_bot: Words = ()  # asking for the bot's own answer or advice ("what do you think?", 「どうしたらいい？」)


class StatementSpec(Strict):
    """What makes a short answer a sentence rather than the name of a thing (``understand.is_label``)."""

    self_: Words = Field((), alias="self")  # words about oneself (私, my)
    endings: Words = ()
    starts: Words = ()


class UnderstandingFile(Strict):
    """understanding/<lang>.yaml: how free text is read by meaning."""

    answers: dict[AnswerKindKey, Words]
    fillers: Words = ()
    hesitation: Words = ()  # sounds that are no answer of their own (「うーん」, "hmm"), matched before folding
    ordinals: dict[OrdinalKey, Words] = {}
    numbers: dict[str, Annotated[int, Field(strict=True)]] = {}
    approx: Words = ()
    languages: dict[str, Words] = {}
    intents: dict[IntentKey, IntentSpec] = {}
    question: QuestionSpec = QuestionSpec()
    hard_words: Words = ()
    good_words: Words = ()
    topics: dict[str, Words] = {}  # message id → words that name the topic
    statement: StatementSpec = StatementSpec()

    @field_validator("answers")
    @classmethod
    def _every_kind(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        missing = [k for k in _understand("ANSWER_KINDS")() if not value.get(k)]
        if missing:
            raise ValueError(f"needs a list of phrases for {', '.join(missing)}")
        return value


def json_schemas() -> dict[str, dict]:
    """JSON Schema (draft 2020-12) for each kind of content file, by schema file name."""
    from bot.crisis.grade import CarePolicy
    from bot.crisis.resources import ResourceBook

    models: dict[str, tuple[Any, str]] = {
        "flow": (FlowSpec, "flows/*.yaml"),
        "messages": (MessageFile, "messages/<lang>/*.yaml"),
        "nudges": (NudgeFile, "nudges/*.yaml"),
        "commands": (commands_model(), "commands.yaml"),
        "signals": (SignalsFile, "signals.yaml"),
        "understanding": (UnderstandingFile, "understanding/<lang>.yaml"),
        "crisis-care": (CarePolicy, "crisis/care.yaml"),
        "crisis-resources": (ResourceBook, "crisis/resources.yaml"),
    }
    for domain in _registry().parts:
        models[domain.content.schema_name or domain.name] = (domain.content.model, domain.content.file)
    out = {}
    for name, (model, where) in models.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$id": f"{name}.schema.json", "$comment": f"bansou content: {where}", **schema}
        out[f"{name}.schema.json"] = schema
    return out


def write_json_schemas(folder) -> list[str]:
    """Write ``json_schemas()`` into ``folder`` (one ``*.schema.json`` each); the names written."""
    import json
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, schema in json_schemas().items():
        (folder / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        names.append(name)
    return names
