"""Flex messages (pure): a saved check-in as a small card, and the weekly trend as bars.

Each builder returns a complete LINE message object (``type: flex``) with an ``altText`` for
notifications and for clients that cannot show Flex. Words come from content
(``content/messages/*/line.yaml``) through ``text(message_id, values)``; numbers from the
check-in itself or from ``bot.insights.weekly_trend`` (averages per week, never text);
``card_message`` encodes the core's ``CheckinCard`` and ``TrendCard`` items with them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.types import CheckinCard, TrendCard
from handlers.line.messages import line_length

ALT_TEXT_MAX = 400
METRICS = ("energy", "boundaries", "client_respect")
SCALE = 5
COLOURS = {"energy": "#5B8C7A", "boundaries": "#C7805C", "client_respect": "#6B7FB0"}
EMPTY = "#E8E3DA"
TEXT = "#3B3A36"
SUBTEXT = "#7A756C"
BAR_MAX_PX = 48
Texts = Callable[..., str]


def _alt(text: str) -> str:
    if line_length(text) <= ALT_TEXT_MAX:
        return text
    return text[:ALT_TEXT_MAX - 1] + "…"


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def _score_row(label: str, score: int | None, colour: str) -> dict[str, Any]:
    """A metric's label, five pips (filled up to the score) and the score."""
    pips = [{"type": "box", "layout": "vertical", "contents": [], "height": "10px", "flex": 1,
             "cornerRadius": "xs", "backgroundColor": colour if score is not None and i < score else EMPTY}
            for i in range(SCALE)]
    return {"type": "box", "layout": "vertical", "spacing": "xs", "contents": [
        {"type": "box", "layout": "horizontal", "contents": [
            _text(label, size="sm", color=TEXT, flex=4),
            _text(f"{score}/{SCALE}" if score is not None else "–", size="sm", color=SUBTEXT, align="end", flex=1),
        ]},
        {"type": "box", "layout": "horizontal", "spacing": "xs", "contents": pips},
    ]}


def checkin_summary(scores: dict[str, int | None], *, text: Texts) -> dict[str, Any]:
    """The check-in just saved, as a card: energy, boundaries and respect from clients out of 5."""
    values = {m: scores.get(m) if scores.get(m) is not None else "–" for m in METRICS}
    rows = [_score_row(text(f"line.metric.{m}"), scores.get(m), COLOURS[m]) for m in METRICS]
    bubble = {"type": "bubble", "size": "kilo",
              "header": {"type": "box", "layout": "vertical", "paddingBottom": "none", "contents": [
                  _text(text("line.checkin_summary.title"), weight="bold", size="md", color=TEXT)]},
              "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": rows},
              "footer": {"type": "box", "layout": "vertical", "paddingTop": "none", "contents": [
                  _text(text("line.checkin_summary.note"), size="xs", color=SUBTEXT)]}}
    return {"type": "flex", "altText": _alt(text("line.checkin_summary.alt", values)), "contents": bubble}


def _bars(values: Sequence[float | None], colour: str) -> dict[str, Any]:
    """One bar per week (oldest first), height by the week's average; a flat grey bar for no data."""
    bars = []
    for v in values:
        px = max(round(v / SCALE * BAR_MAX_PX), 4) if v is not None else 3
        bars.append({"type": "box", "layout": "vertical", "flex": 1, "justifyContent": "flex-end",
                     "height": f"{BAR_MAX_PX}px", "contents": [
                         {"type": "box", "layout": "vertical", "contents": [], "height": f"{px}px",
                          "cornerRadius": "xs", "backgroundColor": colour if v is not None else EMPTY}]})
    return {"type": "box", "layout": "horizontal", "spacing": "xs", "contents": bars}


def weekly_trend(weeks: Sequence[Any], *, text: Texts, week_label: Callable[[Any], str]) -> dict[str, Any]:
    """The trend over ``weeks`` (``WeekScores``, oldest first): a bar chart per metric, with the
    latest average beside its label. With no check-in at all, a short card that says how to start."""
    recorded = sum(1 for w in weeks if w.count)
    header = {"type": "box", "layout": "vertical", "paddingBottom": "none", "contents": [
        _text(text("line.trend.title"), weight="bold", size="md", color=TEXT)]}
    if not recorded:
        bubble = {"type": "bubble", "size": "kilo", "header": header,
                  "body": {"type": "box", "layout": "vertical", "contents": [
                      _text(text("line.trend.empty"), size="sm", color=TEXT)]}}
        return {"type": "flex", "altText": _alt(text("line.trend.empty")), "contents": bubble}
    sections = []
    for m in METRICS:
        values = [getattr(w, m) for w in weeks]
        last = next((v for v in reversed(values) if v is not None), None)
        sections.append({"type": "box", "layout": "vertical", "spacing": "xs", "contents": [
            {"type": "box", "layout": "horizontal", "contents": [
                _text(text(f"line.metric.{m}"), size="sm", color=TEXT, flex=4),
                _text(f"{last:.1f}" if last is not None else "–", size="sm", color=SUBTEXT, align="end", flex=1)]},
            _bars(values, COLOURS[m])]})
    span = {"type": "box", "layout": "horizontal", "contents": [
        _text(week_label(weeks[0].week_start), size="xxs", color=SUBTEXT),
        _text(week_label(weeks[-1].week_start), size="xxs", color=SUBTEXT, align="end")]}
    bubble = {"type": "bubble", "size": "mega", "header": header,
              "body": {"type": "box", "layout": "vertical", "spacing": "lg", "contents": [*sections, span]},
              "footer": {"type": "box", "layout": "vertical", "paddingTop": "none", "contents": [
                  _text(text("line.trend.note"), size="xs", color=SUBTEXT)]}}
    return {"type": "flex", "altText": _alt(text("line.trend.alt", {"weeks": recorded})), "contents": bubble}


def card_message(card: CheckinCard | TrendCard, *, text: Texts) -> dict[str, Any]:
    """The Flex message for one of the core's cards, in the card's language (``text`` speaks it)."""
    if isinstance(card, CheckinCard):
        return checkin_summary(dict(card.scores), text=text)
    ja = card.language == "ja"
    return weekly_trend(card.trend, text=text, week_label=lambda d: text(
        "line.trend.week", {"date": f"{d.month}/{d.day}" if ja else d.strftime("%b %-d")}))
