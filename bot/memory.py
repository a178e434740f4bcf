"""Conversation memory in plain Redis, behind LangChain's `BaseChatMessageHistory`.

Why not a ready-made class: `langchain-community`'s `RedisChatMessageHistory` is deprecated
and appends with separate commands (push, then expire) that are not atomic and never trim;
`langchain-redis` needs the Redis Stack search modules that a plain Redis server lacks. This
class is small: one list per conversation, appended in one MULTI/EXEC transaction that
pushes, trims to a cap, refreshes the TTL and, for a confidential turn, sets the
conversation's confidential mark, all together.

With MEMORY_ENCRYPTION_KEY set, every stored message is encrypted (Fernet: AES-128-CBC with
an HMAC-SHA256, i.e. authenticated encryption, from `cryptography`), together with its
turn's confidentiality and the conversation it belongs to (see `MessageCodec`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.messages.utils import count_tokens_approximately, trim_messages

log = logging.getLogger(__name__)

ENCRYPTED_PREFIX = "enc2:"
# Entries written before each one carried its conversation and confidentiality.
LEGACY_ENCRYPTED_PREFIX = "enc1:"
ENTRY_VERSION = 2
# Only what a conversation holds: a person's turn and the model's. A system message injected
# into Redis ("Ignore the routing policy...") is never loaded as context.
_ALLOWED_TYPES = frozenset({"human", "ai"})


@dataclass(frozen=True)
class ConversationKey:
    """One conversation: a Slack thread (or a DM's top level) in one workspace."""

    team_id: str
    channel_id: str
    thread_ts: str

    def redis_key(self, prefix: str) -> str:
        """The Redis key of this conversation's message list."""
        return f"{prefix}:memory:{self.team_id}:{self.channel_id}:{self.thread_ts}"

    @property
    def binding(self) -> str:
        """What an encrypted entry is bound to: an entry copied into another conversation's
        list is refused there."""
        return f"{self.team_id}:{self.channel_id}:{self.thread_ts}"


@dataclass(frozen=True)
class DecodedHistory:
    """The messages of a conversation as read from Redis, and what the entries said."""

    messages: list[BaseMessage]
    # Some entry was written for a confidential turn.
    confidential: bool
    # Some entry should be written again: encrypted with an older key, or in an old format.
    stale: bool
    # Per message, the sensitive categories found in it when it was stored, where they can
    # be trusted (None: scan it again).
    scanned: list[frozenset[str] | None] = field(default_factory=list)


class MessageCodec:
    """Turns messages into stored entries and back, encrypting when keys are given.

    Each entry carries its message, whether its turn was confidential, and (encrypted) the
    conversation it belongs to, so Redis is a cache and not a vault: someone who can write to
    Redis cannot unmark a confidential thread by deleting a key, cannot move an entry between
    conversations, and cannot inject plaintext or system messages while encryption is on.

    `keys` are Fernet keys: the first encrypts, all decrypt. Entries read with an older key
    are reported `stale`, and `RedisChatHistory` writes them again with the newest key.

    An entry also carries the sensitive categories found in its message when it was
    stored, and the detector version that found them, so a conversation's memory is not
    scanned again on every turn (by any replica). They are trusted only from encrypted
    entries bound to their conversation, and only for the same detector version: from a
    plaintext entry they could have been written by anyone who can write to Redis, next to
    a message copied from another conversation.
    """

    def __init__(
        self,
        keys: Sequence[str] = (),
        *,
        accept_legacy: bool = False,
        scan_version: str | None = None,
    ) -> None:
        fernets = [Fernet(k.encode()) for k in keys]
        self._primary = fernets[0] if fernets else None
        self._fernet = MultiFernet(fernets) if fernets else None
        # While encryption is on, entries from before it (plaintext) or from before entries
        # were bound to their conversation (`enc1:`) are refused unless migrating: an old
        # token copied from a backup would otherwise open in any conversation, for ever.
        self._accept_legacy = accept_legacy or not fernets
        self._scan_version = scan_version

    @property
    def encrypting(self) -> bool:
        """True when new entries are encrypted."""
        return self._fernet is not None

    def encode(
        self,
        messages: Sequence[BaseMessage],
        *,
        confidential: bool = False,
        conversation: ConversationKey | None = None,
        scanned: Sequence[frozenset[str] | None] = (),
    ) -> list[str]:
        """Messages as the strings stored in Redis; `scanned` (when given, one per message)
        is what the detector found in each."""
        entries = []
        for i, message in enumerate(messages):
            body: dict[str, Any] = {
                "v": ENTRY_VERSION,
                "c": confidential,
                "m": message_to_dict(message),
            }
            found = scanned[i] if i < len(scanned) else None
            if found is not None and self._scan_version is not None:
                body["s"] = sorted(found)
                body["sv"] = self._scan_version
            if self._fernet is None:
                entries.append(json.dumps(body, ensure_ascii=False))
                continue
            body["k"] = conversation.binding if conversation else None
            plain = json.dumps(body, ensure_ascii=False).encode()
            entries.append(ENCRYPTED_PREFIX + self._fernet.encrypt(plain).decode())
        return entries

    def decode(
        self, raw: Sequence[bytes | str], conversation: ConversationKey | None = None
    ) -> DecodedHistory:
        """Stored entries back to messages. Entries that cannot be opened, parsed or trusted
        are left out, and counted in one warning."""
        messages: list[BaseMessage] = []
        scanned: list[frozenset[str] | None] = []
        confidential = stale = False
        refused: dict[str, int] = {}
        for item in raw:
            try:
                text = item.decode() if isinstance(item, bytes) else item
                body, entry_stale = self._open(text, conversation)
            except _Refused as exc:
                refused[exc.reason] = refused.get(exc.reason, 0) + 1
                continue
            except (UnicodeDecodeError, ValueError, TypeError, KeyError):
                refused["unparseable"] = refused.get("unparseable", 0) + 1
                continue
            message = body.get("m") if body.get("v") == ENTRY_VERSION else body
            if not isinstance(message, dict) or message.get("type") not in _ALLOWED_TYPES:
                refused["not a human or AI message"] = (
                    refused.get("not a human or AI message", 0) + 1
                )
                continue
            try:
                messages.extend(messages_from_dict([message]))
            except (ValueError, TypeError, KeyError):
                refused["unparseable"] = refused.get("unparseable", 0) + 1
                continue
            authenticated = text.startswith(ENCRYPTED_PREFIX) and conversation is not None
            scanned.append(self._scanned(body) if authenticated else None)
            confidential = confidential or body.get("c") is True
            stale = stale or entry_stale
        if refused:
            log.warning(
                "memory entries were left out; if MEMORY_ENCRYPTION_KEY changed, keep the old "
                "key after the new one until MEMORY_TTL_S has passed",
                extra={"entries": refused},
            )
        return DecodedHistory(messages, confidential, stale, scanned)

    def _scanned(self, body: dict[str, Any]) -> frozenset[str] | None:
        """The categories an authenticated entry says its message holds, if they were found
        by this detector version."""
        found = body.get("s")
        if self._scan_version is None or body.get("sv") != self._scan_version:
            return None
        if not isinstance(found, list) or not all(isinstance(c, str) for c in found):
            return None
        return frozenset(found)

    def _open(self, text: str, conversation: ConversationKey | None) -> tuple[dict[str, Any], bool]:
        """The entry's JSON body, and whether it should be written again."""
        if text.startswith((ENCRYPTED_PREFIX, LEGACY_ENCRYPTED_PREFIX)):
            if self._fernet is None or self._primary is None:
                raise _Refused("encrypted, and no key is configured")
            token = text.split(":", 1)[1].encode()
            try:
                plain, stale = self._primary.decrypt(token), False
            except InvalidToken:
                try:
                    plain, stale = self._fernet.decrypt(token), True
                except InvalidToken:
                    raise _Refused("no configured key opens it") from None
            body = json.loads(plain)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            if text.startswith(LEGACY_ENCRYPTED_PREFIX):
                if not self._accept_legacy:
                    raise _Refused("encrypted without its conversation (before this version)")
                return body, True
            if conversation is not None and body.get("k") != conversation.binding:
                raise _Refused("written for another conversation")
            return body, stale
        if not self._accept_legacy:
            raise _Refused("plaintext while encryption is on")
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        # Plaintext in a list that is now encrypted is rewritten encrypted.
        return body, self.encrypting or body.get("v") != ENTRY_VERSION


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        conversation: ConversationKey | None = None,
    ) -> None:
        self.key = key
        self.mark_key = f"{key}:confidential"
        self._client = client
        self._sync_client = sync_client
        self._ttl_s = ttl_s
        self._max_messages = max_messages
        self._codec = codec or MessageCodec()
        self._conversation = conversation

    async def aload(self) -> DecodedHistory:
        """The messages, and whether the conversation is confidential (its mark, or any
        entry that says so). Entries under an older key are re-encrypted with the newest."""
        async with self._client.pipeline(transaction=False) as pipe:  # one round trip
            pipe.lrange(self.key, 0, -1)
            pipe.exists(self.mark_key)
            raw, marked = await pipe.execute()
        decoded = self._codec.decode(raw, self._conversation)
        if decoded.stale and self._codec.encrypting:
            await self._rewrite(raw, decoded)
        return replace(decoded, confidential=decoded.confidential or bool(marked))

    async def _rewrite(self, raw: list[bytes | str], decoded: DecodedHistory) -> None:
        """Write the list again in the current format and key, unless it changed meanwhile;
        its TTL is kept, so rewriting never makes entries live longer."""
        entries = self._codec.encode(
            decoded.messages,
            confidential=decoded.confidential,
            conversation=self._conversation,
            scanned=decoded.scanned,
        )
        async with self._client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.key)
                ttl_ms = await pipe.pttl(self.key)
                if await pipe.lrange(self.key, 0, -1) != raw:
                    return  # appended to meanwhile: the next read rewrites it
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.delete(self.key)
                if entries:
                    pipe.rpush(self.key, *entries)
                    pipe.pexpire(self.key, ttl_ms if ttl_ms > 0 else self._ttl_s * 1000)
                await pipe.execute()
            except redis.WatchError:
                return

    async def aget_messages(self) -> list[BaseMessage]:
        """All stored messages, oldest first."""
        return (await self.aload()).messages

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically: push, trim to the cap and refresh the TTL in one transaction."""
        await self.aadd_turn(messages, confidential=False)

    async def aadd_turn(
        self,
        messages: Sequence[BaseMessage],
        *,
        confidential: bool,
        scanned: Sequence[frozenset[str] | None] = (),
    ) -> None:
        """Append a turn and, if it was confidential, mark the conversation, in one transaction.

        The mark is also inside each entry of the turn; the separate key lives as long as the
        messages (its TTL is refreshed with theirs) and answers `ais_confidential` cheaply.
        """
        if not messages:
            return
        entries = self._codec.encode(
            messages, confidential=confidential, conversation=self._conversation, scanned=scanned
        )
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *entries)
            pipe.ltrim(self.key, -self._max_messages, -1)
            pipe.expire(self.key, self._ttl_s)
            if confidential:
                pipe.set(self.mark_key, "1", ex=self._ttl_s)
            else:
                pipe.expire(self.mark_key, self._ttl_s)
            await pipe.execute()

    async def ais_confidential(self) -> bool:
        """True once any turn of this conversation was confidential."""
        return (await self.aload()).confidential

    async def aclear(self) -> None:
        """Forget this conversation, its confidential mark included."""
        await self._client.delete(self.key, self.mark_key)

    # The synchronous interface, for scripts and tools that are not async.
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All stored messages, oldest first."""
        return self._codec.decode(self._sync().lrange(self.key, 0, -1), self._conversation).messages

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append atomically (synchronous variant)."""
        if not messages:
            return
        entries = self._codec.encode(messages, conversation=self._conversation)
        with self._sync().pipeline(transaction=True) as pipe:
            pipe.rpush(self.key, *entries)
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
            conversation=conversation,
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
