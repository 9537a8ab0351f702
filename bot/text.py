"""Small text utilities shared by the engine and content: normalising what people type.
(Reading meaning, scores included, is bot/understand.py.)"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_KATAKANA_TO_HIRAGANA = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}
_EDGE_PUNCT = "。、．，.,!！?？〜~…・「」『』()（）[]【】\"'`*"
# Polite or softening wrappers people put around a command; removed before matching.
_POLITE_SUFFIXES = (
    "をおねがいします", "をお願いします", "おねがいします", "お願いします", "おねがい", "お願い", "してください", "して下さい", "ください", "下さい",
    "を教えて", "をおしえて", "教えて", "おしえて", "をして", "して", "したいです", "したい", "です", "を",
    " please", " pls", " plz",
)
_POLITE_PREFIXES = ("please ", "pls ", "plz ", "can you ", "could you ", "i want to ", "i'd like to ", "let's ")


def katakana_to_hiragana(text: str) -> str:
    return text.translate(_KATAKANA_TO_HIRAGANA)


@lru_cache(maxsize=8192)
def normalize_command(text: str) -> str:
    """Fold what someone typed so command phrases match: NFKC (full-width → half-width),
    lower case, katakana → hiragana, no edge punctuation, no polite wrapper, single spaces."""
    t = unicodedata.normalize("NFKC", text).lower().strip()
    t = katakana_to_hiragana(t)
    t = re.sub(r"\s+", " ", t).strip(_EDGE_PUNCT + " ")
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
