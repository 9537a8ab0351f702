"""Text normalisation, done once for the whole bot, with a map back to the user's own characters.

``fold`` is the one folded form every matcher uses (the detectors, and the conversation engine's
understanding of free text):

- NFKC: full-width letters and digits, half-width katakana (ｺﾄﾜﾚﾅｲ → コトワレナイ);
- lower case; curly apostrophes and quotes made straight;
- a long-vowel mark or wave dash after kana dropped (ぜーんぶ → ぜんぶ, すご〜い → すごい);
- a run of three or more of one character shortened (つらいいいい → つらい, www → ww, soooo → soo);
  digits are never shortened (2000 stays 2000);
- katakana folded to hiragana (コトワレナイ → ことわれない).

``normalise`` returns the same folded text plus, for each folded character, the span of original
characters it came from, so evidence is always a slice of what the user actually wrote.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Katakana ァ..ヶ fold onto hiragana ぁ..ゖ; ー and ・ have no hiragana twin and stay.
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_APOSTROPHES = {ord(c): "'" for c in "\u2018\u2019\u02bc\u2032\uff07`"}
_QUOTES = {ord(c): '"' for c in "\u201c\u201d"}
FOLD_TABLE = {**_KATAKANA_TO_HIRAGANA, **_APOSTROPHES, **_QUOTES}
_PUNCTUATION_TABLE = {**_APOSTROPHES, **_QUOTES}

_ELONGATION = frozenset("ー~〜")
# Characters that attach to the one before them and may compose with it under NFKC.
_HALFWIDTH_SOUND_MARKS = ("\uff9e", "\uff9f")
# Anything that may change length or needs the slow path: elongation marks, runs of three.
_NEEDS_CARE = re.compile(r"[ー~〜\uff70\uff5e]|([^0-9])\1\1")
_RUNS_FOR_ANALYSER = re.compile(r"([^0-9])\1{2,}")


def _is_kana(ch: str) -> bool:
    code = ord(ch)
    return 0x3041 <= code <= 0x3096 or 0x30A1 <= code <= 0x30FA


def _is_latin_letter(ch: str) -> bool:
    return "a" <= ch <= "z"


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
        if end <= start:
            return self.starts[start], self.starts[start]
        return self.starts[start], self.ends[end - 1]


def _clusters(text: str):
    """(start, end, NFKC + lower-cased piece) for each base character with its combining marks."""
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and (unicodedata.combining(text[j]) or text[j] in _HALFWIDTH_SOUND_MARKS
                         or "\u3099" <= text[j] <= "\u309a"):
            j += 1
        yield i, j, unicodedata.normalize("NFKC", text[i:j]).lower().translate(_PUNCTUATION_TABLE)
        i = j


def normalise(text: str) -> Normalised:
    """Fold ``text`` (see the module docstring) and keep the offset map back to it."""
    if unicodedata.is_normalized("NFKC", text) and _NEEDS_CARE.search(text) is None:
        folded = text.lower().translate(FOLD_TABLE)
        if len(folded) == len(text):
            return Normalised(folded)
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    run_char, run_length = "", 0
    for i, j, piece in _clusters(text):
        for ch in piece:
            if ch in _ELONGATION and chars and _is_kana(chars[-1]):
                ends[-1] = j  # the mark belongs to the vowel it lengthens
                continue
            run_char, run_length = (ch, run_length + 1) if ch == run_char else (ch, 1)
            if run_length >= 3 and not ch.isdigit() and not ch.isspace():
                if run_length == 3 and not _is_latin_letter(ch):
                    chars.pop(), starts.pop(), ends.pop()  # つらいいい → つらい: one left, not two
                ends[-1] = j
                continue
            chars.append(ch)
            starts.append(i)
            ends.append(j)
    folded = "".join(chars).translate(_KATAKANA_TO_HIRAGANA)
    return Normalised(folded, tuple(starts), tuple(ends))


def fold(text: str) -> str:
    """The folded form of ``text`` used for every match (see the module docstring)."""
    return normalise(text).text


def fold_pattern(pattern: str) -> str:
    """Fold a lexicon pattern the way text is folded, so authors can write katakana or hiragana,
    and ぜーんぶ-style long vowels in a pattern still match."""
    out: list[str] = []
    for ch in pattern:
        if ch in _ELONGATION and out and _is_kana(out[-1]):
            continue
        out.append(ch)
    return "".join(out).translate(_KATAKANA_TO_HIRAGANA)


def analyser_form(text: str) -> str:
    """Text for the morphological analyser: NFKC with runs shortened, katakana kept (so loan words
    are still recognised), lengths not preserved."""
    return _RUNS_FOR_ANALYSER.sub(r"\1", unicodedata.normalize("NFKC", text))


def guess_language(text: str) -> str:
    """"ja" when the text has any kana or kanji, else "en"."""
    for ch in text:
        code = ord(ch)
        if (0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
                or 0xFF66 <= code <= 0xFF9F or 0x31F0 <= code <= 0x31FF or 0xF900 <= code <= 0xFAFF):
            return "ja"
    return "en"


_KATAKANA_SOUNDS = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def sound_form(text: str) -> str:
    """NFKC, lower case, hiragana, runs of three or more shortened to two and long-vowel marks kept
    (one each): the form in which a sound of hesitation (「ｳｰｰﾝ」 → 「うーん」, "hmmmm" → "hmm") stays
    apart from the word it folds into (「うーん」 is not 「うん」)."""
    t = unicodedata.normalize("NFKC", text).strip().lower().translate(_KATAKANA_SOUNDS)
    t = re.sub(r"(.)\1{2,}", r"\1\1", t)
    return re.sub(r"[ー〜~]+", "ー", t)


def without_hesitation(text: str, sounds: "tuple[str, ...]") -> str | None:
    """What follows a leading sound of hesitation (``sounds`` in :func:`sound_form`), or None when the
    text does not start with one: 「うーん、そうかも」 → 「そうかも」, 「うーん」 → ""."""
    sound = sound_form(text)
    for p in sorted(sounds, key=len, reverse=True):
        if p and sound.startswith(p) and not (p.isascii() and sound[len(p):len(p) + 1].isalnum()):
            return sound[len(p):].lstrip(" 、,.。…!！?？")
    return None
