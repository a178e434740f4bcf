"""Confidentiality that outlives Redis and follows the channel: the thread carries its own
on-prem mark, channel changes reach the routing at once, a `#name` rule never loosens when a
lookup fails, and one Slack Connect thread is one conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import mention_event, message_action_form, new_ts
from tests.test_email_summaries import PLAIN_EMAIL


def channel_event(event: dict, channel_type: str | None = None) -> dict:
    """An Events API envelope around a channel change event."""
    envelope = mention_event("x", "C0PUBLIC01")
    inner = {"event_ts": new_ts(), **event}
    if channel_type:
        inner["channel_type"] = channel_type
    envelope["event"] = inner
    return envelope


async def forget_everything(redis_client: aioredis.Redis, prefix: str) -> None:
    """What a Redis restart without persistence (or eviction, or a TTL) does to hearthbot."""
    async for key in redis_client.scan_iter(match=f"{prefix}:*"):
        await redis_client.delete(key)


async def test_a_confidential_thread_stays_confidential_after_redis_forgets_it(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app()
    root = "1790000700.000100"
    slack.start_thread(public, root, "deploy notes")
    await app.sender.event(mention_event("--local what is our Q3 margin?", public, thread_ts=root))
    (first,) = await slack.wait_for_posts(1)
    assert first["metadata"] == {
        "event_type": "hearthbot_on_prem_answer",
        "event_payload": {"confidential": True},
    }
    await forget_everything(redis_client, redis_prefix)
    await app.sender.event(mention_event("and how do tides work?", public, thread_ts=root))
    _, second = await slack.wait_for_posts(2)
    assert closed_server.requests == []
    assert "confidential thread" in context_line(second)
    replies = slack.calls_to("conversations.replies")
    assert replies[-1].params.get("include_all_metadata") in ("1", "true", True)


async def test_a_cloud_answer_carries_no_mark_and_the_thread_stays_public(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    root = "1790000800.000100"
    slack.start_thread(public, root, "hello")
    await app.sender.event(mention_event("what is a monad?", public, thread_ts=root))
    (first,) = await slack.wait_for_posts(1)
    assert not first["metadata"]
    await app.sender.event(mention_event("and a functor?", public, thread_ts=root))
    await slack.wait_for_posts(2)
    assert closed_server.saw("and a functor?")


@pytest.mark.parametrize(
    ("change", "now"),
    [
        (
            {"type": "message", "subtype": "channel_convert_to_private", "user": "U0ALICE001",
             "text": "made this channel *private*.", "ts": "1790000900.000100"},
            "private",
        ),
        ({"type": "channel_shared", "connected_team_id": "T0PARTNER1"}, "ext_shared"),
    ],
)  # fmt: skip
async def test_a_channel_change_reaches_routing_at_once(
    change: dict,
    now: str,
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app(channel_cache_ttl_s=3600)
    await app.sender.event(mention_event("what is a monad?", public))
    await slack.wait_for_posts(1)
    assert closed_server.saw("what is a monad?")  # public, and now cached as public

    slack.channels[public] = conversation(now, public, "general")
    status, _, _ = await app.sender.event(
        channel_event({**change, "channel": public}, "group" if now == "private" else None)
    )
    assert status == 200
    await app.sender.event(mention_event("and what is a functor?", public))
    (_, second) = await slack.wait_for_posts(2)
    assert not closed_server.saw("functor")
    assert local_server.saw("functor")
    assert ("private channel" if now == "private" else "shared channel") in context_line(second)


async def test_a_rename_event_with_a_channel_object_is_understood(
    make_app: AppFactory, slack: FakeSlack, public: str, local_server: FakeModelServer
) -> None:
    app = await make_app(confidential_channels=["#deals"], channel_cache_ttl_s=3600)
    await app.sender.event(mention_event("what is a monad?", public))
    await slack.wait_for_posts(1)
    slack.channels[public] = conversation("public", public, "deals")
    rename = {"type": "channel_rename", "channel": {"id": public, "name": "deals"}}
    await app.sender.event(channel_event(rename))
    await app.sender.event(mention_event("what is a functor?", public))
    (_, second) = await slack.wait_for_posts(2)
    assert local_server.saw("functor")
    assert "confidential channel" in context_line(second)


async def test_a_name_rule_never_loosens_when_the_lookup_fails(
    tmp_path: Path,
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("confidential_channels: ['#deals-*']\nbuiltin:\n  unknown_channels: false\n")
    slack.channels["C0DEALS001"] = conversation("public", "C0DEALS001", "deals-acme")
    slack.info_errors["C0DEALS001"] = "ratelimited"
    app = await make_app(policy_file=policy)
    await app.sender.event(mention_event("what is the acme price?", "C0DEALS001"))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert local_server.saw("acme price")
    assert "channel name unknown" in context_line(post)


async def test_one_slack_connect_thread_is_one_conversation(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0EXTSHRD1"] = conversation("ext_shared", "C0EXTSHRD1", "acme-partners")
    app = await make_app()
    root = "1790001000.000100"
    slack.threads[("C0EXTSHRD1", root)] = [
        {"type": "message", "user": "U0EXTUSR01", "text": "hi", "ts": root}
    ]
    partner = mention_event("our codename is BLUEFIN", "C0EXTSHRD1", thread_ts=root,
                            user="U0EXTUSR01", ext_shared=True)  # fmt: skip
    partner["event"]["team"] = "T0PARTNER1"  # the sender's organisation, not the install's
    await app.sender.event(partner)
    await slack.wait_for_posts(1)
    ours = mention_event("what codename?", "C0EXTSHRD1", thread_ts=root, ext_shared=True)
    await app.sender.event(ours)
    await slack.wait_for_posts(2)
    second_request = "\n".join(str(m["content"]) for m in local_server.requests[1]["messages"])
    assert "BLUEFIN" in second_request  # the partner's turn is in the same memory


ON_PREM_MARK = {"event_type": "hearthbot_on_prem_answer", "event_payload": {"confidential": True}}


def long_thread(root: str, size: int, marked_at: int) -> list[dict]:
    messages = [{"type": "message", "user": "U0BOB00002", "text": f"m{i}",
                 "ts": f"{root[:-4]}{i:04d}" if i else root} for i in range(size)]  # fmt: skip
    messages[marked_at] = {**messages[marked_at], "bot_id": "B0BOTID001", "metadata": ON_PREM_MARK}
    return messages


async def test_a_thread_that_cannot_be_read_routes_on_prem(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    root = "1790003000.000100"
    slack.threads[(public, root)] = [{"type": "message", "user": "U0B", "text": "x", "ts": root}]
    slack.replies_errors[(public, root)] = "ratelimited"
    await app.sender.event(mention_event("and the walk-away price?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "thread could not be read" in context_line(post)


async def test_an_on_prem_mark_deep_in_a_long_thread_is_found(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    root = "1790004000.000000"
    slack.threads[(public, root)] = long_thread(root, 2500, marked_at=2300)
    await app.sender.event(mention_event("and the walk-away price?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "confidential thread" in context_line(post)


async def test_a_thread_longer_than_hearthbot_reads_routes_on_prem(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    root = "1790005000.000000"
    slack.threads[(public, root)] = long_thread(root, 10_500, marked_at=10_400)
    await app.sender.event(mention_event("and the walk-away price?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "thread could not be read" in context_line(post)


async def test_the_summary_shortcut_respects_the_threads_on_prem_mark(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app()
    root = "1790006000.000100"
    email = {"type": "message", "user": "U0BOB00002", "text": PLAIN_EMAIL,
             "ts": "1790006000.000200", "thread_ts": root}  # fmt: skip
    slack.threads[(public, root)] = [
        {"type": "message", "user": "U0BOB00002", "text": "deal notes", "ts": root},
        {"type": "message", "bot_id": "B0BOTID001", "text": "on-prem answer",
         "ts": "1790006000.000150", "metadata": ON_PREM_MARK},
        email,
    ]  # fmt: skip
    form = message_action_form(email, public, slack.response_url())
    await app.sender.post(form, "application/x-www-form-urlencoded")
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "confidential thread" in context_line(post)
