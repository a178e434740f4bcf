"""Answers stream into Slack as they are written, over real HTTP through real Bolt, against
a Slack fake that enforces the streaming methods' rules: the exact parameters, a status
before the model is asked, the fallbacks when Slack refuses, expires or a reader stops a
stream, and answers of any length arriving whole with no Slack error."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from bot.slack.markdown import open_fence
from bot.slack.status import THINKING
from tests.conftest import AppFactory, context_line, context_texts
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import TEAM_ID, FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event, slash_form

FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
SLACK_METHODS = (
    "chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream",
    "chat.stopStream", "assistant.threads.setStatus",
)  # fmt: skip


def failed_calls(slack: FakeSlack) -> list[tuple[str, Any]]:
    """Every call Slack refused (an error or a non-200)."""
    return [
        (c.method, c.params.get("_status", 200))
        for c in slack.calls
        if c.method in SLACK_METHODS and not c.params.get("_ok")
    ]


def words(text: str) -> list[str]:
    """A text's words, leaving out fence lines (a split code block is closed and reopened)."""
    return [w for line in text.split("\n") if not FENCE_LINE.match(line) for w in line.split()]


def long_markdown(chars: int) -> str:
    """An answer of at least `chars` characters: paragraphs, and code blocks with long
    bodies (whole: the model closes what it opens)."""
    parts: list[str] = []
    size, i = 0, 0
    while size < chars:
        if i % 3 == 2:
            body = "\n".join(f"    value_{i}_{n} = compute({n}, 'x')" for n in range(60))
            part = f"```python\n{body}\n```"
        else:
            part = " ".join(f"word{i}x{n}" for n in range(90))
        parts.append(part)
        size += len(part) + 2
        i += 1
    return "\n\n".join(parts)


async def ask_in_public(app: Any, slack: FakeSlack, question: str) -> str:
    """Send /ask in #general; returns the heading's ts (the answer's thread)."""
    slack.channels.setdefault("C0PUBLIC01", conversation("public", "C0PUBLIC01", "general"))
    await app.sender.command(slash_form(question, "C0PUBLIC01", "general", slack.response_url()))
    heading = (await slack.wait_for_posts(1))[0]  # the answer may follow at once
    return str(heading["_ts"])


async def thread_answer(slack: FakeSlack, thread_ts: str, timeout: float = 60) -> str:
    """The whole answer in a thread once its footer (the context line) is there."""

    def finished() -> bool:
        posts = slack.thread_posts("C0PUBLIC01", thread_ts)
        return any(any(b.get("type") == "context" for b in p["blocks"]) for p in posts)

    await wait_until(finished, "the answer's footer", timeout)
    return "\n".join(p["text"] for p in slack.thread_posts("C0PUBLIC01", thread_ts))


async def test_ask_streams_with_exactly_the_parameters_slack_requires(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    reply = "\n".join(" ".join(f"w{line}x{n}" for n in range(10)) for line in range(12))
    closed_server.reply = reply
    closed_server.word_delay_s = 0.02  # about 2.4 s of writing
    app = await make_app()
    thread = await ask_in_public(app, slack, "tell me a long story")
    shown = await thread_answer(slack, thread)
    assert words(shown) == reply.split()
    (start,) = slack.calls_to("chat.startStream")
    assert start.params["channel"] == "C0PUBLIC01"
    assert start.params["thread_ts"] == thread
    assert start.params["recipient_user_id"] == "U0ALICE001"
    assert start.params["recipient_team_id"] == TEAM_ID
    assert start.params["markdown_text"]
    appends = slack.calls_to("chat.appendStream")
    # Buffered: about one call a second, not one per word (120 words).
    assert 1 <= len(appends) <= 6
    (stop,) = slack.calls_to("chat.stopStream")
    kinds = [b["type"] for b in stop.params["blocks"]]
    assert kinds == ["context", "context_actions"]
    assert stop.params["blocks"][1]["elements"][0]["type"] == "feedback_buttons"
    assert "metadata" not in stop.params  # a cloud answer carries no on-prem mark
    assert not slack.calls_to("chat.postMessage")[1:]  # the answer was not posted again
    assert failed_calls(slack) == []


async def test_the_status_is_set_before_any_model_is_asked_and_cleared_after(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    closed_server.delay_s = 1.0
    app = await make_app()
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    event = mention_event("what is a mutex", "C0PUBLIC01")
    sent = time.monotonic()
    await app.sender.event(event)
    await wait_until(lambda: closed_server.requests, "the model asked", 20)
    thread = event["event"]["ts"]
    # The model was asked after the status was shown (the model server answers only later).
    assert slack.statuses_of(thread)[:1] == [THINKING]
    first = next(t for t, _, ts, _ in slack.statuses if ts == thread)
    print(f"status shown {1000 * (first - sent):.0f} ms after the event was sent")
    (call,) = [c for c in slack.calls_to("assistant.threads.setStatus") if c.params["status"]]
    assert 1 <= len(call.params["loading_messages"]) <= 10
    await wait_until(lambda: slack.posts, "the answer", 20)
    await wait_until(lambda: slack.statuses_of(thread)[-1:] == [""], "the status cleared", 5)


async def test_a_surface_without_status_still_gets_its_answer(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    slack.status_refused = "missing_scope"
    app = await make_app()
    thread = await ask_in_public(app, slack, "hello there")
    shown = await thread_answer(slack, thread)
    assert "answer from closed-gpt" in shown
    # Refused once, then not asked again for this request.
    assert len(slack.calls_to("assistant.threads.setStatus")) == 1


@pytest.mark.parametrize("error", ["channel_type_not_supported", "not_allowed"])
async def test_where_streaming_is_refused_the_answer_is_posted_whole(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer, error: str
) -> None:
    closed_server.reply = long_markdown(15_000)
    slack.streaming_refused["C0PUBLIC01"] = error
    app = await make_app()
    thread = await ask_in_public(app, slack, "explain it all")
    shown = await thread_answer(slack, thread)
    assert words(shown) == words(closed_server.reply)
    posts = slack.thread_posts("C0PUBLIC01", thread)
    assert len(posts) == 2  # 15,000 characters: two messages of at most 10,000
    assert "closed-gpt" in context_line(posts[-1])
    assert [m for m, _ in failed_calls(slack)] == ["chat.startStream"]


async def test_a_stream_that_expires_mid_answer_is_finished_without_losing_text(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.stream_lifetime_s = 1.0
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "hr")
    local_server.reply = " ".join(f"w{n}" for n in range(150))
    local_server.word_delay_s = 0.02  # 3 s of writing: the stream expires after 1 s
    app = await make_app()
    event = mention_event("summarise our hiring plan", "C0PRIVATE1")
    await app.sender.event(event)
    thread = event["event"]["ts"]

    def finished() -> bool:
        posts = slack.thread_posts("C0PRIVATE1", thread)
        return any(any(b.get("type") == "context" for b in p["blocks"]) for p in posts)

    await wait_until(finished, "the footer", 30)
    posts = slack.thread_posts("C0PRIVATE1", thread)
    shown = "\n".join(p["text"] for p in posts)
    assert words(shown) == local_server.reply.split()
    # The append Slack refused, then the stop that makes sure the stream is closed.
    refused = [(c.method, c.params.get("_error")) for c in slack.calls if not c.params.get("_ok")]
    assert refused == [
        ("chat.appendStream", "message_not_in_streaming_state"),
        ("chat.stopStream", "message_not_in_streaming_state"),
    ]
    # The thread still carries the on-prem mark, on the message that holds the footer.
    assert any(p["metadata"] for p in posts)
    assert "private channel" in context_line(posts[-1])


async def test_a_reader_who_stops_the_stream_stops_the_model(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.user_stops_after_appends = 1
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "hr")
    local_server.reply = "\n".join(" ".join(f"w{i}x{n}" for n in range(10)) for i in range(60))
    local_server.word_delay_s = 0.02  # 12 s if nobody stopped it
    app = await make_app()
    event = mention_event("write me a long report", "C0PRIVATE1")
    await app.sender.event(event)
    await wait_until(lambda: slack.calls_to("chat.update"), "the stopped message finished", 20)
    await wait_until(lambda: local_server.in_flight == 0, "the model call closed", 5)
    sent = local_server.words_sent
    await asyncio.sleep(0.5)
    assert local_server.words_sent == sent < 400  # cancelled: not the 600 words of the answer
    records = await app.services.audit.tail(5)
    assert records[-1].outcome == "stopped"
    (update,) = slack.calls_to("chat.update")
    assert [b["type"] for b in update.params["blocks"]] == [
        "markdown", "context", "context_actions"
    ]  # fmt: skip
    assert update.params["metadata"]["event_type"] == "hearthbot_on_prem_answer"
    # Nothing was posted after the reader said stop.
    assert slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("chars", [100, 5000, 45_000])
async def test_answers_of_any_length_arrive_whole_with_code_blocks_unbroken(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer, chars: int
) -> None:
    closed_server.reply = long_markdown(chars) if chars > 100 else "Short: `x = 1` and done."
    app = await make_app()
    thread = await ask_in_public(app, slack, "give me everything")
    shown = await thread_answer(slack, thread)
    assert words(shown) == words(closed_server.reply)
    posts = slack.thread_posts("C0PUBLIC01", thread)
    for post in posts:
        assert open_fence(post["markdown"] or post["text"]) is None  # every code block closed
        assert len(post["markdown"]) <= 12_000
    assert len(posts) >= chars // 10_000
    assert failed_calls(slack) == []


async def test_a_long_answer_through_the_response_url_arrives_whole_in_five_posts(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    local_server.reply = long_markdown(45_000)
    app = await make_app()
    await app.sender.command(
        slash_form("everything please", "D0ALICEBOB", "directmessage", slack.response_url("5"))
    )
    await wait_until(
        lambda: any(p.get("blocks") for p in slack.response_posts[1:]), "the footer", 60
    )
    first, *answer = slack.response_posts
    assert first == {"text": "⏳ Working on it…", "response_type": "ephemeral"}
    assert len(slack.response_posts) <= 5
    text = "\n".join(p["text"] for p in answer if not p.get("blocks"))
    heading, _, body = text.partition("\n\n")
    assert heading.startswith("*<@U0ALICE001> asked:*")
    assert words(body) == words(local_server.reply)
    assert "on-prem" in context_line(answer[-1])
    assert all("markdown_text" not in p for p in answer)


async def test_a_dm_is_answered_in_its_thread_and_the_messages_tab_thread_gets_a_title(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app()
    event = dm_event("how do I rotate my API keys?", "D0DMALICE1")
    await app.sender.event(event)
    (post,) = await slack.wait_for_posts(1)
    assert post["thread_ts"] == event["event"]["ts"]
    (start,) = slack.calls_to("chat.startStream")
    assert start.params["thread_ts"] == event["event"]["ts"]
    await wait_until(lambda: slack.titles, "a thread title", 5)
    assert slack.titles[0]["title"] == "how do I rotate my API keys?"


async def test_under_slacks_tier_limits_every_answer_still_arrives_whole(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    """chat.startStream and chat.stopStream are Tier 2 (20 a minute): a burst of 30 answers
    streams the first ones and posts the others, and every one arrives whole."""
    slack.enforce_tiers = True
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app()
    events = [mention_event(f"question number {n}", "C0PUBLIC01") for n in range(30)]
    await asyncio.gather(*(app.sender.event(e) for e in events))

    def answered(event: dict[str, Any]) -> bool:
        posts = slack.thread_posts("C0PUBLIC01", event["event"]["ts"])
        return any(any(b.get("type") == "context" for b in p["blocks"]) for p in posts)

    await wait_until(lambda: all(answered(e) for e in events), "30 answers", 120)
    for event in events:
        shown = "\n".join(p["text"] for p in slack.thread_posts("C0PUBLIC01", event["event"]["ts"]))
        assert shown.count("answer from closed-gpt") == 1
    refused = [c for c in slack.calls_to("chat.startStream") if not c.params.get("_ok")]
    assert refused  # the limit was met: some answers were posted instead of streamed
    assert {c.params.get("_status") for c in refused} == {429}


async def test_a_cut_off_answer_says_so(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    closed_server.cut_off = True  # the model stopped at MAX_ANSWER_TOKENS
    app = await make_app()
    thread = await ask_in_public(app, slack, "tell me everything")
    await thread_answer(slack, thread)
    (post,) = slack.thread_posts("C0PUBLIC01", thread)
    assert any("cut off" in text for text in context_texts(post))


async def test_a_message_shape_slack_refuses_is_posted_again_as_plain_text(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    """Slack's limit on a message's block text is not published: if it is lower than
    hearthbot assumes, the answer still arrives, as plain text."""
    slack.blocks_text_max = 1500
    slack.streaming_refused["C0PUBLIC01"] = "channel_type_not_supported"
    local_server.reply = long_markdown(6000)
    app = await make_app()
    thread = await ask_in_public(app, slack, "--local everything please")
    await wait_until(
        lambda: any("on-prem" in p["text"] for p in slack.thread_posts("C0PUBLIC01", thread)),
        "the answer with its context line",
        30,
    )
    shown = "\n".join(p["text"] for p in slack.thread_posts("C0PUBLIC01", thread))
    assert words(shown)[: len(words(local_server.reply))] == words(local_server.reply)
    refused = [c.params["_error"] for c in slack.calls if not c.params["_ok"]]
    assert refused == ["channel_type_not_supported", "msg_blocks_too_long"]
    posts = slack.thread_posts("C0PUBLIC01", thread)
    assert posts[-1]["metadata"]["event_type"] == "hearthbot_on_prem_answer"
