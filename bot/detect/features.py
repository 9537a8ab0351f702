"""What the learned model reads in a message: named features, one set per message.

- character n-grams of the folded text (Japanese 1-3, English 3-4 with word edges; English words
  under a negator are upper-cased first, so "not exhausted" has n-grams of its own);
- words: SudachiPy dictionary forms (normalised spelling: ぜーんぶ/ぜんぶ → 全部, 遣る) and their
  bigrams for Japanese, lower-cased words and bigrams for English; a word under a negator is
  also read as ``n:word`` (死に+たい+と+は+思わ+ない → n:思う; not exhausted → n:exhausted);
- scope cues found anywhere (``q:negation``, ``q:hypothetical``, ``q:question``, ``q:reported``,
  ``q:topic``, ``q:past``, ``q:recovery``, ``q:third_party``, ``q:still``) from the lexicons' context;
- every lexicon match with its scope (``h:crisis:ok``, ``e:wish_to_die:negated``) and the cues in
  its clause (``h:overwork:ok&past``).

Features are binary; a message's vector is L2-normalised over the features the model knows, so
each weighs 1/sqrt(number of distinct known features). Bump FEATURE_VERSION whenever this module changes what it
produces: a model trained on other features is refused at start-up.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np

from bot.detect.lexicon import Lexicon
from bot.detect.matching import Clauses, Hit, find_hits
from bot.detect.normalise import Normalised, analyser_form, normalise

FEATURE_VERSION = 5
# The model reads at most this many characters; the crisis lexicon still reads everything.
MODEL_CHARS = 2000
# SudachiPy refuses inputs over 49,149 bytes; Japanese characters take 3 bytes in UTF-8.
_ANALYSER_CHUNK = 4000

_EN_WORD = re.compile(r"[a-z0-9']+")
_EN_NEGATORS = frozenset({"not", "never", "no", "nothing", "nobody", "without", "cannot"})
_EN_NEGATOR_SPELLINGS = frozenset({"dont", "didnt", "cant", "wont", "isnt", "wasnt", "doesnt", "aint", "havent"})
_JA_NEGATORS = frozenset({"ない", "ぬ", "無い", "ず"})
_SCOPE_KEYS = ("past", "still", "recovery", "third_party")
# Feature names: character n-grams are the bare n-gram; every other feature starts with a unit
# separator and a letter, so no n-gram of a message can collide with it.
W, B, N, Q, H, E = "\x1fw", "\x1fb", "\x1fn", "\x1fq", "\x1fh", "\x1fe"
LANG = "\x1flang:"


_NOT_WORDS = "、。,.!?！？「」『』()（）"  # a form that is a substring of this is punctuation, not a word


class Analyser:
    """SudachiPy (core dictionary, mode C): one dictionary per process, one tokenizer per thread."""

    _lock = threading.Lock()
    _dictionary = None

    def __init__(self) -> None:
        with Analyser._lock:
            if Analyser._dictionary is None:
                from sudachipy import Dictionary

                Analyser._dictionary = Dictionary(dict="core")
        self._local = threading.local()

    def _tokenizer(self):
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            from sudachipy import SplitMode

            make = getattr(Analyser._dictionary, "tokenizer", None) or Analyser._dictionary.create
            tok = self._local.tokenizer = make(SplitMode.C)
        return tok

    def lemmas(self, text: str) -> list[str]:
        """Normalised dictionary forms of ``text``'s words, punctuation and spaces left out."""
        tok = self._tokenizer()
        text = analyser_form(text)
        out: list[str] = []
        for i in range(0, len(text), _ANALYSER_CHUNK):
            forms = [m.normalized_form() for m in tok.tokenize(text[i:i + _ANALYSER_CHUNK])]
            out += [form for form in forms if form.strip() and form not in _NOT_WORDS]
        return out


@dataclass(slots=True)
class Reading:
    """One message as the detector sees it. Its features are the character n-grams of
    ``gram_text`` (as 64-bit keys in ``grams``, see ``gram_keys``) plus the ``named`` ones."""

    text: str
    lang: str
    folded: Normalised
    clauses: Clauses
    hits: list[Hit]
    gram_text: str  # the analysed part of the folded text, English negation-marked
    grams: np.ndarray = field(repr=False)  # uint64 keys of char_ngrams(gram_text, lang)
    named: list[str] = field(repr=False)  # every other feature: words, cues, lexicon matches
    cue_clauses: dict[str, set[int]] = field(default_factory=dict)  # scope cue → clauses it is in

    @property
    def features(self) -> list[str]:
        """Every feature by name (what training reads; the detector uses ``grams`` + ``named``)."""
        return char_ngrams(self.gram_text, self.lang) + self.named


def _gram_sizes(text: str, lang: str) -> tuple[str, tuple[int, ...]]:
    if lang == "ja":
        return text, (1, 2, 3)
    return " " + " ".join(text.split()) + " ", (3, 4)


def char_ngrams(text: str, lang: str) -> list[str]:
    """Character n-grams by name: Japanese 1-3, English 3-4 over space-joined words with edges."""
    text, sizes = _gram_sizes(text, lang)
    grams: list[str] = []
    for size in sizes:
        grams += [text[i:i + size] for i in range(len(text) - size + 1)]
    return grams


# An n-gram's key: FNV-1a over its code points, modulo 2**64 (so a text's 1-, 2-, 3- and 4-gram keys
# come from one pass, each size extending the last). Distinct n-grams of the vocabulary get distinct
# keys (the model checks this when it loads); an unknown n-gram taking a known one's key is a
# 1 in 2**64 / vocabulary-size chance.
_FNV_PRIME = np.uint64(0x100000001B3)
_FNV_START = np.uint64(0xCBF29CE484222325)
_MASK64 = (1 << 64) - 1


def gram_key(gram: str) -> int:
    """The 64-bit key of one n-gram (what ``gram_keys`` computes for every n-gram of a text)."""
    h = int(_FNV_START)
    for ch in gram:
        h = ((h ^ ord(ch)) * 0x100000001B3) & _MASK64
    return h


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def _keys_by_size(codes: np.ndarray, sizes: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Keys of every n-gram of ``codes`` for each size in ``sizes`` (ascending), by size."""
    out = {}
    h = codes ^ _FNV_START
    h *= _FNV_PRIME
    for size in range(1, sizes[-1] + 1):
        if size > 1:
            h = h[:-1] ^ codes[size - 1:]
            h *= _FNV_PRIME
        if size in sizes:
            out[size] = h
        if not len(h):
            break
    return out


def gram_keys(text: str, lang: str) -> np.ndarray:
    """Keys of ``char_ngrams(text, lang)``, in the same order, computed with numpy."""
    text, sizes = _gram_sizes(text, lang)
    parts = [keys for keys in _keys_by_size(_codes(text), sizes).values() if len(keys)]
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def segment_gram_keys(pieces: list[str], lang: str) -> tuple[np.ndarray, np.ndarray]:
    """Keys of ``char_ngrams(piece, lang)`` for every piece at once, and the piece each came from."""
    spaced = [_gram_sizes(piece, lang)[0] for piece in pieces]
    sizes = _gram_sizes("", lang)[1]
    codes = _codes("".join(spaced))
    owner = np.repeat(np.arange(len(spaced), dtype=np.intp), [len(p) for p in spaced])
    keys, owners = [], []
    for size, found in _keys_by_size(codes, sizes).items():
        if not len(found):
            continue
        inside = owner[:len(found)] == owner[size - 1:]  # n-grams that stay in one piece
        keys.append(found[inside])
        owners.append(owner[:len(found)][inside])
    if not keys:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.intp)
    return np.concatenate(keys), np.concatenate(owners)


_EN_TOKEN = re.compile(r"[a-z0-9']+|[.!?;,]")
_EN_SCOPE_ENDS = frozenset({".", "!", "?", ";", ",", "but", "though", "although", "however"})


def negation_marked(folded: str) -> str:
    """English text with the up-to-three words after a negator upper-cased, so the character
    n-grams of "not exhausted" differ from those of "exhausted" (folded text is lower case)."""
    chars = None
    remaining = 0
    for m in _EN_TOKEN.finditer(folded):
        word = m.group()
        if word in _EN_SCOPE_ENDS:
            remaining = 0
        elif word in _EN_NEGATORS or word.endswith("n't") or word in _EN_NEGATOR_SPELLINGS:
            remaining = 3
        elif remaining:
            remaining -= 1
            if chars is None:
                chars = list(folded)
            chars[m.start():m.end()] = word.upper()
    return folded if chars is None else "".join(chars)


def _words(words: list[str], negators: frozenset[str], lang: str) -> list[str]:
    out = [W + w for w in words]
    out += [B + a + "_" + b for a, b in zip(["<s>", *words], [*words, "</s>"])]
    if lang == "en":
        negated_until = -1
        for i, w in enumerate(words):
            if w in negators or w.endswith("n't"):
                negated_until = i + 3
            elif i <= negated_until:
                out.append(N + w)
    elif negators.intersection(words):
        for i, w in enumerate(words):
            if not negators.isdisjoint(words[i + 1:i + 4]):
                out.append(N + w)
    return out


class Featuriser:
    """Turns a message into a ``Reading``; thread-safe, holds no per-message state."""

    def __init__(self, lexicons: dict[str, Lexicon], analyser: Analyser | None = None):
        self.lexicons = lexicons
        self.analyser = analyser or Analyser()
        # All scope cues of a language in one pass (leftmost, non-overlapping matches).
        self._cues = {}
        for lang, lexicon in lexicons.items():
            named = [*lexicon.cues, *((name, getattr(lexicon, name)) for name in _SCOPE_KEYS)]
            parts = [f"(?P<{name}>{pattern.pattern})" for name, pattern in named if pattern is not None]
            self._cues[lang] = re.compile("|".join(parts)) if parts else None

    def read(self, text: str, lang: str) -> Reading:
        lexicon = self.lexicons[lang]
        folded = normalise(text)
        clauses = Clauses(folded.text, lexicon)
        hits = find_hits(folded.text, lexicon, clauses)
        cue_clauses: dict[str, set[int]] = {}
        head = folded.text[:MODEL_CHARS]
        gram_text = head if lang == "ja" else negation_marked(head)
        named = self.named_features(head, lang, clauses, hits, cue_clauses)
        return Reading(text, lang, folded, clauses, hits, gram_text, gram_keys(gram_text, lang), named,
                       cue_clauses)

    def features(self, folded: str, lang: str, clauses: Clauses | None = None,
                 hits: list[Hit] | None = None, cue_clauses: dict[str, set[int]] | None = None) -> list[str]:
        """Feature names of one folded text; a name may repeat, features are binary. When
        ``cue_clauses`` is given it is filled with the clauses each scope cue was found in."""
        out = char_ngrams(folded if lang == "ja" else negation_marked(folded), lang)
        return out + self.named_features(folded, lang, clauses, hits, cue_clauses)

    def named_features(self, folded: str, lang: str, clauses: Clauses | None = None,
                       hits: list[Hit] | None = None, cue_clauses: dict[str, set[int]] | None = None) -> list[str]:
        """Every feature but the character n-grams (see ``features``)."""
        out = [LANG + lang]
        if lang == "ja":
            out += _words(self.analyser.lemmas(folded), _JA_NEGATORS, lang)
        else:
            out += _words(_EN_WORD.findall(folded), _EN_NEGATORS, lang)
        if cue_clauses is None:
            cue_clauses = {}
        cues = self._cues[lang]
        if cues is not None:
            for m in cues.finditer(folded):
                name = m.lastgroup
                where = cue_clauses.get(name)
                if where is None:
                    where = cue_clauses[name] = set()
                    out.append(Q + name)
                if clauses is not None:
                    where.add(clauses.index(m.start()))
        for hit in hits or ():
            if hit.start >= len(folded):
                continue
            kind_scope = f"{H}{hit.kind}:{hit.scope}"
            out.append(H + hit.kind)
            out.append(kind_scope)
            out.append(f"{E}{hit.entry_id}:{hit.scope}")
            for cue, where in cue_clauses.items():
                if hit.clause in where:
                    out.append(f"{kind_scope}&{cue}")
        return out
