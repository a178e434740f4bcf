"""Answer each Slack `event_id` once, across retries and across replicas (Redis SET NX)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)


class EventDeduplicator:
    """Claims event IDs in Redis; the first claim wins for `ttl_s` seconds."""

    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def claim(self, event_id: str) -> bool:
        """True for the first delivery of this event ID, False for any repeat."""
        claimed = await self._redis.set(
            f"{self._prefix}:event:{event_id}", "1", nx=True, ex=self._ttl_s
        )
        return bool(claimed)

    async def middleware(self, body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        """Bolt middleware: drop (with 200, so Slack stops retrying) an event already claimed."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await self.claim(str(event_id)):
            log.info("duplicate event dropped", extra={"event_id": event_id})
            return BoltResponse(status=200, body="")
        return await next()
