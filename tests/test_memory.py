"""Conversation memory on a real Redis server."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from langchain_core.messages import AIMessage, HumanMessage

from bot.memory import ConversationKey, ConversationMemory


def _memory(client: aioredis.Redis, prefix: str, **kw: int) -> ConversationMemory:
    values = {"ttl_s": 600, "max_messages": 6, "token_budget": 2000} | kw
    return ConversationMemory(client, prefix=prefix, **values)


async def test_messages_round_trip_in_order_with_ttl(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    memory = _memory(redis_client, redis_prefix)
    history = memory.history(ConversationKey("T1", "C1", "1.0"))
    await history.aadd_messages([HumanMessage("q1 ünïcode"), AIMessage("a1")])
    await history.aadd_messages([HumanMessage("q2"), AIMessage("a2")])
    messages = await history.aget_messages()
    assert [(type(m).__name__, m.content) for m in messages] == [
        ("HumanMessage", "q1 ünïcode"),
        ("AIMessage", "a1"),
        ("HumanMessage", "q2"),
        ("AIMessage", "a2"),
    ]
    ttl = await redis_client.ttl(history.key)
    assert 590 <= ttl <= 600


async def test_the_list_is_capped_and_concurrent_appends_lose_nothing_inside_the_cap(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    memory = _memory(redis_client, redis_prefix, max_messages=40)
    history = memory.history(ConversationKey("T1", "C1", "2.0"))
    await asyncio.gather(
        *(history.aadd_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}")]) for i in range(30))
    )
    messages = await history.aget_messages()
    assert len(messages) == 40
    # Each append is one transaction: a question is always followed by its own answer.
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert question.content[1:] == answer.content[1:]


async def test_conversations_are_isolated(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    memory = _memory(redis_client, redis_prefix)
    a = memory.history(ConversationKey("T1", "C1", "1.0"))
    b = memory.history(ConversationKey("T1", "C1", "2.0"))
    await a.aadd_messages([HumanMessage("only in a")])
    assert await b.aget_messages() == []
    await a.aclear()
    assert await a.aget_messages() == []


def test_history_sent_to_a_model_fits_the_token_budget(redis_client: aioredis.Redis) -> None:
    memory = _memory(redis_client, "unused", token_budget=200)
    long_history = []
    for i in range(50):
        long_history += [
            HumanMessage(f"question {i} " + "x " * 40),
            AIMessage(f"answer {i} " + "y " * 40),
        ]
    kept = memory.fit_to_budget(long_history)
    assert 0 < len(kept) < len(long_history)
    assert isinstance(kept[0], HumanMessage)
    assert kept[-1].content == long_history[-1].content
