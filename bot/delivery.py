"""Sending replies to a platform: the interface the adapters implement and the core calls."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from bot.types import Reply, UserKey


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
