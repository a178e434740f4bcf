"""How often one person, and one channel, may ask: limits kept in Redis, so every replica
counts the same requests.

`limits` does the counting (its sliding-window counter: two Redis counters per identity,
one atomic script per check, accurate without a log of every request) on our own Redis
connection pool. A person over the limit gets a polite sentence with the time to wait; a
burst from many people still queues at the models (`capacity.Gate`), it is not refused here.

When Redis cannot count (down, or slower than the best-effort second), the request is let
through: the limits protect the models from one noisy person, not the data, and the memory
step that follows tells the asker plainly that the memory store is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Seconds a check may take before the request goes on uncounted (as long as the other
# best-effort Redis calls, `redis_client.BEST_EFFORT_TIMEOUT_S`; not imported from there:
# the settings read this module).
CHECK_TIMEOUT_S = 1.0

MAX_PERIOD_S = 366 * 86400
# Words for Slack: "30 per minute" reads better than "30/1 minute".
_PERIODS = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


def parse_limit(value: str | None) -> RateLimitItem | None:
    """`"30/minute"`, `"500 per hour"`…, or None for `""`, `"none"` and `"off"`; raises
    ValueError naming the problem."""
    text = (value or "").strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        rates = parse_many(text)
    except ValueError:
        rates = []
    # A period of at least a second and at most a year (Redis keeps each window twice as
    # long; "5/0 minute" would read as a minute).
    if (
        len(rates) != 1
        or rates[0].amount < 1
        or not 1 <= rates[0].get_expiry() <= MAX_PERIOD_S
        or re.search(r"(?:/|\bper)\s*0+\s*[a-z]", text)
    ):
        raise ValueError(f"{value!r} is not one rate such as 30/minute, 500/hour or none")
    return rates[0]


def describe(limit: RateLimitItem) -> str:
    """`30 questions a minute`."""
    seconds = limit.get_expiry()
    noun = "question" if limit.amount == 1 else "questions"
    if seconds in _PERIODS:
        period = _PERIODS[seconds]
        return f"{limit.amount} {noun} {'an' if period == 'hour' else 'a'} {period}"
    return f"{limit.amount} {noun} every {seconds} seconds"


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: whose limit, what it is, and when asking works again."""

    scope: str  # "user" or "channel"
    limit: RateLimitItem
    retry_after_s: int

    @property
    def reason(self) -> str:
        """For the audit trail."""
        return f"rate_limit:{self.scope}"

    def text(self) -> str:
        """The sentence for the asker."""
        if self.retry_after_s < 120:
            wait = f"in {self.retry_after_s} s"
        else:
            wait = f"in {math.ceil(self.retry_after_s / 60)} minutes"
        if self.scope == "user":
            return (
                f"You are asking faster than hearthbot allows ({describe(self.limit)} per "
                f"person). Please ask again {wait}."
            )
        return (
            f"This channel has reached hearthbot's limit of {describe(self.limit)}. "
            f"Please ask again {wait}."
        )


class RequestLimits:
    """Per-person and per-channel limits (either may be None: not limited)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        per_user: RateLimitItem | None,
        per_channel: RateLimitItem | None,
    ) -> None:
        self.per_user = per_user
        self.per_channel = per_channel
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=f"{prefix}:limits",
            wrap_exceptions=True,
            # Our pool (its timeouts and health checks): `limits` accepts one, though its
            # type hints list only scalar options.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def check(self, team: str, user: str, channel: str) -> Refusal | None:
        """Count one request of `user` in `channel`; the refusal when it is over a limit."""
        checks = [
            ("user", self.per_user, (team, user)),
            ("channel", self.per_channel, (team, channel)),
        ]
        for scope, limit, identity in checks:
            if limit is None:
                continue
            try:
                # Best effort, like the audit stream: a slow Redis must not hold the answer.
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    if await self._limiter.hit(limit, scope, *identity):
                        continue
                    stats = await self._limiter.get_window_stats(limit, scope, *identity)
            except (StorageError, RedisError, OSError, TimeoutError) as exc:
                log.warning("rate limits not counted", extra={"error": type(exc).__name__})
                return None
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            return Refusal(scope, limit, retry)
        return None
