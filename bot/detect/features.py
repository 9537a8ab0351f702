"""What the learned model reads in a message: named features, one set per message.

- character n-grams of the folded text (Japanese 1-4, English 3-5 with word edges);
- words: SudachiPy dictionary forms (normalised spelling: ぜーんぶ/ぜんぶ → 全部, 遣る) and their
  bigrams for Japanese, lower-cased words and bigrams for English; a word under a negator is
  also read as ``n:word`` (死に+たい+と+は+思わ+ない → n:思う; not exhausted → n:exhausted);
- scope cues found anywhere (``q:negation``, ``q:hypothetical``, ``q:question``, ``q:reported``,
  ``q:topic``, ``q:past``, ``q:recovery``, ``q:third_party``, ``q:still``) from the lexicons' context;
- every lexicon match with its scope (``h:crisis:ok``, ``e:wish_to_die:negated``) and the cues in
  its clause (``h:overwork:ok&past``).

Features are binary; a message's vector is L2-normalised, so each present feature weighs
1/sqrt(number of features generated). Bump FEATURE_VERSION whenever this module changes what it
produces: a model trained on other features is refused at start-up.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from bot.detect.lexicon import Lexicon
from bot.detect.matching import Clauses, Hit, find_hits
from bot.detect.normalise import Normalised, analyser_form, normalise

FEATURE_VERSION = 1
# The model reads at most this many characters; the crisis lexicon still reads everything.
MODEL_CHARS = 2000
# SudachiPy refuses inputs over 49,149 bytes; Japanese characters take 3 bytes in UTF-8.
_ANALYSER_CHUNK = 4000

_EN_WORD = re.compile(r"[a-z0-9']+")
_EN_NEGATORS = frozenset({"not", "never", "no", "nothing", "nobody", "without", "cannot"})
_JA_NEGATORS = frozenset({"ない", "ぬ", "無い", "ず"})
_SCOPE_KEYS = ("past", "still", "recovery", "third_party")


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

            tok = self._local.tokenizer = Analyser._dictionary.create(SplitMode.C)
        return tok

    def lemmas(self, text: str) -> list[str]:
        """Normalised dictionary forms of ``text``'s words, punctuation and spaces left out."""
        tok = self._tokenizer()
        text = analyser_form(text)
        out: list[str] = []
        for i in range(0, len(text), _ANALYSER_CHUNK):
            for m in tok.tokenize(text[i:i + _ANALYSER_CHUNK]):
                form = m.normalized_form()
                if form.strip() and form not in "、。,.!?！？「」『』()（）":
                    out.append(form)
        return out


@dataclass(slots=True)
class Reading:
    """One message as the detector sees it."""

    text: str
    lang: str
    folded: Normalised
    clauses: Clauses
    hits: list[Hit]
    features: list[str]


def _char_ngrams(text: str, lang: str, out: set[str]) -> None:
    if lang == "ja":
        n = len(text)
        for size in (1, 2, 3, 4):
            for i in range(n - size + 1):
                out.add("c" + text[i:i + size])
    else:
        padded = " " + " ".join(text.split()) + " "
        n = len(padded)
        for size in (3, 4, 5):
            for i in range(n - size + 1):
                out.add("c" + padded[i:i + size])


def _words(words: list[str], negators: frozenset[str], out: set[str], lang: str) -> None:
    previous = "<s>"
    negated_until = -1
    for i, w in enumerate(words):
        out.add("w:" + w)
        out.add("b:" + previous + "_" + w)
        previous = w
        if lang == "en":
            if w in negators or w.endswith("n't"):
                negated_until = i + 3
            elif i <= negated_until:
                out.add("n:" + w)
        elif lang == "ja" and any(x in negators for x in words[i + 1:i + 4]):
            out.add("n:" + w)
    out.add("b:" + previous + "_</s>")


class Featuriser:
    """Turns a message into a ``Reading``; thread-safe, holds no per-message state."""

    def __init__(self, lexicons: dict[str, Lexicon], analyser: Analyser | None = None):
        self.lexicons = lexicons
        self.analyser = analyser or Analyser()

    def read(self, text: str, lang: str) -> Reading:
        lexicon = self.lexicons[lang]
        folded = normalise(text)
        clauses = Clauses(folded.text, lexicon)
        hits = find_hits(folded.text, lexicon, clauses)
        features = self.features(folded.text[:MODEL_CHARS], lang, clauses, hits)
        return Reading(text, lang, folded, clauses, hits, features)

    def features(self, folded: str, lang: str, clauses: Clauses | None = None,
                 hits: list[Hit] | None = None) -> list[str]:
        """Feature names of one folded text (a message, or one clause of it when hits is None)."""
        lexicon = self.lexicons[lang]
        out: set[str] = {"lang:" + lang}
        _char_ngrams(folded, lang, out)
        if lang == "ja":
            _words(self.analyser.lemmas(folded), _JA_NEGATORS, out, lang)
        else:
            _words(_EN_WORD.findall(folded), _EN_NEGATORS, out, lang)
        cue_clauses: dict[str, set[int]] = {}
        for name, pattern in lexicon.cues:
            self._cue(name, pattern, folded, clauses, out, cue_clauses)
        for name in _SCOPE_KEYS:
            pattern = getattr(lexicon, name)
            if pattern is not None:
                self._cue(name, pattern, folded, clauses, out, cue_clauses)
        for hit in hits or ():
            if hit.start >= len(folded):
                continue
            kind_scope = f"h:{hit.kind}:{hit.scope}"
            out.add("h:" + hit.kind)
            out.add(kind_scope)
            out.add(f"e:{hit.entry_id}:{hit.scope}")
            for cue, where in cue_clauses.items():
                if hit.clause in where:
                    out.add(f"{kind_scope}&{cue}")
        return list(out)

    @staticmethod
    def _cue(name, pattern, folded, clauses, out, cue_clauses) -> None:
        found = None
        for m in pattern.finditer(folded):
            found = True
            if clauses is None:
                break
            cue_clauses.setdefault(name, set()).add(clauses.index(m.start()))
        if found:
            out.add("q:" + name)
