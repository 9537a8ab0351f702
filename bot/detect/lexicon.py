"""Loading and validating the detector lexicons in ``content/lexicons/*.yaml``.

The format is documented in ``content/lexicons/README.md``. Validation reports every problem
it finds (file, key, problem) instead of stopping at the first, so an operator can fix a
lexicon in one pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.detect.normalise import fold_pattern
from bot.detect.prefilter import first_char_guard
from bot.errors import ContentError
from bot.yamlfile import load_yaml
from bot.types import LANGUAGES, SIGNAL_KINDS

LEXICON_DIR = "lexicons"
CONTEXT_KEYS = ("negation_before", "negation_after", "past", "still", "recovery", "third_party")
# Scope cues: optional, used only as features by the learned model (bot/detect/features.py).
CUE_KEYS = ("negation", "hypothetical", "question", "reported", "topic")
BREAK_KEYS = ("clause_breaks", "sentence_breaks")
ENTRY_KEYS = {"id", "pattern", "score", "negatable", "self_only", "not_before", "not_after", "note"}
_FRAGMENT_REF = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_NAMED_GROUP = re.compile(r"\(\?P<|\(\?<(?![=!])|\\[1-9]")


@dataclass(frozen=True, slots=True)
class Entry:
    """One compiled lexicon pattern for one signal kind."""

    kind: str
    id: str
    pattern: re.Pattern[str]
    score: float
    negatable: bool
    self_only: bool
    not_before: re.Pattern[str] | None
    not_after: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class KindMatcher:
    """All entries for one kind in one language, joined into one alternation for speed."""

    kind: str
    combined: re.Pattern[str]
    entries: dict[str, Entry]
    ordered: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Everything the detector needs for one language."""

    language: str
    kinds: tuple[KindMatcher, ...]
    negation_before: re.Pattern[str] | None
    negation_after: re.Pattern[str] | None
    past: re.Pattern[str] | None
    still: re.Pattern[str] | None
    recovery: re.Pattern[str] | None
    third_party: re.Pattern[str] | None
    clause_breaks: re.Pattern[str]
    sentence_breaks: re.Pattern[str]
    cues: tuple[tuple[str, re.Pattern[str]], ...] = ()


class _Collector:
    def __init__(self, file: str):
        self.file = file
        self.errors: list[ContentError] = []

    def add(self, key: str, problem: str) -> None:
        self.errors.append(ContentError(self.file, key, problem))


def _expand(raw: str, fragments: dict[str, str], key: str, errs: _Collector) -> str | None:
    missing = [name for name in _FRAGMENT_REF.findall(raw) if name not in fragments]
    if missing:
        errs.add(key, f"unknown fragment {{{missing[0]}}}; define it under 'fragments'")
        return None
    return _FRAGMENT_REF.sub(lambda m: fragments[m.group(1)], raw)


def _compile(raw: Any, fragments: dict[str, str], key: str, errs: _Collector, *,
             suffix: str = "") -> re.Pattern[str] | None:
    if not isinstance(raw, str) or not raw.strip():
        errs.add(key, "must be a non-empty regular expression string")
        return None
    expanded = _expand(raw, fragments, key, errs)
    if expanded is None:
        return None
    if _NAMED_GROUP.search(expanded):
        errs.add(key, "named groups and back-references are not allowed (patterns are joined into one)")
        return None
    try:
        compiled = re.compile(f"(?:{fold_pattern(expanded)}){suffix}")
    except re.error as exc:
        errs.add(key, f"bad regular expression: {exc}")
        return None
    if not suffix and compiled.fullmatch(""):
        errs.add(key, "matches the empty string")
        return None
    return compiled


def _compile_list(raw: Any, fragments: dict[str, str], key: str, errs: _Collector, *,
                  suffix: str = "") -> re.Pattern[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        errs.add(key, "must be a list of regular expressions")
        return None
    parts = []
    for i, item in enumerate(raw):
        compiled = _compile(item, fragments, f"{key}[{i}]", errs)
        if compiled is not None:
            parts.append(compiled.pattern)
    if len(parts) != len(raw):
        return None
    return re.compile(f"(?:{'|'.join(parts)}){suffix}")


def _parse_entry(kind: str, index: int, raw: Any, fragments: dict[str, str], seen: set[str],
                 errs: _Collector) -> Entry | None:
    key = f"signals.{kind}[{index}]"
    if not isinstance(raw, dict):
        errs.add(key, "must be a mapping with at least 'id' and 'pattern'")
        return None
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", entry_id):
        errs.add(f"{key}.id", "missing or not snake_case")
        entry_id = None
    else:
        key = f"signals.{kind}.{entry_id}"
        if entry_id in seen:
            errs.add(f"{key}.id", "duplicate id in this file")
            entry_id = None
        else:
            seen.add(entry_id)
    for unknown in sorted(set(raw) - ENTRY_KEYS):
        errs.add(f"{key}.{unknown}", f"unknown key; expected one of {', '.join(sorted(ENTRY_KEYS))}")
    if "pattern" not in raw:
        errs.add(f"{key}.pattern", "missing")
        pattern = None
    else:
        pattern = _compile(raw["pattern"], fragments, f"{key}.pattern", errs)
    score = raw.get("score", 0.7)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 < score <= 1:
        errs.add(f"{key}.score", f"must be a number in (0, 1], got {score!r}")
        score = None
    flags = {}
    for flag, default in (("negatable", kind != "crisis"), ("self_only", False)):
        value = raw.get(flag, default)
        if not isinstance(value, bool):
            errs.add(f"{key}.{flag}", f"must be true or false, got {value!r}")
        flags[flag] = bool(value)
    not_before = _compile_list(raw.get("not_before"), fragments, f"{key}.not_before", errs, suffix="$")
    not_after = _compile_list(raw.get("not_after"), fragments, f"{key}.not_after", errs)
    if entry_id is None or pattern is None or score is None:
        return None
    return Entry(kind=kind, id=entry_id, pattern=pattern, score=float(score),
                 negatable=flags["negatable"], self_only=flags["self_only"],
                 not_before=not_before, not_after=not_after)


def parse_lexicon(data: Any, file: str) -> tuple[Lexicon | None, list[ContentError]]:
    """Compile one lexicon document; return it (or None) with every problem found."""
    errs = _Collector(file)
    if not isinstance(data, dict):
        errs.add("(top)", "must be a mapping with 'language' and 'signals'")
        return None, errs.errors
    for unknown in sorted(set(data) - {"language", "fragments", "context", "signals"}):
        errs.add(unknown, "unknown top-level key; expected language, fragments, context, signals")
    language = data.get("language")
    if language is None:
        errs.add("language", f"missing; must be one of {', '.join(LANGUAGES)}")
    elif language not in LANGUAGES:
        errs.add("language", f"unknown language {language!r}; must be one of {', '.join(LANGUAGES)}")
    fragments: dict[str, str] = {}
    raw_fragments = data.get("fragments") or {}
    if not isinstance(raw_fragments, dict):
        errs.add("fragments", "must be a mapping NAME: regex")
        raw_fragments = {}
    for name, value in raw_fragments.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            errs.add(f"fragments.{name}", "fragment names are UPPER_SNAKE_CASE")
        elif not isinstance(value, str):
            errs.add(f"fragments.{name}", "must be a regex string")
        else:
            fragments[name] = value
    for name, value in fragments.items():
        expanded = _expand(value, {k: v for k, v in fragments.items() if k != name}, f"fragments.{name}", errs)
        if expanded is not None:
            try:
                re.compile(expanded)
            except re.error as exc:
                errs.add(f"fragments.{name}", f"bad regular expression: {exc}")
    context = data.get("context") or {}
    if not isinstance(context, dict):
        errs.add("context", "must be a mapping")
        context = {}
    known = CONTEXT_KEYS + BREAK_KEYS + CUE_KEYS
    for unknown in sorted(set(context) - set(known)):
        errs.add(f"context.{unknown}", f"unknown key; expected one of {', '.join(known)}")
    compiled_context = {
        "negation_before": _compile_list(context.get("negation_before"), fragments,
                                         "context.negation_before", errs, suffix="$"),
        "negation_after": _compile_list(context.get("negation_after"), fragments, "context.negation_after", errs),
        "past": _compile_list(context.get("past"), fragments, "context.past", errs),
        "still": _compile_list(context.get("still"), fragments, "context.still", errs),
        "recovery": _compile_list(context.get("recovery"), fragments, "context.recovery", errs),
        "third_party": _compile_list(context.get("third_party"), fragments, "context.third_party", errs),
    }
    cues = []
    for name in CUE_KEYS:
        compiled = _compile_list(context.get(name), fragments, f"context.{name}", errs)
        if compiled is not None:
            cues.append((name, compiled))
    breaks = {}
    for name in BREAK_KEYS:
        if name not in context:
            errs.add(f"context.{name}", "missing")
        breaks[name] = _compile_list(context.get(name), fragments, f"context.{name}", errs)
    signals = data.get("signals")
    kinds: list[KindMatcher] = []
    if not isinstance(signals, dict):
        errs.add("signals", "missing or not a mapping kind: [entries]")
        signals = {}
    seen: set[str] = set()
    for kind, raw_entries in signals.items():
        if kind not in SIGNAL_KINDS:
            errs.add(f"signals.{kind}", f"unknown signal kind; must be one of {', '.join(SIGNAL_KINDS)}")
            continue
        if not isinstance(raw_entries, list) or not raw_entries:
            errs.add(f"signals.{kind}", "must be a non-empty list of entries")
            continue
        entries = [_parse_entry(kind, i, raw, fragments, seen, errs) for i, raw in enumerate(raw_entries)]
        good = [e for e in entries if e is not None]
        if len(good) == len(entries):
            joined = "|".join(f"(?P<{e.id}>{e.pattern.pattern})" for e in good)
            combined = re.compile((first_char_guard(joined) or "") + f"(?:{joined})")
            kinds.append(KindMatcher(kind=kind, combined=combined, entries={e.id: e for e in good},
                                     ordered=tuple(good)))
    for kind in SIGNAL_KINDS:
        if kind not in signals:
            errs.add(f"signals.{kind}", "missing: every signal kind needs at least one pattern per language")
    if errs.errors:
        return None, errs.errors
    lexicon = Lexicon(language=language, kinds=tuple(kinds),
                      clause_breaks=breaks["clause_breaks"], sentence_breaks=breaks["sentence_breaks"],
                      cues=tuple(cues), **compiled_context)
    return lexicon, []


def load_lexicons(content_dir: Path) -> tuple[dict[str, Lexicon], list[ContentError]]:
    """Read and compile every ``*.yaml`` under ``content_dir/lexicons``; collect all problems."""
    folder = Path(content_dir) / LEXICON_DIR
    errors: list[ContentError] = []
    lexicons: dict[str, Lexicon] = {}
    declared: set[str] = set()
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    if not files:
        errors.append(ContentError(str(folder), "(folder)", "no lexicon files (*.yaml) found"))
    for path in files:
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            errors.append(ContentError(str(path), "(file)", f"not valid YAML: {exc}".replace("\n", " ")))
            continue
        if isinstance(data, dict) and isinstance(data.get("language"), str):
            declared.add(data["language"])
        lexicon, problems = parse_lexicon(data, str(path))
        errors.extend(problems)
        if lexicon is None:
            continue
        if lexicon.language in lexicons:
            errors.append(ContentError(str(path), "language",
                                       f"a second lexicon for {lexicon.language!r}; use one file per language"))
            continue
        lexicons[lexicon.language] = lexicon
    if files:
        for lang in LANGUAGES:
            if lang not in declared:
                errors.append(ContentError(str(folder), lang, "missing language: no lexicon file declares it"))
    return lexicons, errors


def validate_lexicons(content_dir: Path) -> list[ContentError]:
    """Every problem in the lexicons under ``content_dir`` (empty when they are all well formed)."""
    return load_lexicons(content_dir)[1]
