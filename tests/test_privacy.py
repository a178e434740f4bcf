"""The privacy promise end to end: content routing, sticky threads, memory replay,
encryption at rest, the audit trail and what reaches the logs."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from langchain_core.messages import AIMessage, HumanMessage

from bot.memory import ConversationKey, MessageCodec
from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import TEAM_ID, FakeSlack, conversation
from tests.fakes.slack_requests import mention_event


async def test_sensitive_content_in_a_public_channel_routes_local(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    await app.sender.event(mention_event("why was card 4111 1111 1111 1111 declined?", public))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert local_server.saw("4111 1111 1111 1111")
    assert "card number in message" in context_line(post)


async def test_a_confidential_thread_stays_confidential(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    root = "1790000400.000100"
    slack.start_thread(public, root, "help")
    await app.sender.event(mention_event("reset pwd=Winter2026! for me", public, thread_ts=root))
    await slack.wait_for_posts(1)
    await app.sender.event(
        mention_event("thanks, and how do I log in now?", public, thread_ts=root)
    )
    _, second = await slack.wait_for_posts(2)
    assert closed_server.requests == []
    assert "confidential thread" in context_line(second)
    # The second turn carried the first (with the password) as history, on-prem only.
    assert any(
        "Winter2026!" in t for t in (m["content"] for m in local_server.requests[1]["messages"])
    )
    # Another thread in the same channel is not affected.
    await app.sender.event(mention_event("what is a monad?", public))
    await slack.wait_for_posts(3)
    assert closed_server.saw("what is a monad?")
    assert not closed_server.saw("Winter2026!")


async def test_sensitive_thread_context_routes_local(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    root = "1790000500.000100"
    slack.threads[(public, root)] = [
        {
            "type": "message",
            "user": "U0BOB00002",
            "ts": root,
            "text": "customer wrote from maria.lopez@example.net about a refund",
        },
    ]
    await app.sender.event(mention_event("can you draft a reply?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert local_server.saw("maria.lopez@example.net")
    assert "email address in message" in context_line(post)


async def test_memory_with_sensitive_content_is_never_replayed_to_the_closed_api(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    thread = "1790000600.000100"
    slack.start_thread(public, thread)
    # Memory written without the confidential mark (an older version, or a lost mark):
    # the scan of the replayed history still catches it.
    history = app.services.memory.history(ConversationKey(TEAM_ID, public, thread))
    await history.aadd_messages(
        [HumanMessage("my IBAN is DE89 3704 0044 0532 0130 00"), AIMessage("noted")]
    )
    assert not await history.ais_confidential()
    await app.sender.event(mention_event("what was it again?", public, thread_ts=thread))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "IBAN in message" in context_line(post)
    assert "thread could not be read" not in context_line(post)


async def test_memory_is_encrypted_at_rest_and_keys_rotate(
    make_app: AppFactory,
    slack: FakeSlack,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = await make_app(memory_encryption_key=old_key)
    event = mention_event("the acquisition price is 41 million", "C0PRIVATE1")
    await app.sender.event(event)
    await slack.wait_for_posts(1)
    key = f"{redis_prefix}:memory:{TEAM_ID}:C0PRIVATE1:{event['event']['ts']}"
    raw = await redis_client.lrange(key, 0, -1)
    assert len(raw) == 2
    assert all(item.startswith(b"enc2:") for item in raw)
    assert all(b"acquisition" not in item for item in raw)

    rotated = MessageCodec([new_key, old_key])  # new key first, old one kept
    assert rotated.decode(raw).messages[0].content == "the acquisition price is 41 million"
    new_entry = rotated.encode([HumanMessage("after rotation")])
    assert MessageCodec([new_key]).decode(new_entry).messages[0].content == "after rotation"
    assert MessageCodec([old_key]).decode(new_entry).messages == []  # old key alone cannot


def test_unreadable_entries_are_skipped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    entry = MessageCodec([Fernet.generate_key().decode()]).encode([HumanMessage("x")])
    with caplog.at_level(logging.WARNING):
        assert MessageCodec([Fernet.generate_key().decode()]).decode(entry).messages == []
    assert "no configured key opens it" in repr([r.__dict__ for r in caplog.records])


async def test_audit_trail_records_every_decision_without_text(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    redis_client: aioredis.Redis,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    app = await make_app()
    await app.sender.event(mention_event("my SSN is 078-05-1120", public))
    await app.sender.event(mention_event("how do tides work", public))
    await slack.wait_for_posts(2)
    local_server.down = True
    await app.sender.event(mention_event("board minutes", "C0PRIVATE1"))
    await slack.wait_for_posts(3)

    records = await app.services.audit.tail(10)
    assert len(records) == 3
    by_outcome = {r.outcome: r for r in records}
    refused = by_outcome["refused"]
    assert refused.route == "local"
    assert refused.reasons == ("private_channel",)
    assert refused.answered_by is None
    routes = sorted((r.route, r.reasons) for r in records if r.outcome == "answered")
    assert routes == [("closed", ("public_channel",)), ("local", ("sensitive:national_id",))]
    for r in records:
        assert r.user == "U0ALICE001"
        assert r.team == TEAM_ID
        assert r.latency_ms >= 0
    answered_closed = next(r for r in records if r.route == "closed")
    assert answered_closed.input_tokens == 10  # usage from the OpenAI stream
    assert answered_closed.output_tokens == 10
    raw = await redis_client.xrange(app.services.audit.key)
    dump = repr(raw)
    for text in ("078-05-1120", "tides", "board minutes"):
        assert text not in dump


async def test_logs_carry_no_text_at_info_and_redacted_text_at_debug(
    make_app: AppFactory, slack: FakeSlack, public: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app()
    with caplog.at_level(logging.DEBUG, logger="bot"):
        await app.sender.event(mention_event("card 4111 1111 1111 1111 for jane@corp.io", public))
        await slack.wait_for_posts(1)
    info_and_up = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert info_and_up
    for record in caplog.records:
        rendered = record.getMessage() + repr(record.__dict__)
        assert "4111 1111" not in rendered
        assert "jane@corp.io" not in rendered
    debug_texts = [getattr(r, "text", "") for r in caplog.records if r.levelno == logging.DEBUG]
    assert "card [credit_card] for [email]" in debug_texts
