"""The detector: lexicon patterns over normalised text, with context rules for negation,
recovery ("now I can say no"), the past, and other people as the subject.

Everything is compiled at load time; ``Detector.detect`` does no I/O and shares no mutable
state, so one instance serves every thread.
"""
from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

from bot.detect.lexicon import Entry, Lexicon, load_lexicons
from bot.detect.normalise import guess_language, normalise
from bot.errors import ContentInvalid
from bot.types import Signal

_WINDOW = 40  # characters looked at before a match for per-entry not_before rules


class _Context:
    """Clause and sentence boundaries of one folded text, computed only when something matched."""

    __slots__ = ("text", "clause_starts", "sentence_ends")

    def __init__(self, text: str, lexicon: Lexicon):
        self.text = text
        self.clause_starts = [0] + [m.end() for m in lexicon.clause_breaks.finditer(text)]
        self.sentence_ends = [m.end() for m in lexicon.sentence_breaks.finditer(text)] + [len(text)]

    def clause_start(self, pos: int) -> int:
        return self.clause_starts[bisect_right(self.clause_starts, pos) - 1]

    def sentence_index(self, pos: int) -> int:
        return bisect_right(self.sentence_ends, pos)

    def end_of_next_sentence(self, pos: int) -> int:
        i = self.sentence_index(pos) + 1
        return self.sentence_ends[min(i, len(self.sentence_ends) - 1)]


def _accepted(entry: Entry, lexicon: Lexicon, ctx: _Context, start: int, end: int) -> bool:
    text = ctx.text
    if entry.not_after is not None and entry.not_after.match(text, end):
        return False
    if entry.not_before is not None and entry.not_before.search(text, max(0, start - _WINDOW), start):
        return False
    clause_start = ctx.clause_start(start)
    if entry.self_only and lexicon.third_party is not None and lexicon.third_party.search(text, clause_start, start):
        return False
    if not entry.negatable:
        return True
    if lexicon.negation_before is not None and lexicon.negation_before.search(text, clause_start, start):
        return False
    if lexicon.negation_after is not None and lexicon.negation_after.match(text, end):
        return False
    if lexicon.past is not None and lexicon.past.search(text, clause_start, start):
        sentence_end = ctx.sentence_ends[min(ctx.sentence_index(start), len(ctx.sentence_ends) - 1)]
        if lexicon.still is None or not lexicon.still.search(text, clause_start, sentence_end):
            return False
    if lexicon.recovery is not None and lexicon.recovery.search(text, end, ctx.end_of_next_sentence(end)):
        return False
    return True


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


class Detector:
    """Finds signals in a message; build it with ``load_detector``."""

    def __init__(self, lexicons: dict[str, Lexicon]):
        self._lexicons = dict(lexicons)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._lexicons)

    def detect(self, text: str, lang: str | None = None) -> list[Signal]:
        """Signals in ``text``: at most one per kind (the strongest), ordered by where they start."""
        if not text:
            return []
        lang = lang if lang in self._lexicons else guess_language(text)
        lexicon = self._lexicons[lang]
        folded = normalise(text)
        ctx: _Context | None = None
        found: list[Signal] = []
        for matcher in lexicon.kinds:
            best: tuple[float, int, int] | None = None
            pos = 0
            # search from each match's start + 1 rather than finditer: matches of one kind may overlap
            # (頼まれると / 断れなくて), and the stronger one must not be hidden by the first.
            while (m := matcher.combined.search(folded.text, pos)) is not None:
                pos = m.start() + 1
                if ctx is None:
                    ctx = _Context(folded.text, lexicon)
                entry = matcher.entries[m.lastgroup]  # type: ignore[index]
                start, end = m.span()
                if not _accepted(entry, lexicon, ctx, start, end):
                    # The alternation took the first entry that matched here; another one may still hold.
                    retry = None
                    for other in matcher.ordered:
                        if other is entry:
                            continue
                        om = other.pattern.match(folded.text, start)
                        if om and om.end() > start and _accepted(other, lexicon, ctx, start, om.end()):
                            retry = (other, om.end())
                            break
                    if retry is None:
                        continue
                    entry, end = retry
                if best is None or entry.score > best[0]:
                    best = (entry.score, start, end)
            if best is not None:
                score, start, end = best
                o_start, o_end = folded.original_span(start, end)
                o_end = quote_end(text, o_end, lang)
                found.append(Signal(kind=matcher.kind, evidence=text[o_start:o_end],
                                    start=o_start, end=o_end, score=score))
        found.sort(key=lambda s: (s.start, s.end))
        return found


def load_detector(content_dir: Path) -> Detector:
    """Compile the lexicons under ``content_dir``; raise ContentInvalid listing every problem."""
    lexicons, errors = load_lexicons(content_dir)
    if errors:
        raise ContentInvalid(errors)
    return Detector(lexicons)
