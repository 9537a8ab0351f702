"""Small text utilities shared by the engine and content: normalising what people type.
(Reading meaning, scores included, is bot/understand.py.)"""
from __future__ import annotations

import re
from functools import lru_cache

from bot.detect.normalise import fold

_EDGE_PUNCT = "。、．，.,!！?？〜~…・「」『』()（）[]【】\"'`*"
# Polite or softening wrappers people put around a command; removed before matching.
_POLITE_SUFFIXES = (
    "をおねがいします", "をお願いします", "おねがいします", "お願いします", "おねがい", "お願い", "してください", "して下さい", "ください", "下さい",
    "を教えて", "をおしえて", "教えて", "おしえて", "をして", "して", "したいです", "したい", "です", "を",
    " please", " pls", " plz",
)
_POLITE_PREFIXES = ("please ", "pls ", "plz ", "can you ", "could you ", "i want to ", "i'd like to ", "let's ")


@lru_cache(maxsize=8192)
def normalize_command(text: str) -> str:
    """Fold what someone typed so command phrases match: the one folding of ``bot.detect.normalise.fold``
    (width, case, kana, long vowels, repeated characters), single spaces, no edge punctuation, no polite wrapper."""
    t = fold(re.sub(r"\s+", " ", text)).strip(_EDGE_PUNCT + " ")
    changed = True
    while changed and t:
        changed = False
        for p in _POLITE_PREFIXES:
            if t.startswith(p) and len(t) > len(p):
                t, changed = t[len(p):].strip(), True
        for s in _POLITE_SUFFIXES:
            if t.endswith(s) and len(t) > len(s):
                t, changed = t[: -len(s)].strip(_EDGE_PUNCT + " "), True
    return t
