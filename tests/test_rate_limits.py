"""Per-person and per-channel request limits: counted in Redis (so replicas share them),
refused politely before anything is posted or any model asked, and recorded."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from bot.rate_limits import RequestLimits, describe, parse_limit
from bot.settings import Settings
from tests.conftest import AppFactory, RunningApp
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import mention_event, slash_form


async def mention(app: RunningApp, channel: str, text: str, user: str) -> str:
    event = mention_event(text, channel, user=user)
    await app.sender.event(event)
    return str(event["event"]["ts"])


async def test_a_person_over_the_limit_is_told_when_to_ask_again_and_no_model_is_asked(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app(rate_limit_per_user="2/minute")
    for text in ("what is redis?", "what is valkey?"):
        await mention(app, public, text, "U0ALICE001")
    await slack.wait_for_posts(2)
    thread = await mention(app, public, "what is dragonfly?", "U0ALICE001")
    await wait_until(lambda: len(slack.posts) == 3, "the refusal", 10)
    (refusal,) = [p for p in slack.posts if p.get("thread_ts") == thread]
    assert "faster than hearthbot allows (2 questions a minute per person)" in refusal["text"]
    assert "ask again in" in refusal["text"]
    assert len(closed_server.requests) == 2
    # Someone else in the same channel is not held back.
    await mention(app, public, "what is keydb?", "U0BOB00002")
    await slack.wait_for_posts(4)
    assert len(closed_server.requests) == 3
    records = await app.services.audit.tail(10)
    limited = [r for r in records if r.outcome == "rate_limited"]
    assert [(r.user, r.reasons, r.route) for r in limited] == [
        ("U0ALICE001", ("rate_limit:user",), "none")
    ]


async def test_a_limited_ask_is_refused_privately_and_posts_no_heading(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    app = await make_app(rate_limit_per_user="1/minute")
    await app.sender.command(
        slash_form("what is redis?", public, "general", slack.response_url("1"))
    )
    await slack.wait_for_posts(2)  # the heading and the answer
    await app.sender.command(slash_form("and valkey?", public, "general", slack.response_url("2")))
    (told,) = await slack.wait_for_response_posts(1)
    assert told["response_type"] == "ephemeral"
    assert "faster than hearthbot allows" in told["text"]
    assert not any("valkey" in str(p.get("text", "")) for p in slack.posts)


async def test_a_channel_over_its_limit_refuses_everyone_in_it(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app(rate_limit_per_channel="2/minute")
    for user in ("U0ALICE001", "U0BOB00002"):
        await mention(app, public, "what is redis?", user)
    await slack.wait_for_posts(2)
    await mention(app, public, "what is redis?", "U0CAROL003")
    await wait_until(lambda: len(slack.posts) == 3, "the refusal", 10)
    assert "This channel has reached hearthbot's limit of 2 questions a minute" in str(
        slack.posts[-1]["text"]
    )
    assert len(closed_server.requests) == 2


async def test_replicas_count_the_same_requests(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    first = await make_app(rate_limit_per_user="2/minute")
    second = await make_app(rate_limit_per_user="2/minute")
    await mention(first, public, "one", "U0ALICE001")
    await mention(second, public, "two", "U0ALICE001")
    await slack.wait_for_posts(2)
    await mention(first, public, "three", "U0ALICE001")
    await wait_until(lambda: len(slack.posts) == 3, "the refusal", 10)
    assert "faster than hearthbot allows" in str(slack.posts[-1]["text"])
    assert len(closed_server.requests) == 2


async def test_when_redis_cannot_count_the_request_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limits = RequestLimits(
        dead, prefix="t", per_user=parse_limit("1/minute"), per_channel=parse_limit("1/minute")
    )
    with caplog.at_level(logging.WARNING):
        assert await limits.check("T1", "U1", "C1") is None
        assert await limits.check("T1", "U1", "C1") is None
    assert "rate limits not counted" in caplog.text
    await dead.aclose()


@pytest.mark.parametrize(
    ("text", "words"),
    [("30/minute", "30 questions a minute"), ("500 per hour", "500 questions an hour"),
     ("1/second", "1 question a second"), ("10/30 seconds", "10 questions every 30 seconds")],
)  # fmt: skip
def test_limits_read_as_rates(text: str, words: str) -> None:
    limit = parse_limit(text)
    assert limit is not None
    assert describe(limit) == words


@pytest.mark.parametrize("off", ["", "none", "OFF", " none "])
def test_a_limit_can_be_turned_off(off: str) -> None:
    assert parse_limit(off) is None


@pytest.mark.parametrize(
    "bad",
    [
        "thirty a minute",
        "0/minute",
        "30/minute;1/second",
        "30/minute,1/second",
        "30",
        "1/1000000000000 day",
        "5/0 minute",
        "5 per 0 minute",
    ],
)
def test_a_malformed_limit_is_refused_at_start_up_with_its_variable(bad: str) -> None:
    with pytest.raises(ValidationError, match="rate_limit_per_user") as error:
        Settings(_env_file=None, rate_limit_per_user=bad)  # type: ignore[call-arg]
    assert "is not one rate such as 30/minute" in str(error.value)


async def test_a_redis_that_never_answers_holds_a_request_at_most_a_moment() -> None:
    # Accepts connections, never answers: the limits are best effort (the memory step,
    # which cannot be, then tells the asker).
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = aioredis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=5)
    limits = RequestLimits(hung, prefix="t", per_user=parse_limit("1/minute"), per_channel=None)
    try:
        assert await asyncio.wait_for(limits.check("T1", "U1", "C1"), 3) is None
    finally:
        await hung.aclose()
        server.close()
