"""How much Redis memory hearthbot uses: per conversation (plain and encrypted), per audit
record, and per de-duplicated event, channel and rate-limit key. Written with the app's own
classes into a scratch database, measured with MEMORY USAGE, then deleted.

    python bench/redis_sizing.py [--redis-url redis://localhost:6379/14] [--turns 10]

Figures are for the Redis it runs against (the version and its encodings matter).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from langchain_core.messages import AIMessage, HumanMessage

from bot.audit import AuditLog, AuditRecord
from bot.memory import ConversationKey, ConversationMemory, MessageCodec

QUESTION = "How do I rotate the staging database credentials without downtime? " * 3
ANSWER = (
    "Create the new credentials first, deploy them beside the old ones, switch the "
    "application over, watch the connections drain, then revoke the old pair. " * 8
)
AUDIT_RECORDS = 2000


async def memory_bytes(client: aioredis.Redis, prefix: str, codec: MessageCodec, turns: int) -> int:
    """MEMORY USAGE of one conversation of `turns` question/answer pairs (and its mark)."""
    memory = ConversationMemory(
        client, prefix=prefix, ttl_s=3600, max_messages=2 * turns, token_budget=2000, codec=codec
    )
    key = ConversationKey("T0TEAM0001", "C0CHANNEL1", f"{time.time():.6f}")
    history = memory.history(key)
    for _ in range(turns):
        await history.aadd_turn([HumanMessage(QUESTION), AIMessage(ANSWER)], confidential=True)
    keys = await client.keys(f"{prefix}:memory:*")
    return sum([await client.memory_usage(k) or 0 for k in keys])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://localhost:6379/14")
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    client = aioredis.Redis.from_url(args.redis_url)
    prefix = f"hearthbot-sizing-{uuid.uuid4().hex[:8]}"
    try:
        version = (await client.info("server"))["redis_version"]
        plain = await memory_bytes(client, f"{prefix}-plain", MessageCodec(), args.turns)
        key = Fernet.generate_key().decode()
        encrypted = await memory_bytes(client, f"{prefix}-enc", MessageCodec([key]), args.turns)
        audit = AuditLog(client, prefix=prefix, max_entries=100_000)
        for i in range(AUDIT_RECORDS):
            await audit.record(
                AuditRecord(
                    team="T0TEAM0001", channel="C0CHANNEL1", thread=f"1790000000.{i:06d}",
                    user="U0ALICE001", route="local", reasons=("private_channel",),
                    model="llama3.2:3b", answered_by="llama3.2:3b", outcome="answered",
                    latency_ms=1234, input_tokens=812, output_tokens=240,
                    channel_kind="private",
                )
            )  # fmt: skip
        per_audit = (await client.memory_usage(audit.key) or 0) / AUDIT_RECORDS
        await client.set(f"{prefix}:event:Ev0123456789", "1", ex=3600)
        event = await client.memory_usage(f"{prefix}:event:Ev0123456789") or 0
        chars = len(QUESTION) + len(ANSWER)
        print(f"Redis {version}; a turn is a {len(QUESTION)}-char question and a "
              f"{len(ANSWER)}-char answer ({chars} chars)")  # fmt: skip
        print(f"conversation of {args.turns} turns, plain:     {plain:>8,} bytes "
              f"({plain / args.turns:,.0f} per turn)")  # fmt: skip
        print(f"conversation of {args.turns} turns, encrypted: {encrypted:>8,} bytes "
              f"({encrypted / args.turns:,.0f} per turn)")  # fmt: skip
        print(f"audit record:                        {per_audit:>8,.0f} bytes")
        print(f"de-duplicated event id:              {event:>8,} bytes (kept DEDUP_TTL_S)")
    finally:
        keys = await client.keys(f"{prefix}*")
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
