"""Text normalisation for the detectors, keeping a map back to the user's original characters.

The detectors match over a folded form of the text: NFKC (full-width digits and letters,
half-width katakana), lower case, curly apostrophes made straight, and katakana folded to
hiragana so that one pattern covers コトワレナイ and ことわれない. Every normalised character
remembers the span of original characters it came from, so evidence is always a slice of what
the user actually wrote.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Katakana ァ..ヶ fold onto hiragana ぁ..ゖ; ー and ・ have no hiragana twin and stay.
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_APOSTROPHES = {ord(c): "'" for c in "\u2018\u2019\u02bc\u2032\uff07`"}
_QUOTES = {ord(c): '"' for c in "\u201c\u201d"}
FOLD_TABLE = {**_KATAKANA_TO_HIRAGANA, **_APOSTROPHES, **_QUOTES}

# Characters that attach to the one before them and may compose with it under NFKC.
_HALFWIDTH_SOUND_MARKS = ("\uff9e", "\uff9f")


def fold_pattern(pattern: str) -> str:
    """Fold a lexicon pattern the way text is folded (katakana to hiragana), so authors can write either."""
    return pattern.translate(_KATAKANA_TO_HIRAGANA)


@dataclass(frozen=True, slots=True)
class Normalised:
    """Folded text plus, for each folded character, the original span it came from.

    ``starts``/``ends`` are None when folding kept every character in place (the common case),
    which makes the map the identity.
    """

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the folded text to the span of the original text it came from."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def _fold(text: str) -> str:
    return text.lower().translate(FOLD_TABLE)


def normalise(text: str) -> Normalised:
    """Fold ``text`` for matching and keep the offset map back to it."""
    if unicodedata.is_normalized("NFKC", text):
        folded = _fold(text)
        if len(folded) == len(text):
            return Normalised(folded)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and (unicodedata.combining(text[j]) or text[j] in _HALFWIDTH_SOUND_MARKS
                         or "\u3099" <= text[j] <= "\u309a"):
            j += 1
        piece = _fold(unicodedata.normalize("NFKC", text[i:j]))
        pieces.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return Normalised("".join(pieces), tuple(starts), tuple(ends))


def guess_language(text: str) -> str:
    """"ja" when the text has any kana or kanji, else "en"."""
    for ch in text:
        code = ord(ch)
        if (0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
                or 0xFF66 <= code <= 0xFF9F or 0x31F0 <= code <= 0x31FF or 0xF900 <= code <= 0xFAFF):
            return "ja"
    return "en"


def fold(text: str) -> str:
    """The detectors' folding of ``text`` (NFKC, lower case, katakana to hiragana), without the offset map."""
    return _fold(unicodedata.normalize("NFKC", text))
