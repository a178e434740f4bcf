"""The audit trail: one record per routing decision, never message text, kept in a capped
Redis Stream and written as a structured log line."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis

from bot import metrics
from bot.redis_client import BEST_EFFORT_TIMEOUT_S

log = logging.getLogger("bot.audit")

# Records read from the stream per Redis call.
READ_PAGE = 1000


@dataclass(frozen=True)
class AuditRecord:
    """What happened to one request, without what was said."""

    team: str
    channel: str
    thread: str
    user: str
    route: str
    reasons: tuple[str, ...]
    model: str
    answered_by: str | None
    outcome: str
    latency_ms: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    time: float = field(default_factory=time.time)
    # "request" (one per request) or "feedback" (one per click on an answer's buttons).
    kind: str = "request"
    vote: str | None = None  # feedback: "good" or "bad"
    channel_kind: str | None = None

    def to_fields(self) -> dict[bytes | bytearray | memoryview[int] | str | int | float, Any]:
        """Stream entry fields (Redis stores strings)."""
        return {k: json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[bytes | str, bytes | str]) -> AuditRecord:
        """The inverse of `to_fields`. The values are parsed as one JSON array: a third of
        the time of one `json.loads` per field, which counts when a chart reads 100,000."""
        keys = [k.decode() if isinstance(k, bytes) else k for k in fields]
        values = json.loads(
            "[" + ",".join(v.decode() if isinstance(v, bytes) else v for v in fields.values()) + "]"
        )
        data: dict[str, Any] = dict(zip(keys, values, strict=True))
        data["reasons"] = tuple(data.get("reasons") or ())
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _decode(page: list[dict[bytes | str, bytes | str]]) -> list[AuditRecord]:
    return [AuditRecord.from_fields(fields) for fields in page]


class AuditLog:
    """Appends to and reads the audit stream."""

    def __init__(self, client: aioredis.Redis, *, prefix: str, max_entries: int) -> None:
        self._redis = client
        self.key = f"{prefix}:audit"
        self._max_entries = max_entries

    async def record(self, entry: AuditRecord) -> None:
        """Log the record, then add it to the stream (approximately capped at max_entries).

        A Redis failure here is logged, not raised: the answer has been given already.
        """
        log.info("route decision", extra={"audit": asdict(entry)})
        metrics.observe_record(entry)
        try:
            async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
                await self._redis.xadd(
                    self.key, entry.to_fields(), maxlen=self._max_entries, approximate=True
                )
        except (aioredis.RedisError, TimeoutError):
            log.warning("audit stream unavailable; the record is only in this log", exc_info=True)

    async def tail(self, count: int) -> list[AuditRecord]:
        """The newest `count` records, oldest first."""
        entries = await self._redis.xrevrange(self.key, count=count) or []
        return [AuditRecord.from_fields(fields) for _, fields in reversed(entries) if fields]

    async def since(self, seconds: float) -> list[AuditRecord]:
        """Every record of the last `seconds` seconds, read a page at a time (no single
        Redis call or parse holds the event loop long) and decoded in a worker thread."""
        start = f"{int((time.time() - seconds) * 1000)}-0"
        records: list[AuditRecord] = []
        while True:
            entries = await self._redis.xrange(self.key, min=start, max="+", count=READ_PAGE)
            if not entries:
                return records
            records += await asyncio.to_thread(_decode, [fields for _, fields in entries if fields])
            last = entries[-1][0]
            if len(entries) < READ_PAGE or last is None:
                return records
            # After the last one read (an exclusive start, Redis 6.2 and later).
            start = "(" + (last.decode() if isinstance(last, bytes) else last)


def satisfaction(records: Iterable[AuditRecord]) -> dict[str, dict[str, Any]]:
    """Feedback per route and model: `closed gpt-4o` → good, bad and the share of good."""
    votes: dict[str, Counter[str]] = {}
    for r in records:
        if r.kind == "feedback" and r.vote:
            votes.setdefault(f"{r.route} {r.answered_by or r.model}", Counter())[r.vote] += 1
    return {
        key: {
            "good": c["good"],
            "bad": c["bad"],
            "satisfaction": round(c["good"] / (c["good"] + c["bad"]), 3),
        }
        for key, c in sorted(votes.items())
        if c["good"] + c["bad"]
    }


def percentile(values: Iterable[int], p: float) -> int | None:
    """The value below which the share `p` of `values` lie (nearest rank); None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def summarize(records: Iterable[AuditRecord]) -> dict[str, Any]:
    """Counts by route, outcome, reason and model, latency percentiles, and feedback."""
    everything = list(records)
    items = [r for r in everything if r.kind == "request"]
    latencies = [r.latency_ms for r in items]

    return {
        "requests": len(items),
        "by_route": dict(Counter(r.route for r in items)),
        "by_outcome": dict(Counter(r.outcome for r in items)),
        "by_reason": dict(Counter(reason for r in items for reason in r.reasons).most_common()),
        "by_model": dict(Counter(r.answered_by or "-" for r in items)),
        "latency_ms": {
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "mean": round(statistics.fmean(latencies)) if latencies else None,
        },
        "tokens": {
            "input": sum(r.input_tokens or 0 for r in items),
            "output": sum(r.output_tokens or 0 for r in items),
        },
        "feedback": satisfaction(everything),
    }
