"""Scoring the detectors against a labelled file: precision, recall and F1 per kind, micro-F1,
crisis recall (also on rows marked ``"explicit": true``) and the neutral false-alarm rate."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.detect.detector import Detector
from bot.types import LANGUAGES, SIGNAL_KINDS


class LabelledFileError(ValueError):
    """A labelled file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    lang: str
    kinds: frozenset[str]
    line: int
    explicit: bool = False  # a crisis row that plainly says it (DEFINITIONS: wants to die, a plan, a method)


def load_labelled(path: Path) -> list[Example]:
    """Read ``{"text", "lang", "kinds"}`` JSON lines; raise LabelledFileError naming the bad line."""
    examples = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledFileError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelledFileError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise LabelledFileError(f"{where}: expected an object with text, lang, kinds")
        text, lang, kinds = row.get("text"), row.get("lang"), row.get("kinds")
        if not isinstance(text, str) or not text:
            raise LabelledFileError(f"{where}: 'text' must be a non-empty string")
        if lang not in LANGUAGES:
            raise LabelledFileError(f"{where}: 'lang' must be one of {', '.join(LANGUAGES)}, got {lang!r}")
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise LabelledFileError(f"{where}: 'kinds' must be a list of signal kinds")
        unknown = [k for k in kinds if k not in SIGNAL_KINDS]
        if unknown:
            raise LabelledFileError(f"{where}: unknown signal kind {unknown[0]!r}")
        explicit = row.get("explicit") or False
        if explicit in (0, 1):
            explicit = bool(explicit)
        if not isinstance(explicit, bool):
            raise LabelledFileError(f"{where}: 'explicit' must be true or false")
        examples.append(Example(text=text, lang=lang, kinds=frozenset(kinds), line=number, explicit=explicit))
    if not examples:
        raise LabelledFileError(f"{path}: no examples")
    return examples


@dataclass(frozen=True, slots=True)
class KindScore:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Report:
    per_kind: dict[str, KindScore]
    micro: KindScore
    no_signal_messages: int
    false_alarms: int
    explicit_crisis: int = 0
    explicit_crisis_caught: int = 0
    mistakes: list[tuple[Example, frozenset[str]]] = field(default_factory=list)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.no_signal_messages if self.no_signal_messages else 0.0

    def lines(self) -> list[str]:
        """A table a person can read."""
        out = [f"{'kind':<16} {'P':>6} {'R':>6} {'F1':>6}   tp  fp  fn"]
        for kind, s in self.per_kind.items():
            out.append(f"{kind:<16} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.tp:4d}{s.fp:4d}{s.fn:4d}")
        m = self.micro
        out.append(f"{'micro':<16} {m.precision:6.3f} {m.recall:6.3f} {m.f1:6.3f} {m.tp:4d}{m.fp:4d}{m.fn:4d}")
        c = self.per_kind["crisis"]
        out.append(f"micro-F1: {m.f1:.3f}")
        out.append(f"crisis recall: {c.tp}/{c.tp + c.fn} = {c.recall:.3f}")
        if self.explicit_crisis:
            out.append(f"crisis recall on explicit statements: {self.explicit_crisis_caught}/{self.explicit_crisis}"
                       f" = {self.explicit_crisis_recall:.3f}")
        else:
            out.append("crisis recall on explicit statements: no row marked explicit")
        out.append(f"false alarms on no-signal messages: {self.false_alarms}/{self.no_signal_messages}"
                   f" = {self.false_alarm_rate:.3f}")
        return out

    @property
    def explicit_crisis_recall(self) -> float:
        return self.explicit_crisis_caught / self.explicit_crisis if self.explicit_crisis else 1.0


def evaluate(detector: Detector, examples: list[Example]) -> Report:
    """Compare detected kinds with labelled kinds, message by message."""
    counts = {k: [0, 0, 0] for k in SIGNAL_KINDS}
    no_signal = false_alarms = explicit = explicit_caught = 0
    mistakes = []
    for ex in examples:
        found = frozenset(s.kind for s in detector.detect(ex.text, ex.lang))
        for kind in SIGNAL_KINDS:
            if kind in found and kind in ex.kinds:
                counts[kind][0] += 1
            elif kind in found:
                counts[kind][1] += 1
            elif kind in ex.kinds:
                counts[kind][2] += 1
        if ex.explicit and "crisis" in ex.kinds:
            explicit += 1
            explicit_caught += "crisis" in found
        if not ex.kinds:
            no_signal += 1
            false_alarms += bool(found)
        if found != ex.kinds:
            mistakes.append((ex, found))
    per_kind = {k: KindScore(*v) for k, v in counts.items()}
    micro = KindScore(*(sum(v[i] for v in counts.values()) for i in range(3)))
    return Report(per_kind=per_kind, micro=micro, no_signal_messages=no_signal,
                  false_alarms=false_alarms, explicit_crisis=explicit, explicit_crisis_caught=explicit_caught,
                  mistakes=mistakes)
