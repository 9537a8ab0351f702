"""A cheap guard in front of each joined pattern: the characters a match can start with.

Python's ``re`` tries every branch of an alternation at every position. Putting
``(?=[first characters])`` in front lets most positions fail after one set test, which is what
keeps a few hundred patterns under the 20,000 messages/second goal. The set is computed from
the parsed pattern and errs on the side of too many characters; when it cannot be worked out
(a pattern may start with any character) there is no guard and matching is simply slower.
"""
from __future__ import annotations

import re

try:  # the parser is private; without it we lose only speed, never matches
    from re import _constants as _c, _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _c = _p = None

_ANY = object()


def _first(items) -> tuple[set | object, bool]:
    """First characters of a sequence of parsed items, and whether the sequence can match empty."""
    chars: set = set()
    for op, av in items:
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            continue
        if op is _c.LITERAL:
            chars.add(("c", av))
            return chars, False
        if op is _c.IN:
            for sub_op, sub_av in av:
                if sub_op is _c.LITERAL:
                    chars.add(("c", sub_av))
                elif sub_op is _c.RANGE:
                    chars.add(("r", sub_av))
                else:
                    return _ANY, False
            return chars, False
        if op is _c.SUBPATTERN:
            sub, nullable = _first(av[-1])
        elif op is _c.BRANCH:
            sub, nullable = set(), False
            for alternative in av[1]:
                alt_chars, alt_nullable = _first(alternative)
                if alt_chars is _ANY:
                    return _ANY, False
                sub |= alt_chars
                nullable = nullable or alt_nullable
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            sub, nullable = _first(av[2])
            nullable = nullable or av[0] == 0
        else:
            return _ANY, False
        if sub is _ANY:
            return _ANY, False
        chars |= sub
        if not nullable:
            return chars, False
    return chars, True


def first_char_guard(pattern: str) -> str | None:
    """A ``(?=[...])`` lookahead listing every character a match of ``pattern`` can start with, or None."""
    if _p is None:
        return None
    try:
        chars, nullable = _first(_p.parse(pattern))
    except Exception:  # an unusual construct: no guard rather than a wrong one
        return None
    if chars is _ANY or nullable or not chars:
        return None
    parts = []
    for kind, value in sorted(chars, key=repr):
        if kind == "c":
            parts.append(re.escape(chr(value)))
        else:
            parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
    return f"(?=[{''.join(parts)}])"
