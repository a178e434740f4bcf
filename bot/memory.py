"""Conversation memory in plain Redis, behind LangChain's `BaseChatMessageHistory`.

Why not a ready-made class: `langchain-community`'s `RedisChatMessageHistory` is deprecated
and appends with separate commands (push, then expire) that are not atomic and never trim;
`langchain-redis` needs the Redis Stack search modules that a plain Redis server lacks. This
class is small: one list per conversation, appended in one MULTI/EXEC transaction that
pushes, trims to a cap and refreshes the TTL together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.messages.utils import count_tokens_approximately, trim_messages


@dataclass(frozen=True)
class ConversationKey:
    """One conversation: a Slack thread (or a DM's top level) in one workspace."""

    team_id: str
    channel_id: str
    thread_ts: str

    def redis_key(self, prefix: str) -> str:
        """The Redis key of this conversation's message list."""
        return f"{prefix}:memory:{self.team_id}:{self.channel_id}:{self.thread_ts}"


def _encode(messages: Sequence[BaseMessage]) -> list[str]:
    return [json.dumps(message_to_dict(m), ensure_ascii=False) for m in messages]


def _decode(raw: Sequence[bytes | str]) -> list[BaseMessage]:
    return messages_from_dict([json.loads(item) for item in raw])


class RedisChatHistory(BaseChatMessageHistory):
    """The messages of one conversation, stored as a capped Redis list with a TTL."""

    def __init__(
        self,
        key: str,
        *,
        client: aioredis.Redis,
        sync_client: redis.Redis | None = None,
        ttl_s: int,
        max_messages: int,
    ) -> None:
        self.key = key
        self._client = client
        self._sync_client = sync_client
        self._ttl_s = ttl_s
        self._max_messages = max_messages

    async def aget_messages(self) -> list[BaseMessage]:
        """All stored messages, oldest first."""
        return _decode(await self._client.lrange(self.key, 0, -1))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically: push, trim to the cap and refresh the TTL in one transaction."""
        if not messages:
            return
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *_encode(messages))
            pipe.ltrim(self.key, -self._max_messages, -1)
            pipe.expire(self.key, self._ttl_s)
            await pipe.execute()

    async def aclear(self) -> None:
        """Forget this conversation."""
        await self._client.delete(self.key)

    # The synchronous interface, for scripts and tools that are not async.
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All stored messages, oldest first."""
        return _decode(self._sync().lrange(self.key, 0, -1))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically (synchronous variant)."""
        if not messages:
            return
        with self._sync().pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *_encode(messages))
            pipe.ltrim(self.key, -self._max_messages, -1)
            pipe.expire(self.key, self._ttl_s)
            pipe.execute()

    def clear(self) -> None:
        """Forget this conversation (synchronous variant)."""
        self._sync().delete(self.key)

    def _sync(self) -> redis.Redis:
        if self._sync_client is None:
            raise RuntimeError("this history was built for async use only")
        return self._sync_client


class ConversationMemory:
    """Hands out the history of each conversation, with the configured TTL and cap."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        ttl_s: int,
        max_messages: int,
        token_budget: int,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._max_messages = max_messages
        self._token_budget = token_budget

    def history(self, conversation: ConversationKey) -> RedisChatHistory:
        """The stored history of one conversation."""
        return RedisChatHistory(
            conversation.redis_key(self._prefix),
            client=self._client,
            ttl_s=self._ttl_s,
            max_messages=self._max_messages,
        )

    def fit_to_budget(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The newest messages that fit the token budget, starting on a human turn."""
        return trim_messages(
            list(messages),
            max_tokens=self._token_budget,
            token_counter=count_tokens_approximately,
            strategy="last",
            start_on="human",
            allow_partial=False,
        )
