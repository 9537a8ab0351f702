"""Lexicon matches over folded text, each with the scope it was found in.

A match is not a decision: the learned model reads every match as a feature together with its
scope (``ok``, or why the context rules would have dropped it: ``negated``, ``past``,
``recovered``, ``other_person``, ``excluded``). Matches in scope ``ok`` are also what evidence
quotes, and crisis matches in scope ``ok`` or ``past`` are the safety net (see detector.py).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from bot.detect.lexicon import Entry, Lexicon

_WINDOW = 40  # characters looked at before a match for per-entry not_before rules

OK = "ok"


@dataclass(frozen=True, slots=True)
class Hit:
    """One lexicon match in folded text."""

    kind: str
    entry_id: str
    start: int
    end: int
    score: float
    scope: str
    clause: int  # index of the clause it starts in


class Clauses:
    """Clause and sentence boundaries of one folded text."""

    __slots__ = ("text", "starts", "sentence_ends")

    def __init__(self, text: str, lexicon: Lexicon):
        self.text = text
        self.starts = [0] + [m.end() for m in lexicon.clause_breaks.finditer(text) if m.end() < len(text)]
        self.sentence_ends = [m.end() for m in lexicon.sentence_breaks.finditer(text)] + [len(text)]

    def index(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1

    def span(self, index: int) -> tuple[int, int]:
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        return self.starts[index], end

    def start_of(self, pos: int) -> int:
        return self.starts[self.index(pos)]

    def sentence_index(self, pos: int) -> int:
        return bisect_right(self.sentence_ends, pos)

    def end_of_next_sentence(self, pos: int) -> int:
        i = self.sentence_index(pos) + 1
        return self.sentence_ends[min(i, len(self.sentence_ends) - 1)]


def scope_of(entry: Entry, lexicon: Lexicon, clauses: Clauses, start: int, end: int) -> str:
    """Why the context rules would drop this match, or ``ok``. Crisis entries always get the
    negation, past and recovery rules (whatever ``negatable`` says): the safety net needs them."""
    text = clauses.text
    if entry.not_after is not None and entry.not_after.match(text, end):
        return "excluded"
    if entry.not_before is not None and entry.not_before.search(text, max(0, start - _WINDOW), start):
        return "excluded"
    clause_start = clauses.start_of(start)
    if entry.self_only and lexicon.third_party is not None and lexicon.third_party.search(text, clause_start, start):
        return "other_person"
    if not entry.negatable and entry.kind != "crisis":
        return OK  # the pattern spells out its own negation ("can't say no")
    if lexicon.negation_before is not None and lexicon.negation_before.search(text, clause_start, start):
        return "negated"
    if lexicon.negation_after is not None and lexicon.negation_after.match(text, end):
        return "negated"
    if lexicon.past is not None and lexicon.past.search(text, clause_start, start):
        sentence_end = clauses.sentence_ends[min(clauses.sentence_index(start), len(clauses.sentence_ends) - 1)]
        if lexicon.still is None or not lexicon.still.search(text, clause_start, sentence_end):
            return "past"
    if lexicon.recovery is not None and lexicon.recovery.search(text, end, clauses.end_of_next_sentence(end)):
        return "recovered"
    return OK


def find_hits(text: str, lexicon: Lexicon, clauses: Clauses) -> list[Hit]:
    """Every lexicon match in folded ``text``: per kind, at each position the first entry whose
    scope is ``ok`` (else the first entry that matched)."""
    hits: list[Hit] = []
    for matcher in lexicon.kinds:
        pos = 0
        # search from each match's start + 1 rather than finditer: matches of one kind may overlap
        # (頼まれると / 断れなくて), and the stronger one must not be hidden by the first.
        while (m := matcher.combined.search(text, pos)) is not None:
            pos = m.start() + 1
            entry = matcher.entries[m.lastgroup]  # type: ignore[index]
            start, end = m.span()
            scope = scope_of(entry, lexicon, clauses, start, end)
            if scope != OK:
                # The alternation took the first entry that matched here; another one may hold.
                for other in matcher.ordered:
                    if other is entry:
                        continue
                    om = other.pattern.match(text, start)
                    if om and om.end() > start and scope_of(other, lexicon, clauses, start, om.end()) == OK:
                        entry, end, scope = other, om.end(), OK
                        break
            hits.append(Hit(matcher.kind, entry.id, start, end, entry.score, scope, clauses.index(start)))
    return hits


# Inflection endings a Japanese quote reads better with: 「断れなくて」 rather than 「断れなく」.
# Longest first; only these, so a quote never runs on into the next clause.
_JA_QUOTE_ENDINGS = tuple(sorted((
    "てしまいます", "てしまった", "てしまう", "しています", "している", "してます", "してる", "しました",
    "ています", "ている", "てます", "てる", "ました", "ません", "なくて", "ないです", "ない", "ます", "です",
    "くて", "ずに", "した", "する", "て", "ず", "た", "い",
), key=len, reverse=True))


def quote_end(text: str, end: int, lang: str) -> int:
    """Where a quoted span should end: past a Japanese inflection ending that directly follows it."""
    if lang != "ja":
        return end
    for ending in _JA_QUOTE_ENDINGS:
        if text.startswith(ending, end):
            return end + len(ending)
    return end
