"""Sending replies to a platform: the interface the adapters implement and the core calls."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Protocol, Sequence

from bot.types import CheckinCard, HomeView, Outgoing, ReminderStatus, Reply, TrendCard, UserKey


class DeliveryError(Exception):
    """A send failed. ``retryable`` says whether trying again later may work; ``retry_after`` is
    the platform's own hint in seconds (429 Retry-After)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where and how to deliver: the user, platform routing details, and an idempotency key that
    makes a retried send a no-op on the platform side (LINE's X-Line-Retry-Key)."""

    user: UserKey
    idempotency_key: str
    context: dict[str, Any] = field(default_factory=dict)  # reply token, channel, thread ts, ...


class Sender(Protocol):
    platform: str

    async def send(self, delivery: Delivery, replies: Sequence[Reply]) -> None:
        """Send ``replies``; raise DeliveryError on failure."""


def reply_to_json(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "message_id": reply.message_id, "style": reply.style,
            "choices": [[c.label, c.value] for c in reply.choices],
            "evidence": [s.as_dict() for s in reply.evidence]}


def reply_from_json(data: dict[str, Any]) -> Reply:
    from bot.types import Choice, Signal

    return Reply(text=data["text"], message_id=data["message_id"], style=data.get("style", "normal"),
                 choices=tuple(Choice(label=c[0], value=c[1]) for c in data.get("choices", [])),
                 evidence=tuple(Signal(**s) for s in data.get("evidence", [])))


def replies_of(items: Iterable[Outgoing]) -> list[Reply]:
    """The messages among outgoing items, in order; typed items (a home view, a card) are left to
    the codecs that know how to show them."""
    return [item for item in items if isinstance(item, Reply)]


def _trend_to_json(trend) -> list[dict[str, Any]]:
    return [{"week_start": w.week_start.isoformat(), "count": w.count, "energy": w.energy,
             "boundaries": w.boundaries, "client_respect": w.client_respect} for w in trend]


def _trend_from_json(rows: list[dict[str, Any]]) -> tuple:
    from bot.insights import WeekScores

    return tuple(WeekScores(week_start=date.fromisoformat(w["week_start"]), count=w["count"], energy=w["energy"],
                            boundaries=w["boundaries"], client_respect=w["client_respect"]) for w in rows)


def home_view_to_json(view: HomeView) -> dict[str, Any]:
    r = view.reminders
    return {"kind": "home", "language": view.language,
            "trend": _trend_to_json(view.trend),
            "patterns": [[ws.isoformat(), [[k, n] for k, n in counts]] for ws, counts in view.patterns],
            "reminders": None if r is None else {
                "state": r.state, "paused_until": r.paused_until.isoformat() if r.paused_until else None,
                "preset_label": r.preset_label, "days": list(r.days), "time_of_day": r.time_of_day}}


def home_view_from_json(data: dict[str, Any]) -> HomeView:
    r = data.get("reminders")
    return HomeView(
        language=data["language"],
        trend=_trend_from_json(data.get("trend", [])),
        patterns=tuple((date.fromisoformat(ws), tuple((k, n) for k, n in counts))
                       for ws, counts in data.get("patterns", [])),
        reminders=None if r is None else ReminderStatus(
            state=r["state"], paused_until=date.fromisoformat(r["paused_until"]) if r.get("paused_until") else None,
            preset_label=r.get("preset_label"), days=tuple(r.get("days", ())), time_of_day=r.get("time_of_day")))


def outgoing_to_json(item: Outgoing) -> dict[str, Any]:
    """JSON for any outgoing item; a reply keeps the plain form stored before typed items existed."""
    if isinstance(item, HomeView):
        return home_view_to_json(item)
    if isinstance(item, CheckinCard):
        return {"kind": "checkin_card", "language": item.language, "scores": [[m, v] for m, v in item.scores]}
    if isinstance(item, TrendCard):
        return {"kind": "trend_card", "language": item.language, "trend": _trend_to_json(item.trend)}
    return reply_to_json(item)


def outgoing_from_json(data: dict[str, Any]) -> Outgoing:
    """The item ``outgoing_to_json`` wrote (no ``kind``: a reply)."""
    kind = data.get("kind")
    if kind == "home":
        return home_view_from_json(data)
    if kind == "checkin_card":
        return CheckinCard(language=data["language"], scores=tuple((m, v) for m, v in data["scores"]))
    if kind == "trend_card":
        return TrendCard(language=data["language"], trend=_trend_from_json(data["trend"]))
    if kind is not None:
        raise ValueError(f"unknown outgoing item kind: {kind!r}")
    return reply_from_json(data)
