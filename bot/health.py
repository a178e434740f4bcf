"""Readiness checks: Redis and each configured model server answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import redis.asyncio as aioredis

Check = Callable[[], Awaitable[None]]
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ModelProbe:
    """An HTTP GET that must answer 2xx for a model server to count as reachable."""

    url: str
    headers: dict[str, str]


def probe_for(provider: str, base_url: str, api_key: str | None) -> ModelProbe:
    """Which URL tells whether the on-prem model server is up: Ollama's or an
    OpenAI-compatible one (the closed API is not probed)."""
    base = base_url.rstrip("/")
    if provider == "ollama":
        return ModelProbe(f"{base}/api/tags", {})
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return ModelProbe(f"{base}/models", headers)


async def check_http(session: aiohttp.ClientSession, probe: ModelProbe) -> None:
    """Raise unless the probe answers 2xx within the timeout."""
    async with session.get(
        probe.url, headers=probe.headers, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
    ) as response:
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")


async def check_redis(client: aioredis.Redis) -> None:
    """Raise unless Redis answers PING."""
    await asyncio.wait_for(client.ping(), PROBE_TIMEOUT_S)


async def run_checks(checks: dict[str, Check]) -> dict[str, str]:
    """Run every check concurrently; map each name to `ok` or the error's short description."""

    async def one(check: Check) -> str:
        try:
            await check()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__
        return "ok"

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))
