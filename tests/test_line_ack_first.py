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
        # still one in flight: the wait ends only when it is done
    await asyncio.wait_for(waiting, 1)
