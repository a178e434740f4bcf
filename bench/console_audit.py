"""How long the console's audit page takes with a full audit stream, and how long it holds
the event loop (which, under `hearthbot serve`, also answers Slack).

Writes N records spread over the last 7 days into a scratch prefix, serves the real app
(its console on loopback), loads `/console/audit?period=7d` a few times, and reports the
page's time and the longest gap between the ticks of a 1 ms timer running beside it.

    python bench/console_audit.py [--redis-url redis://localhost:6379/14] [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import time
import uuid

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.app import build_services, build_web_app
from bot.audit import AuditLog, AuditRecord
from bot.console.access import ConsoleAccess
from bot.settings import Settings

WEEK_S = 7 * 86_400


async def fill(client: aioredis.Redis, key: str, count: int) -> None:
    """`count` records, evenly over the last week, with a mix of routes and reasons."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        at = now - WEEK_S + (i + 1) * WEEK_S / (count + 1)
        local = i % 3 != 0
        record = AuditRecord(
            team="T1",
            channel=f"C{i % 40:04d}",
            thread=f"{int(at)}.{i % 1000:06d}",
            user=f"U{i % 250:04d}",
            route="local" if local else "closed",
            reasons=("private_channel", "sensitive:email") if local else ("public_channel",),
            model="llama3.1" if local else "gpt-5.4-mini",
            answered_by="llama3.1" if local else "gpt-5.4-mini",
            outcome="refused" if i % 97 == 0 else "answered",
            latency_ms=400 + (i * 37) % 4000,
            input_tokens=300,
            output_tokens=120,
            time=at,
        )
        pipe.xadd(key, record.to_fields(), id=f"{int(at * 1000)}-{i}")
        if i % 5000 == 4999:
            await pipe.execute()
    await pipe.execute()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://localhost:6379/14")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    prefix = f"bench-console-{uuid.uuid4().hex[:8]}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        redis_url=args.redis_url,
        redis_prefix=prefix,
        host="127.0.0.1",
        local_model="openai:unused",
        local_base_url="http://127.0.0.1:9/v1",
        closed_model="none",
        audit_max_entries=max(args.records, 100),
    )
    services = await build_services(settings)
    key = AuditLog(services.redis, prefix=prefix, max_entries=args.records).key
    runner = web.AppRunner(
        build_web_app(services, None, ConsoleAccess.create(None)), access_log=None
    )
    try:
        started = time.perf_counter()
        await fill(services.redis, key, args.records)
        print(f"wrote {args.records:,} records in {time.perf_counter() - started:.1f} s")
        await runner.setup()
        # As `hearthbot serve` does after start-up: long-lived objects out of the collector.
        gc.collect()
        gc.freeze()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        longest_gap = 0.0
        ticking = True

        async def ticker() -> None:
            nonlocal longest_gap
            last = time.perf_counter()
            while ticking:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                longest_gap = max(longest_gap, now - last)
                last = now

        times = []
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            tick = asyncio.create_task(ticker())
            for _ in range(args.loads):
                started = time.perf_counter()
                async with session.get(f"http://127.0.0.1:{port}/console/audit?period=7d") as resp:
                    body = await resp.read()
                    assert resp.status == 200, resp.status
                times.append(time.perf_counter() - started)
            ticking = False
            await tick
        print(
            f"/console/audit?period=7d over {args.records:,} records: "
            f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
            f"({len(body) / 1024:.0f} KiB); longest event-loop gap {longest_gap * 1000:.0f} ms"
        )
        print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    finally:
        await runner.cleanup()
        async for stale in services.redis.scan_iter(match=f"{prefix}:*"):
            await services.redis.delete(stale)
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
