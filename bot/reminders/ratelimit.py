"""A token bucket for outgoing sends, safe for many coroutines in one event loop."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable


class TokenBucket:
    """At most ``burst + rate * t`` acquisitions in any interval of ``t`` seconds.

    ``for_cap(cap)`` picks rate and burst so that no one-second window ever exceeds ``cap``
    (rate = cap - burst), which is what a platform limit "N requests per second" asks for.
    Waiters reserve their token before sleeping, so they go out in arrival order.
    """

    def __init__(self, rate: float, burst: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = burst
        self._last = monotonic()

    @classmethod
    def for_cap(cls, cap_per_second: float, **kw) -> "TokenBucket":
        burst = max(1.0, min(50.0, cap_per_second / 100))
        return cls(rate=max(cap_per_second - burst, 0.5), burst=burst, **kw)

    async def acquire(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1
        if self._tokens < 0:
            await self._sleep(-self._tokens / self.rate)
