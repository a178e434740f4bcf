"""The answers in progress, so that a SIGTERM lets them finish instead of cutting them off.

Bolt acknowledges an event and then runs its listener as a task nobody waits for; once the
event is acknowledged (and de-duplicated), Slack will not send it again, so a listener cut
off by shutdown is an answer lost. Every listener that answers registers its task here, and
`drain` waits for them, up to a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """The tasks answering right now, and whether the process is shutting down."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self.draining = False

    def __len__(self) -> int:
        return len(self._tasks)

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as an answer in progress for the body's duration."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task in the app
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def spawn(self, work: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        """Run `work` as a task counted as in progress until it ends (the event loop keeps
        only a weak reference to a task: this set is also what keeps it alive)."""
        task: asyncio.Task[object] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace_s: float) -> int:
        """Stop counting as ready, wait up to `grace_s` for the answers in progress, then
        cancel what is left (each tells its asker). Returns how many were cut off."""
        self.draining = True
        deadline = time.monotonic() + grace_s
        current = asyncio.current_task()
        while True:
            # Listener tasks start a loop iteration after their request was acknowledged.
            await asyncio.sleep(0.05)
            pending = {t for t in self._tasks if t is not current and not t.done()}
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                break
            log.info("waiting for answers in progress", extra={"in_flight": len(pending)})
            await asyncio.wait(pending, timeout=left)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("answers cut off at the shutdown deadline", extra={"count": len(pending)})
            await asyncio.wait(pending, timeout=5)
        return len(pending)
