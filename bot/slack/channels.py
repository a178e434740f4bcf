"""What kind of conversation a channel is, from `conversations.info`, cached in Redis.

Any failure to find out (an API error, a timeout, a channel the bot cannot see) yields
UNKNOWN, which the policy treats as confidential: when in doubt, local. Failures are
caught broadly on purpose: every one of them moves the request on-prem, never off it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.redis_client import BEST_EFFORT_TIMEOUT_S
from bot.routing.channel import ChannelFacts, ChannelKind, facts_from_conversation

log = logging.getLogger(__name__)

# `channel_type` on message events; app_mention events do not carry it.
EVENT_CHANNEL_TYPES = {"im": ChannelKind.IM, "mpim": ChannelKind.MPIM, "group": ChannelKind.PRIVATE}


class ChannelDirectory:
    """Looks channels up through the Slack Web API and caches what it learns.

    With a `signing_key` (derived from MEMORY_ENCRYPTION_KEY), each cached entry carries an
    HMAC: someone who can write to Redis cannot make a private channel look public, since an
    entry that does not verify is ignored and the channel looked up again.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        ttl_s: int,
        signing_key: bytes | None = None,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._signing_key = signing_key

    def _seal(self, channel_id: str, payload: str) -> str:
        if self._signing_key is None:
            return payload
        mac = hmac.new(self._signing_key, f"{channel_id}\n{payload}".encode(), "sha256")
        return f"{mac.hexdigest()}|{payload}"

    def _open(self, channel_id: str, stored: bytes | str) -> dict[str, Any] | None:
        text = stored.decode() if isinstance(stored, bytes) else stored
        if self._signing_key is not None:
            mac, _, payload = text.partition("|")
            expected = self._seal(channel_id, payload).partition("|")[0]
            if not hmac.compare_digest(mac, expected):
                log.warning("channel cache entry failed verification; looked up again")
                return None
            text = payload
        try:
            data = json.loads(text)
            return data if isinstance(data, dict) else None
        except ValueError:
            return None

    def _key(self, channel_id: str) -> str:
        # By channel alone: a Slack Connect channel has one ID in every organisation that
        # shares it, and a change event must reach the one cache entry there is.
        return f"{self._prefix}:channel:{channel_id}"

    async def forget(self, channel_id: str) -> None:
        """Drop what is cached about a channel (it changed)."""
        await self._redis.delete(self._key(channel_id))

    async def facts(
        self,
        web: AsyncWebClient,
        channel_id: str,
        *,
        event: dict[str, Any] | None = None,
        ext_shared_hint: bool = False,
    ) -> ChannelFacts:
        """Facts about a channel. Hints from the event can only make it more confidential."""
        facts = await self._cached_or_fetched(web, channel_id)
        kind = facts.kind
        event_kind = EVENT_CHANNEL_TYPES.get(str((event or {}).get("channel_type")))
        if event_kind is not None and kind in (ChannelKind.PUBLIC, ChannelKind.UNKNOWN):
            kind = event_kind
        return ChannelFacts(
            channel_id=channel_id,
            kind=kind,
            name=facts.name,
            ext_shared=facts.ext_shared or ext_shared_hint,
        )

    async def _cached_or_fetched(self, web: AsyncWebClient, channel_id: str) -> ChannelFacts:
        key = self._key(channel_id)
        try:
            async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
                cached = await self._redis.get(key)
        except (aioredis.RedisError, TimeoutError):
            log.warning("channel cache unavailable", exc_info=True)
            cached = None
        data = self._open(channel_id, cached) if cached else None
        if data is not None:
            try:
                return ChannelFacts.from_json(data)
            except (KeyError, ValueError, TypeError):
                log.warning("channel cache entry unreadable; looked up again")
        try:
            response = await web.conversations_info(channel=channel_id)
            info = response.get("channel")
            facts = facts_from_conversation(channel_id, info if isinstance(info, dict) else {})
        except Exception as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else None
            log.warning(
                "conversations.info failed; treating channel as unknown (confidential)",
                extra={"channel": channel_id, "slack_error": error, "error": type(exc).__name__},
            )
            facts = ChannelFacts(channel_id=channel_id, kind=ChannelKind.UNKNOWN)
        # An unknown kind is cached briefly too (it routes local either way), so a channel
        # the bot cannot see does not cost a Web API call per message.
        ttl = self._ttl_s if facts.kind is not ChannelKind.UNKNOWN else min(self._ttl_s, 60)
        if ttl > 0:
            try:
                async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
                    await self._redis.set(
                        key, self._seal(channel_id, json.dumps(facts.to_json())), ex=ttl
                    )
            except (aioredis.RedisError, TimeoutError):
                log.warning("channel cache unavailable", exc_info=True)
        return facts
