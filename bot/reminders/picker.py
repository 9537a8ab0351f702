"""Which nudge to send: pure, with the randomness injected.

Rules:
* Nudges come from the themes in ``content/nudges``. Within a theme a person meets every nudge
  once before any repeats: history is kept per theme in rounds, and a theme whose round is used
  up starts the next round.
* Among the nudges still fresh in their theme's round, the choice is random but weighted toward
  what was recently noticed in this person's messages: a nudge tagged with a signal kind seen
  in the last 14 days weighs ``1 + SIGNAL_BOOST`` per matching kind, others weigh 1.
"""
from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.content import Nudge

SIGNAL_WINDOW = timedelta(days=14)
SIGNAL_BOOST = 3.0


@dataclass(frozen=True, slots=True)
class ThemeRound:
    """A person's progress through one theme: the current round and the nudges used in it."""

    round: int
    used: frozenset[str]


def nudge_weight(nudge: Nudge, recent_kinds: Collection[str]) -> float:
    return 1.0 + SIGNAL_BOOST * sum(1 for k in nudge.signals if k in recent_kinds)


def pick_nudge(nudges: Sequence[Nudge], *, history: Mapping[str, ThemeRound], recent_kinds: Collection[str],
               rng: random.Random) -> tuple[Nudge, int] | None:
    """The next nudge and the round it belongs to, or None when there are no nudges at all."""
    by_theme: dict[str, list[Nudge]] = {}
    for n in nudges:
        by_theme.setdefault(n.theme, []).append(n)
    candidates: list[tuple[Nudge, int]] = []
    for theme in sorted(by_theme):
        pool = sorted(by_theme[theme], key=lambda n: n.id)
        progress = history.get(theme, ThemeRound(1, frozenset()))
        fresh = [n for n in pool if n.id not in progress.used]
        round_no = progress.round
        if not fresh:
            fresh, round_no = pool, progress.round + 1
        candidates.extend((n, round_no) for n in fresh)
    if not candidates:
        return None
    weights = [nudge_weight(n, recent_kinds) for n, _ in candidates]
    return rng.choices(candidates, weights=weights, k=1)[0]
