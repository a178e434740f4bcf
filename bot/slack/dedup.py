"""Answer each Slack `event_id` once, across retries and across replicas (Redis SET NX).

While Redis is unavailable (or takes more than a second, so that the acknowledgement stays
within Slack's 3 s) the claim falls back to this process's memory: the event is still
answered (the asker then hears that the memory store is down) instead of failing the request
with a 500, which Slack would retry into the same outage while the person hears nothing.
Claims made here are written to Redis once it answers again, for the other replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from slack_bolt.response import BoltResponse

from bot import metrics

log = logging.getLogger(__name__)

# Event IDs remembered in memory while Redis is unavailable (the newest are kept).
LOCAL_CLAIMS_MAX = 10_000
# Seconds a claim may wait for Redis before this process claims the event itself.
CLAIM_TIMEOUT_S = 1.0


class EventDeduplicator:
    """Claims event IDs in Redis; the first claim wins for `ttl_s` seconds."""

    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        # A bounded insertion-ordered set; a stdlib OrderedDict is all it takes.
        self._local: OrderedDict[str, None] = OrderedDict()
        self._unsynced: list[str] = []

    async def claim(self, event_id: str) -> bool:
        """True for the first delivery of this event ID, False for any repeat."""
        if event_id in self._local:
            return False  # claimed here while Redis was away
        try:
            # Bounded, pool wait included: Slack resends an event not acknowledged in 3 s.
            async with asyncio.timeout(CLAIM_TIMEOUT_S):
                claimed = await self._redis.set(
                    f"{self._prefix}:event:{event_id}", "1", nx=True, ex=self._ttl_s
                )
                if claimed and self._unsynced:
                    await self._sync()
        except (aioredis.RedisError, TimeoutError) as exc:
            log.warning(
                "event de-duplication falls back to this process: Redis unavailable",
                extra={"error": type(exc).__name__},
            )
            return self._claim_locally(event_id)
        return bool(claimed)

    async def _sync(self) -> None:
        """Write the claims made here while Redis was away, so other replicas see them."""
        pending, self._unsynced = self._unsynced, []
        for event_id in pending:
            await self._redis.set(f"{self._prefix}:event:{event_id}", "1", nx=True, ex=self._ttl_s)

    def _claim_locally(self, event_id: str) -> bool:
        if event_id in self._local:
            return False
        self._local[event_id] = None
        self._unsynced.append(event_id)
        del self._unsynced[:-LOCAL_CLAIMS_MAX]
        while len(self._local) > LOCAL_CLAIMS_MAX:
            self._local.popitem(last=False)
        return True

    async def middleware(self, body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        """Bolt middleware: drop (with 200, so Slack stops retrying) an event already claimed."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await self.claim(str(event_id)):
            log.info("duplicate event dropped", extra={"event_id": event_id})
            metrics.DEDUP_HITS.inc()
            return BoltResponse(status=200, body="")
        return await next()
