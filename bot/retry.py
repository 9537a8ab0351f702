"""The one retry policy for outgoing deliveries (the inbox's replies and the delivery outbox).

Retries are bounded by time, not by a count a storm of 429s could use up: each waits the longer of
the platform's Retry-After and a backoff that doubles with every try (capped), until a deadline
(the horizon after the delivery was first due). Past it the delivery is ``dead`` until an operator
replays it (``bansou inbox retry``).
"""
from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_HORIZON = timedelta(hours=24)
BACKOFF_CAP_SECONDS = 900.0


def backoff_delay(attempt: int, *, retry_after: float | None = None, base: float = 1.0,
                  cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait before try ``attempt + 1``: the longer of the platform's Retry-After and a
    backoff that doubles with each try up to ``cap`` (a short Retry-After repeated for a long
    time must not use the tries up in seconds)."""
    growing = min(base * (2 ** min(max(attempt - 1, 0), 40)), cap)
    if retry_after is not None and retry_after == retry_after and retry_after >= 0:  # not NaN
        return max(growing, min(retry_after, 24 * 3600.0))
    return growing


def next_attempt_at(*, attempts: int, now: datetime, deadline: datetime,
                    retry_after: float | None = None, min_delay: float = 0.0) -> datetime | None:
    """When to try a failed delivery again (the last try lands on the deadline), or None when it
    is out of time and should be ``dead``. ``attempts`` counts the tries made so far."""
    if now >= deadline:
        return None
    delay = max(backoff_delay(attempts, retry_after=retry_after), min_delay)
    delay = min(delay, max((deadline - now).total_seconds(), 0.0))
    return now + timedelta(seconds=delay)


__all__ = ["BACKOFF_CAP_SECONDS", "DEFAULT_HORIZON", "backoff_delay", "next_attempt_at"]
