"""AckFirst: the inbox processor lets webhook acknowledgements go first, within caps.

Ordering only, never timing: each test checks what has happened when the processor's wait ends.
"""
from __future__ import annotations

import asyncio

from handlers.line.webhook import AckFirst


async def test_with_no_webhook_in_flight_processing_does_not_wait():
    gate = AckFirst(max_wait=3600, max_wait_busy=3600)
    await asyncio.wait_for(gate.wait_for_acks(), 1)  # would time out if it waited at all


async def test_processing_waits_until_the_last_acknowledgement_is_done():
    gate = AckFirst(max_wait=3600, max_wait_busy=3600)
    first, second = gate.__enter__(), gate.__enter__()
    waiting = asyncio.create_task(gate.wait_for_acks())
    await asyncio.sleep(0)
    first.__exit__(None, None, None)
    await asyncio.sleep(0.01)
    assert not waiting.done()  # one webhook is still being acknowledged
    second.__exit__(None, None, None)
    await asyncio.wait_for(waiting, 1)
    assert gate.in_flight == 0


async def test_an_acknowledgement_that_never_ends_holds_processing_only_for_the_cap():
    gate = AckFirst(max_wait=0.01, max_wait_busy=3600, busy=3)
    with gate:  # one in flight, forever as far as the processor knows
        await asyncio.wait_for(gate.wait_for_acks(), 5)
        assert gate.in_flight == 1


async def test_in_a_burst_processing_waits_for_the_longer_cap():
    gate = AckFirst(max_wait=0.01, max_wait_busy=3600, busy=2)
    with gate:
        with gate:  # a burst: two in flight
            waiting = asyncio.create_task(gate.wait_for_acks())
            await asyncio.sleep(0.1)
            assert not waiting.done()  # the short cap has long passed; the burst cap has not
        # one in flight is no burst: the wait goes back to the short cap
        await asyncio.wait_for(waiting, 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def arrivals(gate: AckFirst, n: int) -> None:
    """``n`` webhooks acknowledged, each done before the next came in (in flight never above one)."""
    for _ in range(n):
        with gate:
            pass


async def test_arrival_rate_counts_the_last_full_window_and_forgets_old_ones():
    clock = FakeClock()
    gate = AckFirst(window=0.1, clock=clock)
    arrivals(gate, 30)
    assert gate.arrival_rate() == 300
    clock.now += 0.1  # the next window: the last one still counts
    arrivals(gate, 5)
    assert gate.arrival_rate() == 300
    clock.now += 0.1
    assert gate.arrival_rate() == 50  # only the window before is left
    clock.now += 0.25
    assert gate.arrival_rate() == 0
    arrivals(gate, 2)  # a window long after the last: nothing carried over
    assert gate.arrival_rate() == 20


async def test_a_stream_of_arrivals_holds_processing_although_none_is_in_flight_at_the_moment():
    """A closed burst acknowledges in waves: between two, nothing is in flight. That instant is not
    the end of the burst; the end is when the arrival rate drops."""
    clock = FakeClock()
    gate = AckFirst(max_wait=3600, max_wait_busy=3600, busy=1000, busy_rate=500, window=0.1, clock=clock)
    arrivals(gate, 80)  # 800 a second, and none in flight now
    assert gate.in_flight == 0 and gate.bursting()
    waiting = asyncio.create_task(gate.wait_for_acks())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    clock.now += 0.1
    arrivals(gate, 80)  # the burst goes on
    await asyncio.sleep(0.1)
    assert not waiting.done()
    clock.now += 0.2  # two quiet windows: over
    await asyncio.wait_for(waiting, 1)


async def test_the_burst_cap_holds_for_arrivals_too():
    clock = FakeClock()
    gate = AckFirst(max_wait=3600, max_wait_busy=0.5, busy=1000, busy_rate=500, window=10.0, clock=clock)
    arrivals(gate, 10_000)  # a window of 10 s: the rate stays high for as long as the test runs
    waiting = asyncio.create_task(gate.wait_for_acks())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    clock.now += 0.5  # the cap has passed (the rate has not dropped)
    await asyncio.wait_for(waiting, 1)
    assert gate.bursting()


async def test_a_steady_rate_below_the_burst_rate_does_not_hold_processing():
    clock = FakeClock()
    gate = AckFirst(max_wait=3600, max_wait_busy=3600, busy=1000, busy_rate=500, window=0.1, clock=clock)
    arrivals(gate, 20)  # 200 a second, the rate the ack goal is set at
    assert not gate.bursting()
    await asyncio.wait_for(gate.wait_for_acks(), 1)
