"""Slack behaviour over real HTTP: acks, /ask, retries, signatures, self-messages, memory."""

from __future__ import annotations

import asyncio
import json
import time

from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event, sign, slash_form


async def test_ask_is_acknowledged_at_once_and_answered_in_a_thread_of_the_question(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    status, body, seconds = await app.sender.command(
        slash_form("what is kubernetes", "C0PUBLIC01", "general", slack.response_url())
    )
    assert status == 200
    assert body == ""
    assert seconds < 3.0  # Slack's hard limit for an ack
    question_post, answer_post = await slack.wait_for_posts(2)
    assert "asked:" in question_post["text"]
    assert "what is kubernetes" in question_post["text"]
    assert "thread_ts" not in question_post or not question_post["thread_ts"]
    question_ts = slack.calls_to("chat.postMessage")[0]
    assert answer_post["thread_ts"]
    assert "answer from closed-gpt to: what is kubernetes" in answer_post["text"]
    assert question_ts is not None


async def test_ask_without_text_or_with_help_explains_usage_in_the_ack(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    for text in ("", "help"):
        status, body, _ = await app.sender.command(
            slash_form(text, "C0PUBLIC01", "general", slack.response_url())
        )
        assert status == 200
        assert "/ask --local" in body
    await asyncio.sleep(0.2)
    assert slack.posts == []


async def test_ask_in_a_dm_between_two_people_answers_through_the_response_url(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    # The bot is not in a DM between two people: conversations.info and chat.postMessage both
    # answer channel_not_found, so the channel is unknown (confidential) and the answer goes
    # through the response URL.
    app = await make_app()
    await app.sender.command(
        slash_form("draft a reply to Bob", "D0ALICEBOB", "directmessage", slack.response_url("7"))
    )
    working, response = await slack.wait_for_response_posts(2)
    assert working == {"text": "⏳ Working on it…", "response_type": "ephemeral"}
    assert response["response_type"] == "in_channel"
    assert "answer from local-llama" in json.dumps(response["blocks"])
    assert closed_server.requests == []


async def test_ask_with_local_flag_is_answered_on_prem(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    await app.sender.command(
        slash_form("--local our pricing plan", "C0PUBLIC01", "general", slack.response_url())
    )
    _, answer = await slack.wait_for_posts(2)
    assert local_server.saw("our pricing plan")
    assert closed_server.requests == []
    assert "asked for on-prem" in context_line(answer)


async def test_each_event_id_is_answered_once_under_retries_and_across_replicas(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    first = await make_app()
    second = await make_app()  # another replica sharing the same Redis
    event = mention_event("once please", "C0PUBLIC01")
    deliveries = [first.sender.event(event)]
    for retry, app in ((1, first), (2, second), (3, second)):
        deliveries.append(
            app.sender.event(
                event,
                headers={"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"},
            )
        )
    results = await asyncio.gather(*deliveries)
    assert all(status == 200 for status, _, _ in results)
    await slack.wait_for_posts(1)
    await asyncio.sleep(0.5)
    assert len(slack.posts) == 1
    assert len(closed_server.requests) == 1


async def test_forged_and_stale_signatures_are_rejected_with_401(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    body = json.dumps(mention_event("hi", "C0PUBLIC01"))
    now = int(time.time())
    forged = sign(body, now, secret="not-the-signing-secret")
    status, _, _ = await app.sender.post(body, "application/json", signature=forged)
    assert status == 401
    stale = now - 400  # Slack and Bolt accept five minutes either side
    status, _, _ = await app.sender.post(body, "application/json", timestamp=stale)
    assert status == 401
    status, _, _ = await app.sender.post(body, "application/json", signature="v0=" + "0" * 64)
    assert status == 401
    await asyncio.sleep(0.3)
    assert slack.posts == []
    assert closed_server.requests == []
    assert local_server.requests == []


async def test_url_verification_is_answered_with_the_challenge(
    make_app: AppFactory,
) -> None:
    app = await make_app()
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    status, text, _ = await app.sender.post(body, "application/json")
    assert status == 200
    assert json.loads(text)["challenge"].startswith("3eZbrw1a")


async def test_own_messages_edits_and_deletions_are_ignored(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app()
    own = dm_event("my own answer", "D0DMALICE1", user=BOT_USER_ID, bot_id=BOT_ID)
    edited = dm_event(
        "",
        "D0DMALICE1",
        subtype="message_changed",
        message={"type": "message", "user": "U0ALICE001", "text": "edited text"},
    )
    deleted = dm_event("", "D0DMALICE1", subtype="message_deleted", deleted_ts="1790000000.000001")
    other_bot = dm_event("beep", "D0DMALICE1", user="U0OTHERBOT", bot_id="B0OTHER001")
    for envelope in (own, edited, deleted, other_bot):
        status, _, _ = await app.sender.event(envelope)
        assert status == 200
    # A real question afterwards is answered, so the silence above is not a broken app.
    await app.sender.event(dm_event("a real question", "D0DMALICE1"))
    await slack.wait_for_posts(1)
    await asyncio.sleep(0.3)
    assert len(slack.posts) == 1
    assert local_server.texts()[-1].startswith("a real question")
    assert not local_server.saw("edited text")
    assert not local_server.saw("beep")


async def test_thread_memory_carries_across_turns_and_is_isolated_between_threads(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    app = await make_app()
    thread_a = "1790000100.000100"
    thread_b = "1790000200.000100"
    slack.threads[("C0PRIVATE1", thread_a)] = [
        {
            "type": "message",
            "user": "U0BOB00002",
            "text": "kick-off for project Falcon",
            "ts": thread_a,
        }
    ]
    slack.threads[("C0PRIVATE1", thread_b)] = [
        {"type": "message", "user": "U0BOB00002", "text": "unrelated thread", "ts": thread_b}
    ]
    await app.sender.event(
        mention_event("the codename is Falcon", "C0PRIVATE1", thread_ts=thread_a)
    )
    await slack.wait_for_posts(1)
    await app.sender.event(
        mention_event("what did I say the codename was?", "C0PRIVATE1", thread_ts=thread_a)
    )
    await slack.wait_for_posts(2)
    await app.sender.event(mention_event("what codename?", "C0PRIVATE1", thread_ts=thread_b))
    await slack.wait_for_posts(3)

    second_turn = [m["content"] for m in local_server.requests[1]["messages"]]
    assert "the codename is Falcon" in second_turn  # the first question, from memory
    assert any("answer from local-llama to: the codename is Falcon" in c for c in second_turn)
    assert any("kick-off for project Falcon" in c for c in second_turn)  # the thread itself
    other_thread = " ".join(m["content"] for m in local_server.requests[2]["messages"])
    assert "Falcon" not in other_thread
    assert "unrelated thread" in other_thread


async def test_a_top_level_mention_starts_a_thread(make_app: AppFactory, slack: FakeSlack) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    event = mention_event("hello", "C0PUBLIC01")
    await app.sender.event(event)
    (post,) = await slack.wait_for_posts(1)
    assert post["thread_ts"] == event["event"]["ts"]


async def test_dm_thread_follow_up_is_answered_in_the_thread_with_context(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app()
    root = "1790000300.000100"
    slack.threads[("D0DMALICE1", root)] = [
        {"type": "message", "user": "U0ALICE001", "text": "the budget is 40k", "ts": root}
    ]
    await app.sender.event(dm_event("and what is half of it?", "D0DMALICE1", thread_ts=root))
    (post,) = await slack.wait_for_posts(1)
    assert post["thread_ts"] == root
    assert local_server.saw("the budget is 40k")
