"""Signed-out sessions: a session cookie is valid until it expires, so signing out records its
nonce in Redis until then, and the guard refuses it (replicas share the record)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from bot.console.access import Session
from bot.redis_client import BEST_EFFORT_TIMEOUT_S


class SignedOut:
    """The nonces of sessions signed out before they expired."""

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:console:signed-out:"

    async def add(self, session: Session) -> None:
        """Refuse this session from now until it would have expired."""
        seconds = max(1, session.expires - int(time.time()))
        async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
            await self._redis.set(self._prefix + session.nonce, b"1", ex=seconds)

    async def has(self, session: Session) -> bool:
        """True when the session was signed out. Raises when Redis cannot tell (the caller
        refuses the request: a signed-out session must not pass because Redis is down)."""
        async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
            return bool(await self._redis.exists(self._prefix + session.nonce))
