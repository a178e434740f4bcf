"""Slack and the models failing while an answer streams: every answer still arrives whole
(or its asker is told), no message is left showing as still being written, no text is sent
twice, and nothing the asker wrote privately is published on any fallback path. Several of
these were found by a hostile review of the first streaming code."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from tests.conftest import AppFactory
from tests.fakes.loopback import serve_on_loopback, wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, slash_form
from tests.test_streaming import ask_in_public, long_markdown, thread_answer, words

LINES = "\n".join(" ".join(f"w{i}x{n}" for n in range(10)) for i in range(40))


@pytest.mark.parametrize(
    "method",
    ["assistant.threads.setStatus", "chat.startStream", "chat.appendStream", "chat.stopStream"],
)
async def test_a_slack_server_error_on_any_stream_call_costs_no_text(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer, method: str
) -> None:
    closed_server.reply = LINES
    closed_server.word_delay_s = 0.005
    # Slack's HTML 500 page, on calls made without retries (stream calls) and past every
    # retry of the others (three).
    slack.server_errors[method] = 2 if method.startswith("chat.") else 4
    app = await make_app()
    thread = await ask_in_public(app, slack, "tell me a story")
    shown = await thread_answer(slack, thread, timeout=30)
    assert words(shown) == LINES.split()  # whole, and not a word twice
    assert slack.still_streaming() == []


async def test_a_dm_is_answered_when_its_title_cannot_be_set(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    slack.server_errors["assistant.threads.setTitle"] = 4
    app = await make_app()
    await app.sender.event(dm_event("how do I rotate my API keys?", "D0DMALICE1"))
    (post,) = await slack.wait_for_posts(1, timeout=30)
    assert "answer from local-llama" in post["text"]


async def test_slack_rate_limiting_a_full_message_does_not_cut_the_answer_off(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    """A 15,000-character answer fills one message; stopping it is rate-limited twice for
    6 s. The model's deadline (10 s) must not pay for Slack's wait."""
    closed_server.reply = long_markdown(15_000)
    slack.rate_limited["chat.stopStream"] = 2
    slack.retry_after_s = 6
    app = await make_app(model_timeout_s=10)
    thread = await ask_in_public(app, slack, "explain it all")
    shown = await thread_answer(slack, thread, timeout=60)
    assert words(shown) == words(closed_server.reply)
    records = await app.services.audit.tail(3)
    assert records[-1].outcome == "answered"
    assert slack.still_streaming() == []


async def test_appends_rate_limited_again_and_again_post_the_rest_once(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    closed_server.reply = long_markdown(8000)
    slack.rate_limited["chat.appendStream"] = 50
    app = await make_app()
    thread = await ask_in_public(app, slack, "explain it all")
    shown = await thread_answer(slack, thread, timeout=60)
    assert words(shown) == words(closed_server.reply)  # nothing twice
    assert slack.still_streaming() == []


async def test_a_cloud_model_that_drops_mid_answer_leaves_no_message_streaming(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    async def dropping(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(60):
            delta = f" w{i}" + ("\n" if i % 10 == 9 else "")
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": delta},
                                  "finish_reason": None}]}  # fmt: skip
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.03)
        assert request.transport is not None
        request.transport.close()  # the connection drops mid-answer
        return response

    model = web.Application()
    model.router.add_post("/v1/chat/completions", dropping)
    runner, url = await serve_on_loopback(model)
    try:
        app = await make_app(openai_base_url=f"{url}/v1")
        thread = await ask_in_public(app, slack, "tell me a story")
        await wait_until(
            lambda: any("Sorry" in p["text"] for p in slack.thread_posts("C0PUBLIC01", thread)),
            "the sentence",
            30,
        )
        assert slack.still_streaming() == []
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "reply",
    [
        "Your card &#52;539 1488 0343 6467 is not blocked.",  # an entity the conversion decodes
        "Card 4539 1488 0343 6467 noted. <!channel> pay at <https://evil.example|your bank>",
        # Full-width brackets fold to `<` `>` when text is normalised for withholding.
        "Card 4539 1488 0343 6467. ＜!channel＞ ﹤@U0CEO00001﹥ ＜https://evil.example|bank＞",
    ],
)
async def test_the_response_url_withholds_what_it_publishes_and_keeps_it_inert(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer, reply: str
) -> None:
    local_server.reply = reply
    app = await make_app()
    await app.sender.command(
        slash_form(
            "is my card 4539 1488 0343 6467 blocked?",
            "D0ALICEBOB",
            "directmessage",
            slack.response_url("7"),
        )
    )
    await slack.wait_for_answers_by_response_url(1)
    published = json.dumps(slack.response_posts)
    assert "1488" not in published
    assert "[withheld]" in published
    assert "<!channel>" not in published
    assert "<@U0CEO00001>" not in published
    assert "<https://evil.example" not in published


# An entity that swallows the first digits, or simply the number without its first one.
@pytest.mark.parametrize(
    "reply",
    [
        "Your card &#52;539 1488 0343 6467 is fine.",
        "Your card &#4539 1488 0343 6467 is fine.",
        "Card 539 1488 0343 6467.",
    ],
)
async def test_most_of_a_private_number_is_withheld_however_the_model_breaks_it(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
    reply: str,
) -> None:
    closed_server.reply = local_server.reply = reply
    app = await make_app()
    thread = await ask_in_public(app, slack, "is my card 4539 1488 0343 6467 blocked?")
    shown = await thread_answer(slack, thread)
    assert "1488" not in shown


async def test_a_code_heavy_answer_at_a_model_pace_leaves_no_message_inside_a_code_block(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small batches (a model's pace, time scaled down): a message fills by whole batches
    and is rolled over inside a code block, which must be closed there and reopened."""
    import bot.slack.streaming as streaming
    from bot.slack.markdown import open_fence

    monkeypatch.setattr(streaming, "FLUSH_INTERVAL_S", 0.05)
    closed_server.reply = long_markdown(25_000)
    closed_server.word_delay_s = 0.002
    app = await make_app(model_timeout_s=60)
    thread = await ask_in_public(app, slack, "give me everything")
    shown = await thread_answer(slack, thread)
    assert words(shown) == words(closed_server.reply)
    posts = slack.thread_posts("C0PUBLIC01", thread)
    assert len(posts) >= 3
    for post in posts:
        assert open_fence(post["markdown"] or post["text"]) is None


async def test_an_answer_abandoned_after_a_failed_append_closes_its_stream_with_the_mark(
    slack: FakeSlack,
) -> None:
    """A failed append ends streaming; if the answer then fails, the stream Slack may still
    hold open is stopped, its code block closed, with the on-prem mark."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.streaming import AnswerStream
    from bot.slack.threads import on_prem_metadata
    from tests.fakes.slack_api import BOT_TOKEN, TEAM_ID

    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "hr")
    now = [5.0]
    web = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    stream = AnswerStream(
        web, "C0PRIVATE1", "1790000000.000100", "U0ALICE001", TEAM_ID, clock=lambda: now[0]
    )
    await stream.write("Confidential part one\n```\ncode\n")
    slack.server_errors["chat.appendStream"] = 1
    now[0] += 5
    await stream.write("more code\n")  # the append fails: streaming ends
    assert [c.method for c in slack.calls] == ["chat.startStream", "chat.appendStream"]
    await stream.abandon(on_prem_metadata(True))
    assert slack.still_streaming() == []
    (message,) = slack.messages.values()
    assert message.metadata == on_prem_metadata(True)
    assert message.markdown.rstrip().endswith("```")
