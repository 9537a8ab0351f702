"""How crisis care reads a message: the grade of a crisis signal and what someone in care is saying.

Pure functions of (signals, text, policy). The policy is data (``content/crisis/care.yaml``):
score thresholds, ambiguous phrases, negation cues, and the phrases that mean "I want to leave",
"I'm not OK", "sorry", "I can't phone", yes and no.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.detect.normalise import fold as fold_text, fold_pattern, sound_form
from bot.detect.normalise import without_hesitation as strip_hesitation
from bot.errors import ContentError
from bot.text import normalize_command
from bot.types import LANGUAGES, Signal

CARE_FILE = "crisis/care.yaml"
DEFAULT_CLEAR = 0.8
DEFAULT_ASK = 0.4


class Grade(str, Enum):
    """What a crisis signal calls for."""

    CLEAR = "clear"              # resources at once
    ASK = "ask"                  # ask directly and kindly; resources one tap away
    ACKNOWLEDGE = "acknowledge"  # denied or imagined: no panel, the hardness acknowledged


def fold(text: str) -> str:
    """Text for matching: the one folding (``bot.detect.normalise.fold``), single spaces."""
    return re.sub(r"\s+", " ", fold_text(text)).strip()


def _patterns(value: list[str]) -> tuple[re.Pattern, ...]:
    out = []
    for p in value:
        try:
            out.append(re.compile(fold_pattern(p)))
        except re.error as exc:
            raise ValueError(f"not a regular expression: {p!r} ({exc})") from None
    return tuple(out)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    clear: float = Field(default=DEFAULT_CLEAR, gt=0, le=1)
    ask: float = Field(default=DEFAULT_ASK, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.ask > self.clear:
            raise ValueError("ask must not be above clear")
        return self


class CarePolicy(BaseModel):
    """``content/crisis/care.yaml``, validated; phrases folded once."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, populate_by_name=True)
    thresholds: Thresholds = Thresholds()
    ambiguous: tuple[re.Pattern, ...] = ()
    negated_after: tuple[re.Pattern, ...] = ()
    negated_before: tuple[re.Pattern, ...] = ()
    leave: dict[str, tuple[str, ...]]
    not_ok: dict[str, tuple[str, ...]]
    apology: dict[str, tuple[str, ...]]
    cannot_phone: dict[str, tuple[str, ...]]
    yes: dict[str, tuple[str, ...]]
    no: dict[str, tuple[str, ...]]
    sos: dict[str, tuple[str, ...]]
    # Crisis words the writer denies ("死にたいとは思わないけど"): the detector raises no signal for
    # them, and care still acknowledges that it is hard, with no panel.
    negated_mention: dict[str, tuple[str, ...]]
    # Sounds of hesitation (「うーん」, "hmm"): not an answer. Matched before folding, which would
    # shorten 「うーん」 to the yes word 「うん」.
    hesitation: dict[str, tuple[str, ...]] = {}

    _compile = field_validator("ambiguous", "negated_after", "negated_before", mode="before")(
        lambda v: _patterns(list(v or [])))

    @field_validator("leave", "not_ok", "apology", "cannot_phone", "yes", "no", "sos", "negated_mention",
                     mode="after")
    @classmethod
    def _phrases(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        missing = [lang for lang in LANGUAGES if not value.get(lang)]
        if missing:
            raise ValueError(f"needs phrases in {', '.join(missing)}")
        return {lang: tuple(fold(str(p)) for p in phrases) for lang, phrases in value.items()}

    @field_validator("hesitation", mode="after")
    @classmethod
    def _sounds(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {lang: tuple(sound_form(str(p)) for p in phrases) for lang, phrases in value.items()}

    def phrases(self, name: str) -> tuple[str, ...]:
        """A phrase set in every language (people mix languages; a Japanese 大丈夫 counts in English)."""
        per_lang: dict[str, tuple[str, ...]] = getattr(self, name)
        return tuple(p for lang in LANGUAGES for p in per_lang.get(lang, ()))


def load_policy(root: Path) -> tuple[CarePolicy | None, list[ContentError]]:
    """``root/crisis/care.yaml``, validated; every problem named with its key."""
    from bot.content import load_model

    return load_model(root, CARE_FILE, CarePolicy,
                      missing="missing: crisis care phrases and thresholds are required")


# ---------------------------------------------------------------------------- grading


def _negated(signal: Signal, text: str, policy: CarePolicy) -> bool:
    """Whether the flagged words are denied or only imagined ("死にたいとは思わないけど", "I don't want to die")."""
    if not text or not (0 <= signal.start <= signal.end <= len(text)):
        return False
    after = fold(text[signal.end:signal.end + 24])
    before = fold(text[max(0, signal.start - 40):signal.start])
    before = before + " " if text[max(0, signal.start - 1):signal.start].isspace() else before
    return any(p.search(after) for p in policy.negated_after) or any(p.search(before) for p in policy.negated_before)


def grade_signal(signal: Signal, text: str, policy: CarePolicy) -> Grade:
    if _negated(signal, text, policy) or signal.score < policy.thresholds.ask:
        return Grade.ACKNOWLEDGE
    if signal.score < policy.thresholds.clear or any(p.search(fold(signal.evidence)) for p in policy.ambiguous):
        return Grade.ASK
    return Grade.CLEAR


def grade(signals: Sequence[Signal], text: str, policy: CarePolicy) -> Grade | None:
    """The response the crisis signals in ``text`` call for (the most urgent of them); None without any."""
    grades = [grade_signal(s, text, policy) for s in signals if s.kind == "crisis"]
    if not grades:
        mentioned = text and _contains(fold(text), policy.phrases("negated_mention"))
        return Grade.ACKNOWLEDGE if mentioned else None
    for g in (Grade.CLEAR, Grade.ASK, Grade.ACKNOWLEDGE):
        if g in grades:
            return g
    return None  # unreachable


# ---------------------------------------------------------------------------- what they say in care


@dataclass(frozen=True, slots=True)
class Said:
    """What a message in crisis care says, beyond a crisis signal."""

    leave: bool
    not_ok: bool
    apology: bool
    cannot_phone: bool
    yes: bool
    no: bool


def _contains(t: str, phrases: Sequence[str]) -> bool:
    for p in phrases:
        if p.isascii():
            if re.search(rf"(?<![a-z']){re.escape(p)}(?![a-z'])", t):
                return True
        elif p in t:
            return True
    return False


def _answers(t: str, phrases: Sequence[str]) -> bool:
    """A short answer: the whole message (folded, polite wrapper off) is one of the phrases, or starts with one."""
    whole = normalize_command(t)
    if whole in phrases:
        return True
    first = re.split(r"[、。,.!！?？\s]", whole, maxsplit=1)[0]
    return bool(first) and first in phrases


def without_hesitation(text: str, policy: CarePolicy) -> str:
    """``text`` with a leading sound of hesitation taken off (「うーん、そうかも」 → 「そうかも」; 「うーん」 → "")."""
    rest = strip_hesitation(text, policy.phrases("hesitation"))
    return text if rest is None else rest


def read_care_text(text: str, policy: CarePolicy) -> Said:
    t = fold(without_hesitation(text, policy))
    not_ok = _contains(t, policy.phrases("not_ok"))
    return Said(
        leave=_contains(t, policy.phrases("leave")) and not not_ok,
        not_ok=not_ok,
        apology=_contains(t, policy.phrases("apology")),
        cannot_phone=_contains(t, policy.phrases("cannot_phone")),
        yes=_answers(t, policy.phrases("yes")),
        no=_answers(t, policy.phrases("no")),
    )


def reflect_words(text: str, signals: Sequence[Signal], *, limit: int = 40) -> str:
    """The person's own words to reflect back: the flagged words if any, else their first sentence, kept short."""
    crisis = [s for s in signals if s.kind == "crisis" and s.evidence]
    if crisis:
        return crisis[0].evidence
    first = re.split(r"(?<=[。！？!?\n])|(?<=\.)\s", text.strip(), maxsplit=1)[0].strip()
    first = first.rstrip("。.!！?？、,")
    if len(first) > limit:
        first = first[:limit - 1].rstrip() + "…"
    return first

