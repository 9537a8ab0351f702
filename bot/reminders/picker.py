"""Which nudge to send: pure, with the randomness injected.

Rules:
* Nudges come from the themes in ``content/nudges``. A person meets every nudge once before any
  repeats: history is kept per theme in rounds, and only themes in the lowest round are drawn
  from (so all themes move to the next round together).
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


def group_by_theme(nudges: Sequence[Nudge]) -> dict[str, list[Nudge]]:
    """Nudges per theme, each list sorted by id (prepare once; pass as ``pools``)."""
    by_theme: dict[str, list[Nudge]] = {}
    for n in sorted(nudges, key=lambda n: n.id):
        by_theme.setdefault(n.theme, []).append(n)
    return dict(sorted(by_theme.items()))


def pick_nudge(nudges: Sequence[Nudge], *, history: Mapping[str, ThemeRound], recent_kinds: Collection[str],
               rng: random.Random, pools: Mapping[str, Sequence[Nudge]] | None = None) -> tuple[Nudge, int] | None:
    """The next nudge and the round it belongs to, or None when there are no nudges at all."""
    by_theme = pools if pools is not None else group_by_theme(nudges)
    # A theme whose round is used up is in its next round, with nothing used yet. Only the themes
    # in the lowest round are drawn from, so nothing repeats before the whole collection has been
    # seen, and a theme added later catches up first.
    current: list[tuple[int, frozenset[str], Sequence[Nudge]]] = []
    for theme, pool in by_theme.items():
        progress = history.get(theme)
        if progress is None:
            current.append((1, frozenset(), pool))
        elif all(n.id in progress.used for n in pool):
            current.append((progress.round + 1, frozenset(), pool))
        else:
            current.append((progress.round, progress.used, pool))
    lowest = min((r for r, _, _ in current), default=1)
    candidates = [(n, r) for r, used, pool in current if r == lowest for n in pool if n.id not in used]
    if not candidates:
        return None
    if not recent_kinds:
        return rng.choice(candidates)
    weights = [nudge_weight(n, recent_kinds) for n, _ in candidates]
    return rng.choices(candidates, weights=weights, k=1)[0]
