"""How many answers are computed at once: a gate per route with a line in front of it.

A self-hosted model serves a few requests at a time; sending it 200 at once makes every one
of them slow and most of them time out. Each route has a semaphore (its `limit`); requests
beyond it wait in line in arrival order, and the asker is told they are waiting; beyond
`queue` waiting requests the asker is told to try again instead of waiting without end.

asyncio's own Semaphore is the gate; what is ours is only the line's length and the
notice, which no queueing library gives an asyncio service without a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

# Someone who has waited this long for a slot is told they are in line.
NOTICE_AFTER_S = 2.0

WaitNotice = Callable[[int], Awaitable[None]]


class Busy(Exception):
    """The line in front of a route is full."""


class Gate:
    """At most `limit` holders at once; at most `queue` more waiting."""

    def __init__(self, limit: int, queue: int, *, notice_after_s: float = NOTICE_AFTER_S):
        self.limit = limit
        self.queue = queue
        self._notice_after_s = notice_after_s
        self._slots = asyncio.Semaphore(limit)
        self._waiting = 0
        self._holding = 0
        self._notices: set[asyncio.Future[None]] = set()

    @property
    def waiting(self) -> int:
        """Requests in line now."""
        return self._waiting

    @property
    def holding(self) -> int:
        """Requests being answered now."""
        return self._holding

    @contextlib.asynccontextmanager
    async def slot(self, on_wait: WaitNotice | None = None) -> AsyncIterator[None]:
        """Hold a slot for the body; `on_wait(position)` is awaited once if the wait is long.

        Raises `Busy` at once when the line is full.
        """
        # Counted, not read off the semaphore: a request admitted a moment ago may not have
        # taken its slot yet.
        if self._holding + self._waiting >= self.limit + self.queue:
            raise Busy
        self._waiting += 1
        position = max(1, self._holding + self._waiting - self.limit)
        acquire = asyncio.ensure_future(self._slots.acquire())
        notice: asyncio.Future[None] | None = None
        try:
            done, _ = await asyncio.wait({acquire}, timeout=self._notice_after_s)
            if not done and on_wait is not None:
                # Sent beside the wait, not before it: a notice that Slack rate-limits must
                # not keep a freed slot idle.
                notice = asyncio.ensure_future(on_wait(position))
                self._notices.add(notice)
                notice.add_done_callback(self._notices.discard)
            await acquire
            if notice is not None and not notice.done():
                notice.cancel()  # the answer is coming: a notice still on its way is stale
        except BaseException:
            # Cancelled (or the notice failed) while in line: give back a slot we may
            # have been handed in the meantime, and leave the line.
            if acquire.done() and not acquire.cancelled() and acquire.exception() is None:
                self._slots.release()
            else:
                acquire.cancel()
            raise
        finally:
            self._waiting -= 1
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            self._slots.release()
