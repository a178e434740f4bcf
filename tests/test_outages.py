"""Outages end in a reply, never in silence: Redis going away and coming back, a model that
hangs or trickles, a file download cut off. The app is the real one (Bolt over HTTP, real
LangChain clients); Redis here is a server of the test's own, so it can be killed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import AppFactory, RunningApp
from tests.fakes.ledger import settled
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.redis_process import RedisProcess
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event, slash_form


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisProcess]:
    server = await RedisProcess().start()
    yield server
    await server.cleanup()


@pytest.fixture
def private(slack: FakeSlack) -> str:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    return "C0PRIVATE1"


async def ask(app: RunningApp, slack: FakeSlack, channel: str, marker: str) -> None:
    status, _, _ = await app.sender.command(
        slash_form(f"question {marker}", channel, "general", slack.response_url(marker))
    )
    assert status == 200


def texts(slack: FakeSlack) -> list[str]:
    return [str(p.get("text")) for p in slack.posts + slack.response_posts]


async def test_redis_down_is_a_sentence_and_recovery_takes_no_restart(
    make_app: AppFactory, slack: FakeSlack, public: str, own_redis: RedisProcess
) -> None:
    app = await make_app(redis_url=own_redis.url)
    await ask(app, slack, public, "r0001")
    assert (await settled(slack, ["r0001"])).answered == 1

    await own_redis.stop()
    await ask(app, slack, public, "r0002")
    down = await settled(slack, ["r0002"])
    assert (down.answered, down.told, down.lost) == (0, 1, [])
    assert any("memory store is unavailable" in t for t in texts(slack))

    await own_redis.start()
    back = time.monotonic()
    await ask(app, slack, public, "r0003")
    result = await settled(slack, ["r0003"], timeout_s=10)
    assert result.answered == 1
    assert time.monotonic() - back < 5


async def test_redis_failing_after_the_model_answered_still_delivers_the_answer(
    make_app: AppFactory,
    slack: FakeSlack,
    private: str,
    local_server: FakeModelServer,
    own_redis: RedisProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    local_server.delay_s = 1.5
    app = await make_app(redis_url=own_redis.url, redis_socket_timeout_s=1)
    with caplog.at_level(logging.INFO):
        await app.sender.event(mention_event("question w0001", private))
        await asyncio.sleep(0.7)  # the model is answering
        await own_redis.stop()
        result = await settled(slack, ["w0001"], timeout_s=20)
    assert result.answered == 1
    (answer,) = [p for p in slack.posts if "w0001" in str(p.get("text"))]
    assert "was not saved" in str(answer["blocks"])
    # The audit record could not reach the stream: it is in the log.
    records = [r for r in caplog.records if r.getMessage() == "route decision"]
    assert [r.audit["outcome"] for r in records] == ["answered"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("fault", ["hang", "trickle"])
async def test_a_model_that_never_finishes_is_reported_within_the_deadline(
    make_app: AppFactory, slack: FakeSlack, private: str, local_server: FakeModelServer, fault: str
) -> None:
    if fault == "hang":
        local_server.hang = True
    else:
        # One word every 0.8 s never trips a per-read timeout of 2 s.
        local_server.reply = " ".join(["word"] * 50)
        local_server.word_delay_s = 0.8
    app = await make_app(model_timeout_s=2)
    started = time.monotonic()
    await app.sender.event(mention_event("question h0001", private))
    await slack.wait_for_posts(1, timeout=15)
    told_after = time.monotonic() - started
    assert "did not finish answering within 2 seconds" in slack.posts[0]["text"]
    assert told_after < 2 + 1.5
    (record,) = await app.services.audit.tail(5)
    assert record.outcome == "timeout"


async def test_a_file_download_cut_off_is_a_sentence_and_an_audit_record(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    content = b"From: jane@example.com\r\nSubject: refund\r\n\r\n" + b"Hello, " * 5000
    file = slack.add_file("mail.eml", content, "message/rfc822", _cut_after=1000)
    app = await make_app()
    await app.sender.event(dm_event("summarize this email", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert "could not read that file" in post["text"]
    (record,) = await app.services.audit.tail(5)
    assert (record.outcome, record.reasons) == ("error", ("file_unreadable",))


async def test_a_question_too_long_for_the_model_is_told_apart_from_an_outage(
    make_app: AppFactory, slack: FakeSlack, private: str, local_server: FakeModelServer
) -> None:
    app = await make_app(local_context_tokens=1024, max_answer_tokens=128)
    await app.sender.event(mention_event("explain " + "this clause " * 2000, private))
    (post,) = await slack.wait_for_posts(1)
    assert "too long for local-llama" in post["text"]
    assert "unavailable" not in post["text"]
    assert local_server.requests == []  # nothing was sent that could not fit

    # The server's own "too long" (its window is smaller than configured) is not an outage.
    local_server.reject_status = 400
    await app.sender.event(mention_event("a short question", private))
    posts = await slack.wait_for_posts(2)
    assert "rejected the request as too long" in posts[1]["text"]
    records = await app.services.audit.tail(5)
    assert [r.outcome for r in records] == ["too_long", "too_long"]


async def test_a_long_thread_is_fitted_to_the_model_keeping_the_newest(
    make_app: AppFactory, slack: FakeSlack, private: str, local_server: FakeModelServer
) -> None:
    messages = slack.start_thread(private, "1790000000.000100", "start of the discussion")
    for i in range(29):
        messages.append(
            {"type": "message", "user": "U0BOB00002",
             "text": f"note {i} " + "x" * 39_000 + f" end of note {i}",
             "ts": f"1790000001.{i:06d}"}
        )  # fmt: skip
    app = await make_app(local_context_tokens=8192)
    await app.sender.event(
        mention_event("what was decided?", private, thread_ts="1790000000.000100")
    )
    (post,) = await slack.wait_for_posts(1)
    assert "answer from local-llama" in post["text"]
    sent = "\n".join(local_server.texts())
    assert "what was decided?" in sent
    assert "end of note 28" in sent  # the newest message is kept (its end, at least)
    assert "start of the discussion" not in sent  # the oldest gave way
    assert len(sent.encode()) // 3 < 8192


async def test_an_event_while_redis_is_down_is_acknowledged_and_told_once(
    make_app: AppFactory, slack: FakeSlack, private: str, own_redis: RedisProcess
) -> None:
    app = await make_app(redis_url=own_redis.url, redis_socket_timeout_s=1)
    await own_redis.stop()
    event = mention_event("question d0001", private)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    first = await app.sender.event(event)
    second = await app.sender.event(event, headers=retry)  # Slack's retry, same event_id
    assert (first[0], second[0]) == (200, 200)
    threads = {"d0001": str(event["event"]["ts"])}
    result = await settled(slack, ["d0001"], timeout_s=15, threads_of=threads)
    assert (result.told, result.lost) == (1, [])
    sentences = [p for p in slack.posts if "memory store is unavailable" in str(p.get("text"))]
    assert len(sentences) == 1


@pytest.mark.parametrize("where", ["in a line fitting drops", "in a line fitting cuts"])
async def test_fitting_to_the_model_never_decides_the_route(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
    where: str,
) -> None:
    # A card number early in a long public thread: whatever is cut to fit the model, the
    # route was decided on all of it.
    root = "1790000000.000100"
    card = "4111 1111 1111 1111"
    if where == "in a line fitting drops":
        messages = slack.start_thread(public, root, f"Jane Roe paid with card {card}, refund")
        for i in range(12):
            messages.append(
                {"type": "message", "user": "U0BOB00002", "ts": f"1790000001.{i:06d}",
                 "text": f"note {i} about the refund " + "blah " * 400}
            )  # fmt: skip
    else:
        messages = slack.start_thread(public, root, "start")
        messages.append(
            {"type": "message", "user": "U0BOB00002", "ts": "1790000001.000001",
             "text": f"Jane Roe's card {card} exp 09/27 " + "y" * 40}
        )  # fmt: skip
        messages.append(
            {"type": "message", "user": "U0BOB00002", "ts": "1790000001.000002",
             "text": "z" * 9000}
        )  # fmt: skip
    app = await make_app(local_context_tokens=4096, closed_context_tokens=4096)
    await app.sender.event(mention_event("what should we do?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "answer from local-llama" in post["text"]


async def test_a_long_public_question_goes_to_the_closed_models_larger_window(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    app = await make_app(local_context_tokens=4096)
    await app.sender.event(mention_event("is this plan sound? " + "we agreed. " * 2400, public))
    (post,) = await slack.wait_for_posts(1)
    assert "answer from closed-gpt" in post["text"]


async def test_a_redis_that_hangs_is_an_outage_of_seconds_not_minutes(
    make_app: AppFactory, slack: FakeSlack, public: str, own_redis: RedisProcess
) -> None:
    app = await make_app(redis_url=own_redis.url)  # the default REDIS_SOCKET_TIMEOUT_S
    await ask(app, slack, public, "p0001")
    assert (await settled(slack, ["p0001"])).answered == 1
    own_redis.pause()
    started = time.monotonic()
    event = mention_event("question p0002", public)
    status, _, acked_after = await app.sender.event(event)
    # Slack gives an event 3 s before it retries it.
    assert (status, acked_after < 3) == (200, True)
    await ask(app, slack, public, "p0003")
    threads = {"p0002": str(event["event"]["ts"])}
    result = await settled(slack, ["p0002", "p0003"], timeout_s=30, threads_of=threads)
    assert (result.told, result.lost) == (2, [])
    assert time.monotonic() - started < 15


async def test_with_a_hung_model_everyone_in_line_is_told_within_the_deadline(
    make_app: AppFactory, slack: FakeSlack, private: str, local_server: FakeModelServer
) -> None:
    local_server.hang = True
    app = await make_app(model_timeout_s=2, max_in_flight_local=1)
    started = time.monotonic()
    events = {f"l{i:04d}": mention_event(f"question l{i:04d}", private) for i in range(4)}
    for event in events.values():
        await app.sender.event(event)
    threads = {m: str(e["event"]["ts"]) for m, e in events.items()}
    result = await settled(slack, list(events), timeout_s=20, threads_of=threads)
    assert (result.told, result.lost) == (4, [])
    assert time.monotonic() - started < 2 + 1.5
    outcomes = [r.outcome for r in await app.services.audit.tail(10)]
    # The first timed out at the model; those behind it in line, at the same deadline
    # (in line, "busy"; or, when the slot came free a few ms before their deadline, at the
    # model, "timeout": which one is a matter of scheduling on a loaded machine).
    assert len(outcomes) == 4
    assert "timeout" in outcomes
    assert set(outcomes) <= {"timeout", "busy"}


async def test_when_the_closed_model_fails_the_on_prem_fallback_gets_a_request_it_can_take(
    make_app: AppFactory,
    slack: FakeSlack,
    public: str,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    root = "1790000000.000100"
    messages = slack.start_thread(public, root, "the plan")
    for i in range(20):
        messages.append(
            {"type": "message", "user": "U0BOB00002", "ts": f"1790000001.{i:06d}",
             "text": f"step {i} " + "we will then do the next thing. " * 150}
        )  # fmt: skip
    closed_server.down = True
    app = await make_app(local_context_tokens=8192)
    await app.sender.event(mention_event("is this plan sound?", public, thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert "answer from local-llama" in post["text"]
    sent = "\n".join(str(m.get("content")) for m in local_server.requests[-1]["messages"])
    assert len(sent.encode()) // 3 < 8192  # fitted to the on-prem window, not the cloud's


async def test_a_question_too_long_is_told_at_once_not_after_waiting_in_line(
    make_app: AppFactory, slack: FakeSlack, private: str, local_server: FakeModelServer
) -> None:
    local_server.delay_s = 3
    app = await make_app(local_context_tokens=1024, max_answer_tokens=128, max_in_flight_local=1)
    await app.sender.event(mention_event("a short one", private))
    await asyncio.sleep(0.3)  # it holds the only slot
    started = time.monotonic()
    await app.sender.event(mention_event("explain " + "this clause " * 2000, private))
    await wait_until(lambda: any("too long" in str(p.get("text")) for p in slack.posts), "too long")
    assert time.monotonic() - started < 1.5
    assert not any("in line" in str(p.get("text")) for p in slack.posts)


async def test_an_event_claimed_while_redis_was_away_is_not_answered_again_after(
    make_app: AppFactory, slack: FakeSlack, private: str, own_redis: RedisProcess
) -> None:
    app = await make_app(redis_url=own_redis.url)
    await own_redis.stop()
    event = mention_event("question y0001", private)
    await app.sender.event(event)
    await slack.wait_for_posts(1, timeout=20)  # told: the memory store is unavailable
    await own_redis.start()
    await app.sender.event(mention_event("question y0002", private))  # Redis answers again
    await slack.wait_for_posts(2, timeout=20)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    await app.sender.event(event, headers=retry)
    await asyncio.sleep(1.5)
    assert len(slack.posts) == 2
    # ...and the claim reached Redis, where another replica would find it.
    assert await app.services.redis.exists(
        f"{app.services.settings.redis_prefix}:event:{event['event_id']}"
    )
