"""Customer-email summaries through every entry point: Slack fake → app → model servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.slack.formatting import MAX_BLOCKS, SECTION_TEXT_LIMIT
from tests.conftest import AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import (
    dm_event,
    mention_event,
    message_action_form,
    new_ts,
    slash_form,
)

EMAILS = Path(__file__).resolve().parent / "data" / "emails"

REFUND_EMAIL = """From: Jane Miller <jane.miller@acme-retail.example>
Subject: Order #48213 arrived broken

Hi team,
My order #48213 (Aurora desk lamp, $89.99) arrived on March 3 with a cracked base.
Please refund me; this is the second time.
Best regards,
Jane Miller
Acme Retail, +1 415 555 0132"""

# No personal data: a public-channel summary of this one may use the closed API.
PLAIN_EMAIL = """Subject: Question about bulk pricing

Hello,
Do you offer a discount for 50 licences of the Pro plan?
Thanks,
The purchasing team"""


def blocks_of(post: dict[str, Any]) -> list[dict[str, Any]]:
    return list(post["blocks"])


def assert_summary_post(post: dict[str, Any], *, with_lists: bool = True) -> None:
    blocks = blocks_of(post)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"].startswith("📧 ")
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SECTION_TEXT_LIMIT
    fields = next(b for b in blocks if b.get("fields"))["fields"]
    assert [f["text"].split("\n")[0] for f in fields] == [
        "*Customer*",
        "*Intent*",
        "*Urgency*",
        "*Sentiment*",
        "*Language*",
    ]
    texts = [b.get("text", {}).get("text", "") for b in blocks if b["type"] == "section"]
    if with_lists:  # the fakes always fill them; a real model may leave them empty
        assert any(t.startswith("*Action items*") for t in texts)
        assert any(t.startswith("*Key facts*") for t in texts)
    assert any("Suggested reply" in e["text"] for b in blocks if b["type"] == "context"
               for e in b["elements"])  # fmt: skip
    # The routing context line, then the feedback buttons.
    assert [b["type"] for b in blocks[-2:]] == ["context", "context_actions"]
    assert blocks[-1]["elements"][0]["type"] == "feedback_buttons"


def json_requests(server: FakeModelServer) -> list[dict[str, Any]]:
    return [
        r for r in server.requests if r.get("response_format") or isinstance(r.get("format"), dict)
    ]


@pytest.fixture
def channels(slack: FakeSlack) -> None:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "support")
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "escalations")
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")


async def test_ask_summarize_answers_with_a_structured_summary_on_prem(
    make_app: AppFactory,
    slack: FakeSlack,
    channels: None,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app()
    status, body, _ = await app.sender.command(
        slash_form(f"summarize {REFUND_EMAIL}", "C0PUBLIC01", "support", slack.response_url())
    )
    assert (status, body) == (200, "")
    heading, summary = await slack.wait_for_posts(2)
    assert "asked for a summary of a customer email" in heading["text"]
    assert "48213" not in heading["text"]  # the pasted email is not echoed into the channel
    assert_summary_post(summary)
    assert summary["thread_ts"] == heading["_ts"]  # answered in the question's thread
    assert "from local-llama" in str(summary["blocks"])
    assert closed_server.requests == []
    (request,) = json_requests(local_server)
    assert request["response_format"]["type"] == "json_schema"
    assert "cracked base" in str(request["messages"])
    line = context_line(summary)
    assert line.startswith("🔒 on-prem · local-llama")
    assert "email address in message" in line


async def test_a_pasted_email_without_instruction_is_recognised(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    await app.sender.command(
        slash_form(REFUND_EMAIL, "C0PUBLIC01", "support", slack.response_url())
    )
    _, summary = await slack.wait_for_posts(2)
    assert_summary_post(summary)
    assert len(json_requests(local_server)) == 1


async def test_ask_summarize_without_an_email_explains_itself(
    make_app: AppFactory, slack: FakeSlack, channels: None
) -> None:
    app = await make_app()
    _, body, _ = await app.sender.command(
        slash_form("summarize", "C0PUBLIC01", "support", slack.response_url())
    )
    assert "Paste the customer email" in body


async def test_an_email_without_personal_data_in_a_public_channel_may_use_the_closed_api(
    make_app: AppFactory,
    slack: FakeSlack,
    channels: None,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app()
    await app.sender.command(
        slash_form(f"summarize {PLAIN_EMAIL}", "C0PUBLIC01", "support", slack.response_url())
    )
    _, summary = await slack.wait_for_posts(2)
    assert_summary_post(summary)
    assert len(json_requests(closed_server)) == 1
    assert local_server.requests == []
    assert context_line(summary) == "☁️ closed-gpt"


async def test_mention_with_a_pasted_email(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    event = mention_event(f"what does this customer want?\n{REFUND_EMAIL}", "C0PRIVATE1")
    await app.sender.event(event)
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)
    assert summary["thread_ts"] == event["event"]["ts"]
    (request,) = json_requests(local_server)
    assert "what does this customer want?" in str(request["messages"][0])


async def test_mention_asking_for_the_email_above_summarises_it_and_follow_ups_stay_local(
    make_app: AppFactory,
    slack: FakeSlack,
    channels: None,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app()
    root = new_ts()
    slack.threads[("C0PUBLIC01", root)] = [
        {"type": "message", "user": "U0BOB00002", "ts": root, "text": "got this one today:"},
        {"type": "message", "user": "U0BOB00002", "ts": new_ts(), "thread_ts": root,
         "text": REFUND_EMAIL},
    ]  # fmt: skip
    await app.sender.event(mention_event("summarise the email above", "C0PUBLIC01", thread_ts=root))
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)
    assert "cracked base" in str(json_requests(local_server)[0]["messages"])
    # A follow-up with nothing sensitive in it stays on-prem: the thread is confidential.
    slack.threads[("C0PUBLIC01", root)] = [m for m in slack.threads[("C0PUBLIC01", root)]
                                           if "Aurora" not in m.get("text", "")]  # fmt: skip
    await app.sender.event(mention_event("now draft a refund reply", "C0PUBLIC01", thread_ts=root))
    _, follow_up = await slack.wait_for_posts(2)
    assert "confidential thread" in context_line(follow_up)
    assert closed_server.requests == []
    # The follow-up carried the summary (from memory) to the local model.
    assert "Suggested reply" in str(local_server.requests[-1]["messages"])


async def test_message_shortcut_summarises_in_the_messages_thread(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    root, reply = new_ts(), new_ts()
    message = {"type": "message", "user": "U0ALICE001", "ts": reply, "thread_ts": root,
               "text": REFUND_EMAIL}  # fmt: skip
    status, body, _ = await app.sender.command(
        message_action_form(message, "C0PRIVATE1", slack.response_url("9"))
    )
    assert (status, body) == (200, "")
    (summary,) = await slack.wait_for_posts(1)
    assert summary["thread_ts"] == root
    assert summary["channel"] == "C0PRIVATE1"
    assert_summary_post(summary)


async def test_uploaded_eml_in_the_thread_is_parsed_and_summarised(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    raw = (EMAILS / "html_only_with_forward.eml").read_bytes()
    root = new_ts()
    file = slack.add_file("complaint.eml", raw, "message/rfc822")
    slack.threads[("C0PUBLIC01", root)] = [
        {"type": "message", "user": "U0BOB00002", "ts": root, "text": "", "files": [file]},
    ]
    await app.sender.event(mention_event("résume cet email", "C0PUBLIC01", thread_ts=root))
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)
    assert slack.file_downloads == [file["id"]]
    prompt = json_requests(local_server)[0]["messages"][-1]["content"]
    # MIME parsed: HTML-only body as text, base64 decoded, the forwarded original as context.
    assert "il manque le chargeur" in prompt
    assert "<p>" not in prompt
    assert prompt.index("il manque le chargeur") < prompt.index("Earlier messages in this chain")
    assert "a été expédiée le 10 novembre" in prompt.split("Earlier messages in this chain")[1]
    # Asked in French: the summary's fields are to be written in the language of the request.
    system = json_requests(local_server)[0]["messages"][0]["content"]
    assert "the language of this request: résume cet email" in system


async def test_a_text_file_in_a_dm_is_summarised(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    file = slack.add_file("mail.txt", REFUND_EMAIL.encode(), "text/plain")
    await app.sender.event(dm_event("", "D0DMALICE1", files=[file], subtype="file_share"))
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)


async def test_a_file_slack_will_not_hand_over_gets_a_clear_sentence(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    app = await make_app()
    missing = slack.add_file("mail.eml", b"x", "message/rfc822")
    del slack.files[missing["id"]]  # deleted after it was shared: the download is a 404
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[missing]))
    (post,) = await slack.wait_for_posts(1)
    assert post["text"] == "I could not read that file: downloading the file failed (HTTP 404)."
    elsewhere = slack.add_file("mail.eml", b"x", "message/rfc822")
    elsewhere["url_private_download"] = "https://files.example.net/mail.eml"
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[elsewhere]))
    _, refused = await slack.wait_for_posts(2)
    assert refused["text"] == (
        "I could not read that file: the file is not on Slack's file host over HTTPS."
    )
    assert local_server.requests == []


async def test_a_model_that_breaks_json_once_is_repaired(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    local_server.json_failures = 1
    app = await make_app()
    await app.sender.event(mention_event(f"summarize {REFUND_EMAIL}", "C0PRIVATE1"))
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)
    _, repair = json_requests(local_server)
    assert "not a valid JSON object" in repair["messages"][-1]["content"]
    assert repair["messages"][-2]["role"] == "assistant"


async def test_a_model_that_keeps_breaking_json_gives_a_plain_summary_not_a_crash(
    make_app: AppFactory, slack: FakeSlack, channels: None, local_server: FakeModelServer
) -> None:
    local_server.json_failures = 99
    app = await make_app()
    await app.sender.event(mention_event(f"summarize {REFUND_EMAIL}", "C0PRIVATE1"))
    (post,) = await slack.wait_for_posts(1)
    assert len(json_requests(local_server)) == 2
    assert len(local_server.requests) == 3  # two structured tries, then one plain request
    assert "plain summary" in post["text"]
    assert "answer from local-llama" in post["text"]
    assert not post["text"].startswith("Sorry")


async def test_local_model_down_refuses_a_summary_and_sends_nothing_elsewhere(
    make_app: AppFactory,
    slack: FakeSlack,
    channels: None,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    local_server.down = True
    app = await make_app()
    await app.sender.event(mention_event(f"summarize {REFUND_EMAIL}", "C0PUBLIC01"))
    (post,) = await slack.wait_for_posts(1)
    assert "on-prem model is unavailable" in post["text"]
    assert closed_server.requests == []


async def test_summaries_through_ollama_use_its_format_parameter(
    make_app: AppFactory, slack: FakeSlack, channels: None, ollama_server: FakeModelServer
) -> None:
    app = await make_app(local_model="ollama:ollama-llama", local_base_url=ollama_server.base_url)
    await app.sender.event(mention_event(f"summarize {REFUND_EMAIL}", "C0PRIVATE1"))
    (summary,) = await slack.wait_for_posts(1)
    assert_summary_post(summary)
    (request,) = json_requests(ollama_server)
    assert request["format"]["title"] == "EmailSummary"


@pytest.mark.embedded
async def test_the_embedded_model_returns_a_valid_structured_summary(
    make_app: AppFactory, slack: FakeSlack, channels: None
) -> None:
    app = await make_app(local_model="embedded", local_base_url=None, closed_model="none",
                         model_timeout_s=120)  # fmt: skip
    await app.sender.event(mention_event(f"summarize {REFUND_EMAIL}", "C0PRIVATE1"))
    (post,) = await slack.wait_for_posts(1, timeout=120)
    assert not post["text"].startswith("Sorry")
    # The schema is enforced by llama.cpp's grammar, so even a 135M model yields valid JSON.
    assert_summary_post(post, with_lists=False)


async def test_ask_with_an_email_in_a_dm_between_two_people_answers_by_response_url(
    make_app: AppFactory,
    slack: FakeSlack,
    channels: None,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    app = await make_app()
    await app.sender.command(
        slash_form(
            f"summarize {REFUND_EMAIL}", "D0ALICEBOB", "directmessage", slack.response_url("5")
        )
    )
    (response,) = await slack.wait_for_answers_by_response_url(1)
    assert_summary_post(response)
    assert closed_server.requests == []
