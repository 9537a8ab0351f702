"""A reusable load generator for the LINE webhook: signed text events sent on a fixed schedule
(open loop, so a slow server cannot slow the sender down and hide its own latency), with
acknowledgement latency measured from each event's scheduled send time, and end-to-end time
(scheduled send → the reply reaching the fake LINE API) read from ``FakeLineApi.sent``.

    fake = FakeLineApi(); stop = fake.start_thread()
    load = LineLoad(url="http://127.0.0.1:8000/line/webhook", secret=SECRET, fake=fake, users=500)
    step = await load.step(rate=200, seconds=5)
    step.summary()   # {"rate": 200, "events_per_s": ..., "ack_p50_ms": ..., "ack_p99_ms": ..., ...}

Everything is bounded: at most ``rate * seconds`` events a step, ``max_in_flight`` requests at
once, ``timeout`` seconds per request.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_line_api import FakeLineApi, callback_body, line_id, text_event, webhook_headers  # noqa: E402

MESSAGES = (
    "今日も夜中までクライアントに返信していて、少し疲れています",
    "I said yes to one more client although my week is already full",
    "相手の資料を結局ぜんぶ自分で作ってしまった",
    "I keep checking whether my client did the homework",
    "最近、この仕事が楽しいのかよく分からない",
    "A calm day today, I took a proper lunch break",
)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Step:
    """One load step's raw figures."""

    rate: int
    seconds: float
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    ack_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    unanswered: int = 0

    def summary(self) -> dict[str, float | int | str]:
        ok = self.statuses.get(200, 0)
        return {
            "rate": self.rate,
            "sent": self.sent,
            "acked_200": ok,
            "errors": sum(n for s, n in self.statuses.items() if s != 200),
            "events_per_s": round(ok / self.elapsed, 1) if self.elapsed else 0.0,
            "ack_p50_ms": round(percentile(self.ack_ms, 50), 2),
            "ack_p99_ms": round(percentile(self.ack_ms, 99), 2),
            "ack_max_ms": round(max(self.ack_ms), 2) if self.ack_ms else math.nan,
            "e2e_p50_ms": round(percentile(self.e2e_ms, 50), 1),
            "e2e_p99_ms": round(percentile(self.e2e_ms, 99), 1),
            "unanswered": self.unanswered,
        }


class LineLoad:
    """Sends signed LINE text events from a pool of users to one webhook URL."""

    def __init__(self, *, url: str, secret: str, fake: FakeLineApi, users: int = 500,
                 max_in_flight: int = 1000, timeout: float = 10.0):
        self.url = url
        self.secret = secret
        self.fake = fake
        self.users = [line_id() for _ in range(users)]
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self._counter = itertools.count()

    def next_event(self) -> tuple[bytes, str]:
        """A signed-to-be body for the next user in the pool, and its reply token."""
        i = next(self._counter)
        user = self.users[i % len(self.users)]
        token = self.fake.issue_reply_token(user)
        return callback_body(text_event(user, MESSAGES[i % len(MESSAGES)], reply_token=token)), token

    async def step(self, *, rate: int, seconds: float, reply_wait: float = 30.0) -> Step:
        """Send ``rate`` events a second for ``seconds``, then wait (bounded) for their replies."""
        result = Step(rate=rate, seconds=seconds)
        total = int(rate * seconds)
        scheduled: dict[str, float] = {}
        gate = asyncio.Semaphore(self.max_in_flight)
        connector = aiohttp.TCPConnector(limit=self.max_in_flight)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(body: bytes, at: float) -> None:
                async with gate:
                    try:
                        async with session.post(self.url, data=body, headers=webhook_headers(body, self.secret)) as r:
                            await r.read()
                            result.statuses[r.status] += 1
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        result.statuses[type(exc).__name__] += 1
                        return
                result.ack_ms.append((time.monotonic() - at) * 1000)

            tasks = []
            start = time.monotonic()
            for i in range(total):
                at = start + i / rate
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body, token = self.next_event()
                scheduled[token] = at
                tasks.append(asyncio.create_task(one(body, at)))
            await asyncio.gather(*tasks)
            result.elapsed = time.monotonic() - start
            result.sent = total
        # End to end: wait until every event's reply has reached the fake LINE API (bounded).
        deadline = time.monotonic() + reply_wait
        while True:
            answered = {s.token: s.at for s in list(self.fake.sent) if s.token in scheduled}
            if len(answered) >= len(scheduled) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        result.e2e_ms = [(answered[t] - scheduled[t]) * 1000 for t in answered]
        result.unanswered = len(scheduled) - len(answered)
        return result
