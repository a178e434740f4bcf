"""Slack's rate limits and hiccups do not lose answers: every client the app uses waits as
long as Slack's `Retry-After` says and tries again (slack_sdk's retry handlers), and the
audit record is written. The fake answers exactly as Slack does: HTTP 429, `Retry-After`,
`{"ok": false, "error": "ratelimited"}`."""

from __future__ import annotations

from tests.conftest import AppFactory
from tests.fakes.ledger import settled
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import mention_event, slash_form


def statuses(slack: FakeSlack, method: str) -> list[int]:
    return [c.params.get("_status", 200) for c in slack.calls_to(method)]


async def test_a_streamed_answer_survives_429s_on_its_appends_and_its_stop(
    make_app: AppFactory, slack: FakeSlack, public: str, closed_server: FakeModelServer
) -> None:
    closed_server.word_delay_s = 0.01
    closed_server.reply = "\n".join(f"answer from closed-gpt, line {n}, m0001" for n in range(150))
    app = await make_app()
    slack.rate_limited["chat.appendStream"] = 2
    slack.rate_limited["chat.stopStream"] = 2
    await app.sender.event(mention_event("question m0001", public))
    result = await settled(slack, ["m0001"], timeout_s=30)
    assert (result.answered, result.duplicated) == (1, [])
    assert statuses(slack, "chat.stopStream") == [429, 429, 200]
    assert statuses(slack, "chat.appendStream")[:2] == [429, 429]
    (post,) = slack.posts
    assert post["text"] == closed_server.reply  # appends that waited lost nothing
    assert slack.calls_to("chat.postMessage") == []
    (record,) = await app.services.audit.tail(5)
    assert record.outcome == "answered"


async def test_an_answer_survives_a_rate_limited_stream_start_and_429s_on_its_post(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    app = await make_app()
    slack.rate_limited["chat.startStream"] = 1
    slack.rate_limited["chat.postMessage"] = 3
    await app.sender.event(mention_event("question m0001", public))
    result = await settled(slack, ["m0001"], timeout_s=30)
    assert (result.answered, result.duplicated) == (1, [])
    # Streaming is not waited for (Tier 2): the answer is posted, and the post waits.
    assert statuses(slack, "chat.startStream") == [429]
    assert statuses(slack, "chat.postMessage") == [429, 429, 429, 200]
    (record,) = await app.services.audit.tail(5)
    assert record.outcome == "answered"


async def test_a_slash_command_survives_429s_on_its_heading_and_its_answer(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    app = await make_app()
    slack.rate_limited["chat.postMessage"] = 2
    slack.server_errors["conversations.info"] = 2
    await app.sender.command(
        slash_form("question a0001", public, "general", slack.response_url("a0001"))
    )
    result = await settled(slack, ["a0001"], timeout_s=30)
    assert (result.answered, result.duplicated) == (1, [])
    headings = [p for p in slack.posts if "asked" in str(p.get("text"))]
    assert len(headings) == 1
    # conversations.info answered 500 twice, then told the truth: a public channel.
    (record,) = await app.services.audit.tail(5)
    assert (record.route, record.outcome) == ("closed", "answered")


async def test_an_answer_through_a_response_url_survives_429s(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    # A channel the bot is not in: the answer goes through the command's response URL.
    slack.channels["C0NOTMEMB1"] = conversation("public", "C0NOTMEMB1", "random")
    slack.not_member.add("C0NOTMEMB1")
    app = await make_app()
    slack.response_url_rate_limited = 2
    await app.sender.command(
        slash_form("question r0001", "C0NOTMEMB1", "random", slack.response_url("r0001"))
    )
    result = await settled(slack, ["r0001"], timeout_s=30)
    assert (result.answered, result.duplicated) == (1, [])


async def test_the_error_sentence_also_survives_429s(
    make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    local_server.down = True
    app = await make_app()
    slack.rate_limited["chat.postMessage"] = 2
    await app.sender.event(mention_event("question e0001", "C0PRIVATE1"))
    await slack.wait_for_posts(1, timeout=30)
    (post,) = slack.posts
    assert "on-prem model is unavailable" in post["text"]
    (record,) = await app.services.audit.tail(5)
    assert record.outcome == "refused"
