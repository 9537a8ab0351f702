"""Domains: what a part of the product beyond the core conversation (reminders, and later others)
adds to it, declared in one place.

A ``Domain`` declares
* the flow actions it adds (their argument kind for content validation, and what each does in a step);
* the intents and commands it carries out, each with the interruption group a flow state must allow;
* the ``understands`` keys a state may use for it, and the free-text readings it tries
  (an interpreter's words at a state that asks for them);
* the choice values it answers (``PREFIX:...``) and the UI messages it says (role → message id);
* its own content file (a pydantic model), what it contributes to ``Content`` and its cross-file checks;
* ``install(runtime)``: effect handlers, interpreters, periodic jobs and purges, at start-up.

The engine and the content loader know domains only through this interface; ``domains()`` lists them.
Everything here is pure data and functions: the engine stays a pure step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from bot.errors import ContentError

# A step's working object (``bot.engine._Run``): say/ui/effect/start/start_over/resume/now/lang/user/u.
Turn = Any


@dataclass(frozen=True, slots=True)
class FlowAction:
    """An action flows may name: ``arg`` is an argument kind of ``bot.content_models.ARG_KINDS``;
    ``run(turn, arg, vars)`` adds its effects and words to the step."""

    arg: str
    run: Callable[[Turn, Any, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Intent:
    """An intent (read from free text) or command (commands.yaml, ``cmd:NAME``) the domain carries out.
    ``group`` is the interruption a state must allow; ``handle(turn, convo, text)`` returns the new
    conversation state (``text`` is None for a command or button)."""

    group: str
    handle: Callable[[Turn, Any, str | None], Any]
    command: bool = False  # also a command: a phrase in commands.yaml, a ``cmd:NAME`` button


@dataclass(frozen=True, slots=True)
class FreeText:
    """Free text the domain's interpreters may read wherever ``group`` may interrupt, or at a state that
    ``understands`` this key (there a bare answer is tried inside each of ``retries``)."""

    group: str
    understands: str
    retries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContentPart:
    """The domain's own content: ``file`` read with ``model``; ``attach(parsed)`` is what ``Content``
    holds for it (``content.parts[domain]``); ``check(content)`` its cross-file problems."""

    file: str
    model: type
    attach: Callable[[Any], Any]
    empty: Callable[[], Any]
    check: Callable[[Any], list["ContentError"]] = lambda content: []
    schema_name: str = ""


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    actions: Mapping[str, FlowAction] = field(default_factory=dict)
    intents: Mapping[str, Intent] = field(default_factory=dict)
    interrupt_groups: tuple[str, ...] = ()
    understands: tuple[str, ...] = ()
    free_text: tuple[FreeText, ...] = ()
    choices: Mapping[str, Callable[[Turn, Any, list[str]], Any]] = field(default_factory=dict)
    ui: Mapping[str, str] = field(default_factory=dict)
    content: ContentPart | None = None
    install: Callable[[Any], None] | None = None


@lru_cache(maxsize=1)
def domains() -> tuple[Domain, ...]:
    """Every domain, in the order they are consulted."""
    from bot.reminders.domain import REMINDERS

    return (REMINDERS,)


@lru_cache(maxsize=1)
def registry() -> "Registry":
    return Registry(domains())


class Registry:
    """The domains' declarations merged, for the engine and the content loader."""

    def __init__(self, all_domains: tuple[Domain, ...]):
        self.domains = all_domains
        self.actions: dict[str, FlowAction] = {}
        self.intents: dict[str, Intent] = {}
        self.choices: dict[str, Callable] = {}
        self.ui: dict[str, str] = {}
        for d in all_domains:
            for what, mine, theirs in (("action", d.actions, self.actions), ("intent", d.intents, self.intents),
                                       ("choice prefix", d.choices, self.choices), ("ui role", d.ui, self.ui)):
                clash = set(mine) & set(theirs)
                if clash:
                    raise ValueError(f"domain {d.name!r} declares {what}(s) {sorted(clash)} that another declares")
                theirs.update(mine)
        self.interrupt_groups = tuple(g for d in all_domains for g in d.interrupt_groups)
        self.understands = tuple(u for d in all_domains for u in d.understands)
        self.free_text = tuple(f for d in all_domains for f in d.free_text)
        self.parts = tuple(d for d in all_domains if d.content is not None)
