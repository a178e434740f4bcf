"""The per-route gate: never more than its limit at once, a line of bounded length, and a
waiter that gives up (cancelled) leaves no slot taken."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.capacity import Busy, Gate


async def _run(gate: Gate, n: int, hold_s: float) -> tuple[int, int, int]:
    """n requests at once; returns (served, turned away, most at once)."""
    most = 0

    async def one() -> bool:
        nonlocal most
        try:
            async with gate.slot():
                most = max(most, gate.holding)
                await asyncio.sleep(hold_s)
        except Busy:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(n)))
    return sum(results), n - sum(results), most


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 6), queue=st.integers(0, 6), n=st.integers(0, 20))
def test_at_most_limit_at_once_and_the_rest_beyond_the_line_turned_away(
    limit: int, queue: int, n: int
) -> None:
    served, turned_away, most = asyncio.run(_run(Gate(limit, queue), n, 0.001))
    assert served == min(n, limit + queue)
    assert turned_away == max(0, n - limit - queue)
    assert most == min(n, limit)


async def test_a_long_wait_is_announced_once_with_the_position_in_line() -> None:
    gate = Gate(1, 5, notice_after_s=0.05)
    notices: list[int] = []

    async def noticed(position: int) -> None:
        notices.append(position)

    async def one() -> None:
        async with gate.slot(noticed):
            await asyncio.sleep(0.1)

    await asyncio.gather(*(one() for _ in range(3)))
    assert sorted(notices) == [1, 2]


async def test_a_waiter_cancelled_in_line_leaves_no_slot_taken() -> None:
    gate = Gate(1, 5)
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.slot():
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    assert gate.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await first
    assert (gate.holding, gate.waiting) == (0, 0)
    # The slot is free again: a new request gets it at once.
    async with asyncio.timeout(1), gate.slot():
        assert gate.holding == 1


async def test_a_slow_notice_does_not_keep_a_freed_slot_idle() -> None:
    gate = Gate(1, 5, notice_after_s=0.05)
    got_slot: list[float] = []

    async def slow_notice(position: int) -> None:
        await asyncio.sleep(5)  # Slack rate-limits the notice

    async def one(hold_s: float) -> None:
        async with gate.slot(slow_notice):
            got_slot.append(asyncio.get_running_loop().time())
            await asyncio.sleep(hold_s)

    started = asyncio.get_running_loop().time()
    await asyncio.gather(one(0.2), one(0))
    assert got_slot[1] - started < 1


async def test_a_notice_still_on_its_way_when_the_slot_comes_is_dropped() -> None:
    gate = Gate(1, 5, notice_after_s=0.05)
    delivered: list[int] = []

    async def rate_limited_notice(position: int) -> None:
        await asyncio.sleep(0.5)  # Slack said: retry after a while
        delivered.append(position)

    async def one(hold_s: float) -> None:
        async with gate.slot(rate_limited_notice):
            await asyncio.sleep(hold_s)

    await asyncio.gather(one(0.2), one(0))
    await asyncio.sleep(0.6)
    assert delivered == []  # the answer came first: the stale notice was never posted
