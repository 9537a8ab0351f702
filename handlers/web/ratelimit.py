"""A per-client rate limit for the web chat's API: a token bucket per visitor (by their signed
cookie) and, for requests with no valid cookie (each of which could create a visitor), per address.
Pure apart from the clock it is given; one limiter per process."""
from __future__ import annotations

import math
import time
from typing import Callable, Hashable


class RateLimiter:
    """``rate_per_minute`` requests a minute per key, in bursts of up to the same number."""

    def __init__(self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.capacity = float(max(rate_per_minute, 1))
        self.refill = self.capacity / 60.0  # tokens a second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: Hashable) -> float:
        """0 when the request may go ahead (a token is taken), else the seconds until it may."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.refill

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            # Full buckets hold nothing worth keeping: forget those first, then anything.
            full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * self.refill >= self.capacity]
            for k in full or list(self._buckets)[: self.max_keys // 10]:
                del self._buckets[k]
        self._buckets[key] = (tokens, now)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
