"""Conversation memory in plain Redis, behind LangChain's `BaseChatMessageHistory`.

Why not a ready-made class: `langchain-community`'s `RedisChatMessageHistory` is deprecated
and appends with separate commands (push, then expire) that are not atomic and never trim;
`langchain-redis` needs the Redis Stack search modules that a plain Redis server lacks. This
class is small: one list per conversation, appended in one MULTI/EXEC transaction that
pushes, trims to a cap, refreshes the TTL and, for a confidential turn, sets the
conversation's confidential mark, all together.

With MEMORY_ENCRYPTION_KEY set, every stored message is encrypted (Fernet: AES-128-CBC with
an HMAC-SHA256, i.e. authenticated encryption, from `cryptography`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.messages.utils import count_tokens_approximately, trim_messages

log = logging.getLogger(__name__)

ENCRYPTED_PREFIX = "enc1:"


@dataclass(frozen=True)
class ConversationKey:
    """One conversation: a Slack thread (or a DM's top level) in one workspace."""

    team_id: str
    channel_id: str
    thread_ts: str

    def redis_key(self, prefix: str) -> str:
        """The Redis key of this conversation's message list."""
        return f"{prefix}:memory:{self.team_id}:{self.channel_id}:{self.thread_ts}"


class MessageCodec:
    """Turns messages into stored strings and back, encrypting when keys are given.

    `keys` is a list of Fernet keys: the first encrypts, all of them decrypt, so a key can be
    rotated by putting the new one first and keeping the old one until MEMORY_TTL_S has
    passed. Entries stored before encryption was switched on are still read.
    """

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @property
    def encrypting(self) -> bool:
        """True when new entries are encrypted."""
        return self._fernet is not None

    def encode(self, messages: Sequence[BaseMessage]) -> list[str]:
        """Messages as the strings stored in Redis."""
        plain = [json.dumps(message_to_dict(m), ensure_ascii=False) for m in messages]
        if self._fernet is None:
            return plain
        return [ENCRYPTED_PREFIX + self._fernet.encrypt(p.encode()).decode() for p in plain]

    def decode(self, raw: Sequence[bytes | str]) -> list[BaseMessage]:
        """Stored strings back to messages; an entry no key opens is skipped and logged."""
        dicts = []
        unreadable = 0
        for item in raw:
            text = item.decode() if isinstance(item, bytes) else item
            if text.startswith(ENCRYPTED_PREFIX):
                if self._fernet is None:
                    unreadable += 1
                    continue
                try:
                    text = self._fernet.decrypt(
                        text.removeprefix(ENCRYPTED_PREFIX).encode()
                    ).decode()
                except InvalidToken:
                    unreadable += 1
                    continue
            dicts.append(json.loads(text))
        if unreadable:
            log.warning(
                "memory entries could not be decrypted and were left out; was "
                "MEMORY_ENCRYPTION_KEY changed without keeping the old key?",
                extra={"entries": unreadable},
            )
        return messages_from_dict(dicts)


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
        codec: MessageCodec | None = None,
    ) -> None:
        self.key = key
        self.mark_key = f"{key}:confidential"
        self._client = client
        self._sync_client = sync_client
        self._ttl_s = ttl_s
        self._max_messages = max_messages
        self._codec = codec or MessageCodec()

    async def aget_messages(self) -> list[BaseMessage]:
        """All stored messages, oldest first."""
        return self._codec.decode(await self._client.lrange(self.key, 0, -1))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically: push, trim to the cap and refresh the TTL in one transaction."""
        await self.aadd_turn(messages, confidential=False)

    async def aadd_turn(self, messages: Sequence[BaseMessage], *, confidential: bool) -> None:
        """Append a turn and, if it was confidential, mark the conversation, in one transaction.

        The mark lives as long as the messages: its TTL is refreshed with theirs.
        """
        if not messages:
            return
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *self._codec.encode(messages))
            pipe.ltrim(self.key, -self._max_messages, -1)
            pipe.expire(self.key, self._ttl_s)
            if confidential:
                pipe.set(self.mark_key, "1", ex=self._ttl_s)
            else:
                pipe.expire(self.mark_key, self._ttl_s)
            await pipe.execute()

    async def ais_confidential(self) -> bool:
        """True once any turn of this conversation was confidential."""
        return bool(await self._client.exists(self.mark_key))

    async def aclear(self) -> None:
        """Forget this conversation, its confidential mark included."""
        await self._client.delete(self.key, self.mark_key)

    # The synchronous interface, for scripts and tools that are not async.
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All stored messages, oldest first."""
        return self._codec.decode(self._sync().lrange(self.key, 0, -1))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically (synchronous variant)."""
        if not messages:
            return
        with self._sync().pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *self._codec.encode(messages))
            pipe.ltrim(self.key, -self._max_messages, -1)
            pipe.expire(self.key, self._ttl_s)
            pipe.expire(self.mark_key, self._ttl_s)
            pipe.execute()

    def clear(self) -> None:
        """Forget this conversation (synchronous variant)."""
        self._sync().delete(self.key, self.mark_key)

    def _sync(self) -> redis.Redis:
        if self._sync_client is None:
            raise RuntimeError("this history was built for async use only")
        return self._sync_client


class ConversationMemory:
    """Hands out the history of each conversation, with the configured TTL, cap and codec."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        ttl_s: int,
        max_messages: int,
        token_budget: int,
        codec: MessageCodec | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._max_messages = max_messages
        self._token_budget = token_budget
        self._codec = codec or MessageCodec()

    def history(self, conversation: ConversationKey) -> RedisChatHistory:
        """The stored history of one conversation."""
        return RedisChatHistory(
            conversation.redis_key(self._prefix),
            client=self._client,
            ttl_s=self._ttl_s,
            max_messages=self._max_messages,
            codec=self._codec,
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
