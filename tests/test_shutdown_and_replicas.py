"""The real `hearthbot serve` process: SIGTERM lets the answers in progress finish (up to
SHUTDOWN_GRACE_S) and takes no new requests; two replicas on one Redis answer each event
once and share memory and confidential marks."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.audit import AuditLog
from tests.conftest import TEST_REDIS_URL
from tests.fakes.ledger import settled
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import ServeRun, clean_env, start_serving
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, mention_event, slash_form


def serve_env(
    slack: FakeSlack, local: FakeModelServer, prefix: str, **extra: str
) -> dict[str, str]:
    return clean_env(
        TEST_REDIS_URL,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        REDIS_PREFIX=prefix,
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local.base_url,
        **extra,
    )


@pytest.fixture
def private(slack: FakeSlack) -> str:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    return "C0PRIVATE1"


async def test_sigterm_lets_answers_in_progress_finish_and_takes_no_new_requests(
    slack: FakeSlack, local_server: FakeModelServer, private: str, redis_prefix: str
) -> None:
    local_server.delay_s = 3.0
    run = await start_serving(serve_env(slack, local_server, redis_prefix))
    try:
        await run.wait_healthy()
        markers = [f"s{i:04d}" for i in range(5)]
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, f"{run.base_url}/slack/events")
            for marker in markers:
                form = slash_form(
                    f"question {marker}", private, "deals", slack.response_url(marker)
                )
                assert (await sender.command(form))[0] == 200
        await asyncio.sleep(0.5)  # acknowledged: four at the model, one in line
        assert local_server.in_flight == 4
        run.signal()
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await SlackSender(session, f"{run.base_url}/slack/events").command(
                    slash_form("too late", private, "deals", slack.response_url("late"))
                )
        await run.stopped()
    finally:
        run.signal()
        await run.stopped()
    assert run.returncode == 0
    result = await settled(slack, markers, timeout_s=1)
    assert (result.answered, result.lost) == (5, [])
    assert '"cut_off": 0' in run.stderr


async def test_sigterm_past_the_grace_period_tells_the_askers_and_exits(
    slack: FakeSlack, local_server: FakeModelServer, private: str, redis_prefix: str
) -> None:
    local_server.hang = True
    run = await start_serving(
        serve_env(slack, local_server, redis_prefix, SHUTDOWN_GRACE_S="1", MODEL_TIMEOUT_S="60")
    )
    try:
        await run.wait_healthy()
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, f"{run.base_url}/slack/events")
            event = mention_event("question g0001", private)
            await sender.event(event)
        await asyncio.sleep(0.5)
        run.signal()
        started = time.monotonic()
        await run.stopped()
        took = time.monotonic() - started
    finally:
        run.signal()
        await run.stopped()
    assert run.returncode == 0
    assert took < 1 + 5
    result = await settled(slack, ["g0001"], 1, {"g0001": event["event"]["ts"]})
    assert (result.told, result.lost) == (1, []), run.stderr
    assert "restarted while answering" in slack.posts[-1]["text"]


async def test_two_replicas_answer_each_event_once_and_share_memory_and_marks(
    slack: FakeSlack,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
    public: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    from tests.conftest import CLOSED_KEY

    env = serve_env(
        slack,
        local_server,
        redis_prefix,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_API_KEY=CLOSED_KEY,
        OPENAI_BASE_URL=closed_server.base_url,
    )
    local_server.delay_s = closed_server.delay_s = 0.5
    replicas: list[ServeRun] = [await start_serving(env), await start_serving(env)]
    try:
        for replica in replicas:
            await replica.wait_healthy()
        async with aiohttp.ClientSession() as session:
            first, second = (SlackSender(session, f"{r.base_url}/slack/events") for r in replicas)
            events = [mention_event(f"question t{i:04d}", public) for i in range(10)]
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            # Each event reaches both replicas at once, the second time as Slack's retry.
            await asyncio.gather(
                *(first.event(e) for e in events),
                *(second.event(e, headers=retry) for e in events),
            )
            result = await settled(slack, [f"t{i:04d}" for i in range(10)], timeout_s=20)
            assert (result.answered, result.duplicated, result.lost) == (10, [], [])

            # A card number in a thread, answered by one replica; a follow-up in that
            # thread reaches the other: it knows the thread is confidential.
            root = mention_event("my card is 4111 1111 1111 1111, is it expired?", public)
            await first.event(root)
            await slack.wait_for_posts(11, timeout=20)
            thread_ts = root["event"]["ts"]
            follow_up = mention_event("and what was my question?", public, thread_ts=thread_ts)
            await second.event(follow_up)
            await slack.wait_for_posts(12, timeout=20)
    finally:
        for replica in replicas:
            replica.signal()
        for replica in replicas:
            await replica.stopped()
    records = await AuditLog(redis_client, prefix=redis_prefix, max_entries=100).tail(20)
    assert len(records) == 12
    assert records[-1].route == "local"
    assert "sticky_thread" in records[-1].reasons
    # The second replica answered from the memory the first one wrote.
    follow_up_request = local_server.requests[-1]
    assert any("is it expired?" in json.dumps(m) for m in follow_up_request["messages"])
