"""Recognising, parsing and validating customer emails: pure functions."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.answers import Answer, Outcome
from bot.customer_email.detect import asks_for_summary, email_signals, looks_like_email
from bot.customer_email.parse import html_to_text, parse_eml, parse_file, parse_pasted
from bot.customer_email.schema import EmailSummary
from bot.customer_email.summarize import SummaryParseError, parse_summary
from bot.routing.decision import Reason, Route, RouteDecision
from bot.slack.email_requests import email_in_text
from bot.slack.formatting import MAX_BLOCKS, SECTION_TEXT_LIMIT, summary_blocks
from scripts.eval_email_detection import chat, emails

EMAILS = Path(__file__).resolve().parent / "data" / "emails"


@pytest.mark.parametrize(
    "text",
    [
        "From: a@b.example\nTo: support@shop.example\nSubject: refund\n\nplease refund order 12",
        "Hi team,\nthe export button does nothing since yesterday.\nThanks,\nPriya",
        "Bonjour,\nje souhaite annuler mon abonnement.\nCordialement,\nLuc",
        "Sehr geehrte Damen und Herren,\ndie Lieferung fehlt.\nMit freundlichen Grüßen\nAnna",
        "ok thanks\n\nOn Mon, 3 Mar 2026 at 10:00, Bob <bob@x.example> wrote:\n> is it fixed?",
        "---------- Forwarded message ---------\nFrom: Ana <ana@x.example>\nDate: today\n\nhola",
    ],
)
def test_emails_are_recognised(text: str) -> None:
    assert looks_like_email(text)


@pytest.mark.parametrize(
    "text",
    [
        "what's the VPN setup for contractors?",
        "can you summarise the incident from last night for the postmortem?",
        "deploy 2024-05-01T12:00:00Z finished in 183 s, p95 latency 412 ms",
        "thanks!",
    ],
)
def test_ordinary_messages_are_not_emails(text: str) -> None:
    assert not looks_like_email(text)


def test_summary_requests() -> None:
    assert asks_for_summary("@hearthbot summarise the email above")
    assert asks_for_summary("what does this customer want?")
    assert asks_for_summary("peux-tu résumer ce mail ?")
    assert asks_for_summary("kannst du die Mail zusammenfassen?")
    assert not asks_for_summary("what time is the standup?")


def test_instruction_above_a_pasted_email_is_kept_apart() -> None:
    found = email_in_text("what does this customer want?\nHi,\nI want a refund.\nBest,\nJo")
    assert found is not None
    assert found.instruction == "what does this customer want?"
    assert found.email.newest.startswith("Hi,")
    assert email_in_text("summarise the email above") is None


def test_a_forwarded_chain_makes_the_newest_message_the_subject() -> None:
    text = (
        "Hi support,\nsee below, still no answer after two weeks. Escalating.\nTom\n\n"
        "---------- Forwarded message ---------\nFrom: Tom <tom@x.example>\n"
        "Date: 1 Nov 2026\nSubject: broken invoice\n\nInvoice INV-881 is wrong.\n"
    )
    email = parse_pasted(text)
    assert email.newest.startswith("Hi support,")
    assert "INV-881" in email.earlier
    assert "INV-881" not in email.newest


def test_quoted_reply_lines_are_history() -> None:
    email = parse_pasted("Yes, please cancel.\n\n> Do you want us to cancel order 5512?\n> Support")
    assert email.newest == "Yes, please cancel."
    assert "5512" in email.earlier


def test_eml_with_base64_html_body_and_forwarded_original() -> None:
    email = parse_eml((EMAILS / "html_only_with_forward.eml").read_bytes())
    assert email.subject == "Commande FR-77120 : chargeur manquant"
    assert email.sender == "Camille Durand <camille.durand@durand-archi.fr>"
    assert "il manque le chargeur (réf. CH-65W)" in email.newest
    assert "39,90 €" in email.newest  # &nbsp; and base64-encoded UTF-8 decoded
    assert "color:red" not in email.newest  # <style> dropped
    assert "a été expédiée le 10 novembre" in email.earlier  # quoted-printable decoded


def test_eml_with_quoted_printable_plain_and_html_alternative_prefers_plain() -> None:
    message = EmailMessage()
    message["From"] = "Zoë <zoe@x.example>"
    message["Subject"] = "Kündigung"
    message.set_content("Ich möchte kündigen. Vertragsnummer V-2231.", cte="quoted-printable")
    message.add_alternative("<p>HTML version</p>", subtype="html")
    email = parse_file("mail.eml", message.as_bytes())
    assert email.newest == "Ich möchte kündigen. Vertragsnummer V-2231."
    assert email.subject == "Kündigung"


def test_a_text_file_is_read_as_a_pasted_email() -> None:
    email = parse_file("mail.txt", b"Subject: hello\n\nHi,\nwhere is my parcel?\nThanks")
    assert email.subject == "hello"
    assert email.newest.startswith("Hi,")


def test_html_to_text_keeps_lines_and_lists() -> None:
    text = html_to_text("<div>a<br>b</div><ul><li>one</li><li>two</li></ul><script>x()</script>")
    assert [line for line in text.splitlines() if line] == ["a", "b", "• one", "• two"]


VALID = {
    "customer_name": "Jane", "company": None, "subject": "Broken lamp",
    "summary": "Lamp arrived broken.", "intent": "refund_or_return", "sentiment": "negative",
    "urgency": "high", "urgency_reason": "second time", "action_items": [{"action": "refund"}],
    "key_facts": [{"kind": "order_number", "value": "#48213"}], "language": "English",
    "reply_draft": "Dear Jane, ...",
}  # fmt: skip


def test_parse_summary_accepts_fenced_json_with_prose_around() -> None:
    text = "Here you go:\n```json\n" + json.dumps(VALID) + "\n```"
    assert parse_summary(text).intent.value == "refund_or_return"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", "no JSON object"),
        ('{"subject": "x", "summary": "unterminated', "no JSON object"),
        ('{"subject": "x",}', "invalid JSON"),
        (json.dumps({**VALID, "intent": "refund"}), "intent"),
        (json.dumps({k: v for k, v in VALID.items() if k != "urgency"}), "urgency"),
    ],
)
def test_parse_summary_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SummaryParseError, match=message):
        parse_summary(text)


def test_summary_blocks_fit_slack_limits_even_for_huge_fields() -> None:
    huge = EmailSummary.model_validate(
        {**VALID, "subject": "S" * 200, "reply_draft": "word " * 499,
         "action_items": [{"action": "a" * 300, "owner": "o" * 80}] * 8,
         "key_facts": [{"kind": "other", "value": "v" * 120}] * 12}
    )  # fmt: skip
    decision = RouteDecision(Route.LOCAL, "llama", (Reason.PRIVATE_CHANNEL,))
    blocks = summary_blocks(Answer("x", decision, Outcome.ANSWERED, "llama", summary=huge))
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SECTION_TEXT_LIMIT
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000


def test_chat_that_greets_and_thanks_is_never_taken_for_an_email() -> None:
    mistaken = [text for text in chat() if looks_like_email(text)]
    assert mistaken == []
    # ...while signed emails without headers are still recognised.
    signed = [t for _, t in emails() if email_signals(t).signed]
    assert len(signed) >= 20
    assert all(looks_like_email(t) for t in signed)
