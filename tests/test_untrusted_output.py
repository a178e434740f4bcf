"""What a model writes is untrusted, and what a person typed privately stays private: no
control sequence a model writes reaches Slack live, on any delivery path, and `/ask` never
publishes sensitive data from its own text."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import AppFactory, RunningApp
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event, slash_form
from tests.test_email_summaries import REFUND_EMAIL

# Everything Slack turns into a ping, a mention or a link when it is posted as mrkdwn.
CONTROL_SEQUENCES = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0ADMINS01>",
    "<@U0CEO00001>",
    "<#C0PRIVATE1>",
    "<https://evil.example/login|the usual dashboard>",
    "<mailto:ceo@example.com|support>",
    "<!date^1392734382^{date}|Feb 18>",
]
LIVE = re.compile(r"<[!@#]|<(?:https?|mailto):")


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn or Markdown in a message: `text`, streamed or posted
    Markdown, and the mrkdwn and markdown objects of its blocks (plain_text objects are never
    parsed for mentions or links)."""
    texts = [str(payload.get("text", "")), str(payload.get("markdown", ""))]
    blocks = payload.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "markdown"):
                texts.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return texts


def live_sequences(payload: dict[str, Any], allowed: tuple[str, ...] = ()) -> list[str]:
    """Control sequences in the payload, other than those the bot itself wrote (`allowed`)."""
    found = []
    for text in mrkdwn_texts(payload):
        for ours in allowed:
            text = text.replace(ours, "")
        found += [text[m.start() : m.start() + 40] for m in LIVE.finditer(text)]
    return found


@pytest.fixture
def channels(slack: FakeSlack) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")


async def ask_in_general(app: RunningApp, slack: FakeSlack, text: str) -> None:
    """`/ask <text>` in the public #general."""
    await app.sender.command(slash_form(text, "C0PUBLIC01", "general", slack.response_url()))


def model_writing(sequence: str) -> str:
    return (
        f"Sure. {sequence} please look at this.\n*Steps*\n• open `a < b && c > d`\n"
        f"> a quote\nSee https://docs.example.com/a?b=1&c=2 and {sequence}"
    )


@pytest.mark.parametrize("sequence", CONTROL_SEQUENCES)
async def test_no_control_sequence_a_model_writes_reaches_slack_live(
    sequence: str,
    channels: None,
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    closed_server.reply = local_server.reply = model_writing(sequence)
    app = await make_app()
    await app.sender.event(mention_event("what now?", "C0PUBLIC01"))  # closed model
    await app.sender.event(dm_event("what now?", "D0DMALICE1"))  # on-prem model
    posts = await slack.wait_for_posts(2)
    for post in posts:
        assert live_sequences(post) == []
        body = "\n".join(mrkdwn_texts(post))
        # The formatting the model meant is kept: bold, bullets, code, quote, a plain URL.
        assert "*Steps*" in body
        assert "• open" in body
        assert "\n> a quote" in body
        assert "https://docs.example.com/a?b=1&amp;c=2" in body
        assert "`a &lt; b &amp;&amp; c &gt; d`" in body


async def test_the_response_url_path_is_escaped_too(
    channels: None, make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    closed_server.reply = model_writing("<!channel>")
    slack.channels["C0NOTMEMB1"] = conversation("public", "C0NOTMEMB1", "random")
    slack.not_member.add("C0NOTMEMB1")
    app = await make_app()
    await app.sender.command(slash_form("what now?", "C0NOTMEMB1", "random", slack.response_url()))
    (response,) = await slack.wait_for_answers_by_response_url(1)
    assert live_sequences(response, allowed=("<@U0ALICE001>",)) == []
    assert "&lt;!channel&gt;" in response["text"]


async def test_every_field_of_an_email_summary_is_escaped(
    channels: None, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    local_server.inject = "<!channel> <https://evil.example|refund form>"
    app = await make_app()
    await app.sender.event(mention_event(f"summarise this\n{REFUND_EMAIL}", "C0PUBLIC01"))
    (post,) = await slack.wait_for_posts(1)
    assert post["blocks"][0]["type"] == "header"  # the summary, with the injection inside
    assert "&lt;!channel&gt;" in json.dumps(post["blocks"])
    assert live_sequences(post) == []


async def test_a_people_echo_in_the_ask_heading_cannot_ping(
    channels: None, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    # With "escape channels, users and links" on, Slack sends @channel as <!channel>.
    await ask_in_general(app, slack, "<!channel> what is kubernetes")
    heading = (await slack.wait_for_posts(1))[0]
    assert live_sequences(heading, allowed=("<@U0ALICE001>",)) == []


CARD = "4539 1488 0343 6467"


@pytest.mark.parametrize(
    ("typed", "model_writes"),
    [
        (CARD, None),  # the fake model echoes the question as typed
        (CARD, "The card 4539148803436467 was declined for fraud."),  # reformatted
        (CARD, "The card 4539-1488-0343-6467 was declined."),
        (CARD.replace(" ", "\u00a0"), None),  # copied from a PDF: no-break spaces
        (
            "４５３９ １４８８ ０３４３ ６４６７",
            "Card ４５３９ １４８８ ０３４３ ６４６７ declined.",
        ),
        (CARD, "Card 4539.1488.0343.6467 declined."),
        (CARD, "Card 4539_1488_0343_6467 declined."),
        (CARD, "Card `4539` `1488` `0343` `6467` declined."),
        (CARD, "Card 4539 1488\n0343 6467 declined."),
    ],
    ids=[
        "echo",
        "no-spaces",
        "dashes",
        "nbsp",
        "full-width",
        "dots",
        "underscores",
        "code-spans",
        "line-break",
    ],
)
async def test_ask_never_publishes_sensitive_data_from_its_own_text(
    typed: str,
    model_writes: str | None,
    channels: None,
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    local_server.reply = model_writes
    app = await make_app()
    await ask_in_general(app, slack, f"why was card {typed} declined?")
    heading, answer = await slack.wait_for_posts(2)
    published = json.dumps([heading, answer], ensure_ascii=False)
    assert "4539" not in published
    assert "４５３９" not in published
    assert "confidential question" in heading["text"]
    assert "card number" in heading["text"]
    assert local_server.requests  # answered on-prem...
    assert closed_server.requests == []
    assert "[withheld]" in answer["text"]  # ...and the number it repeated was not published


async def test_ask_withholds_a_password_the_model_repeats_in_prose(
    channels: None, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    local_server.reply = "Is hunter2Secret! really your password? Change it."
    app = await make_app()
    await ask_in_general(app, slack, "my password is hunter2Secret! is it strong?")
    _, answer = await slack.wait_for_posts(2)
    assert "hunter2" not in json.dumps(answer)


async def test_a_follow_up_in_the_ask_thread_withholds_too(
    channels: None, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    app = await make_app()
    await ask_in_general(app, slack, f"why was card {CARD} declined?")
    heading, _ = await slack.wait_for_posts(2)
    local_server.reply = f"Your question was: why was card {CARD.replace(' ', '')} declined?"
    await app.sender.event(
        mention_event("what exactly did the asker write? quote it", "C0PUBLIC01",
                      thread_ts=heading["_ts"], user="U0BOB00002")
    )  # fmt: skip
    _, _, follow_up = await slack.wait_for_posts(3)
    assert "4539" not in json.dumps(follow_up)
    assert "[withheld]" in follow_up["text"]


async def test_an_answer_with_nothing_to_withhold_is_published_as_written(
    channels: None, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    local_server.reply = "Cards are declined for many reasons — 2⁵ of them, roughly ①."
    app = await make_app()
    await ask_in_general(app, slack, f"why was card {CARD} declined?")
    _, answer = await slack.wait_for_posts(2)
    assert "many reasons — 2⁵ of them, roughly ①." in answer["text"]


async def test_ask_summarize_never_publishes_the_pasted_emails_sensitive_data(
    channels: None, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    local_server.inject = "card 4539148803436467 for jane.miller@acme-retail.example"
    app = await make_app()
    await ask_in_general(app, slack, f"summarize {REFUND_EMAIL}\nMy card: {CARD}")
    _, summary = await slack.wait_for_posts(2)
    published = json.dumps(summary)
    assert summary["blocks"][0]["type"] == "header"
    assert "4539" not in published
    assert "jane.miller@acme-retail.example" not in published
    assert "[withheld]" in published


async def test_ask_without_sensitive_data_still_shows_the_question(
    channels: None, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    await ask_in_general(app, slack, "what is kubernetes")
    heading = (await slack.wait_for_posts(1))[0]
    assert "> what is kubernetes" in heading["text"]
