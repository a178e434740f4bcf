"""Shared files and emails as an attacker or an unlucky user sends them: other encodings,
big and endless downloads, hostile headers, broken MIME, HTML quirks, non-Slack hosts, and
chat that merely looks like an email. Through the whole app, with Slack's file host faked."""

from __future__ import annotations

import asyncio
import codecs
import json
import time

import pytest

from bot.customer_email.parse import EmailReadError, check_limits, html_to_text
from bot.customer_email.worker import EmailFileParser
from tests.conftest import AppFactory, context_line, context_texts
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event

SECRETS = "card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, mail jane@corp.example"
TEXT_FILE = f"Hello support,\nPlease update my payment details: {SECRETS}.\nThanks,\nJane\n"
EML = (
    "From: Jane <jane@corp.example>\r\nTo: support@shop.example\r\nSubject: Payment update\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    f"Hello,\r\nplease use {SECRETS}.\r\nBest,\r\nJane\r\n"
)


@pytest.fixture
def public(slack: FakeSlack) -> str:
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "support")
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    return "C0PUBLIC01"


def shared(slack: FakeSlack, name: str, content: bytes, **extra: object) -> dict:
    return slack.add_file(name, content, "text/plain", **extra)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("card.txt", codecs.BOM_UTF16_LE + TEXT_FILE.encode("utf-16-le")),  # Notepad "Unicode"
        ("card.txt", TEXT_FILE.encode("utf-16-le")),  # no byte-order mark
        ("card.txt", codecs.BOM_UTF16_BE + TEXT_FILE.encode("utf-16-be")),
        ("card.txt", TEXT_FILE.encode("utf-32")),
        ("card.txt", TEXT_FILE.encode("cp1252")),
        ("mail.eml", codecs.BOM_UTF16_LE + EML.encode("utf-16-le")),  # PowerShell 5 `>`
    ],
    ids=["utf16-bom", "utf16-no-bom", "utf16-be", "utf32", "cp1252", "eml-utf16"],
)
async def test_files_in_any_encoding_are_scanned_and_stay_on_prem(
    name: str,
    content: bytes,
    public: str,
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    event = mention_event("summarise this customer email", public)
    event["event"]["files"] = [shared(slack, name, content)]
    await app.sender.event(event)
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert local_server.saw("4111 1111 1111 1111")
    assert "card number in message" in context_line(post)


async def test_a_file_that_cannot_be_decoded_with_confidence_routes_on_prem(
    public: str,
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
) -> None:
    app = await make_app()
    noise = bytes((i * 7919 + 13) % 256 for i in range(3000))
    event = mention_event("summarise this", public)
    event["event"]["files"] = [shared(slack, "dump.txt", noise)]
    await app.sender.event(event)
    (post,) = await slack.wait_for_posts(1)
    assert closed_server.requests == []
    assert "file encoding uncertain" in context_line(post)


def html_email(body_chars: int) -> bytes:
    paragraph = "<p>Order ORD-55120 arrived damaged, we need a replacement.</p>\n"
    body = paragraph * (body_chars // len(paragraph)) + "<p>THE-VERY-END</p>"
    return (
        "From: Sam <sam@shop.example>\r\nSubject: Damaged order\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        f"<html><head><title>x</title><body>{body}</body></html>"
    ).encode()


async def test_a_download_is_read_to_its_end(
    public: str, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    app = await make_app()
    # 57 KB of HTML whose text comes last: a download cut at 16 KB gave an empty body.
    content = (
        "From: Sam <sam@shop.example>\r\nSubject: Damaged order\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>"
        + "p.x{color:#333}\n" * 3600
        + "</style></head><body><p>Order ORD-55120 arrived damaged.</p></body></html>"
    ).encode()
    assert len(content) > 57_000
    file = slack.add_file("big.eml", content, "message/rfc822")
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    await slack.wait_for_posts(1)
    (request,) = [r for r in local_server.requests if r.get("response_format")]
    assert "ORD-55120 arrived damaged" in json.dumps(request["messages"])


async def test_a_long_email_says_that_only_its_start_was_read(
    public: str, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    file = slack.add_file("long.eml", html_email(60_000), "message/rfc822")
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert any("only its start was read" in n for n in context_texts(post))


@pytest.mark.parametrize("declared", ["size", "content-length", "nothing"])
async def test_a_file_over_the_cap_is_refused_whatever_it_declares(
    declared: str, public: str, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    content = b"x" * (13 * 1024 * 1024)
    extra: dict[str, object] = {}
    if declared == "content-length":
        extra = {"size": 1000, "_content_length": len(content)}
    elif declared == "nothing":
        extra = {"size": None}
    file = slack.add_file("huge.txt", content, "text/plain", **extra)
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert post["text"] == "I could not read that file: the file is larger than 2 MB."


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/files-pri/T0TEAM0001-F1/x.eml",  # clear text: the token leaks
        "https://files.slack.com.evil.example/x.eml",
        "https://evil.example/files.slack.com/x.eml",
        "http://[::1/x.eml",  # malformed
        "https://files.slack.com:99999/x.eml",  # malformed port
    ],
)
async def test_downloads_go_only_to_slacks_file_host_over_https(
    url: str, public: str, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    file = slack.add_file("mail.eml", EML.encode(), "message/rfc822")
    file["url_private_download"] = file["url_private"] = url
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert post["text"] == (
        "I could not read that file: the file is not on Slack's file host over HTTPS."
    )
    assert slack.file_downloads == []


def headers_eml(headers: str, body: str = "Hello, please help.\r\n") -> bytes:
    return (
        f"{headers}\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def nested_messages(depth: int) -> bytes:
    message = "Subject: innermost\r\n\r\nhello\r\n"
    for _ in range(depth):
        message = f"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n{message}"
    return ("From: a@b.example\r\n" + message).encode()


HOSTILE = {
    "encoded-words-from": headers_eml("From: " + "=?utf-8?q?a?= " * 20_000 + "<a@b.example>"),
    "dotted-local-part": headers_eml("From: " + "." * 100_000 + "@b.example"),
    "many-addresses": headers_eml("To: " + ", ".join(f"u{i}@b.example" for i in range(50_000))),
    "folded-subject": headers_eml("From: a@b.example\r\nSubject: x" + "\r\n y" * 400_000),
    "nested-rfc822": nested_messages(1000),
    "open-parens": headers_eml("From: " + "(" * 5000 + "a@b.example"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_headers_get_one_sentence_quickly(
    name: str, public: str, make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    file = slack.add_file("evil.eml", HOSTILE[name], "message/rfc822")
    started = time.monotonic()
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert post["text"].startswith("I could not read that file: it could not be read safely: ")
    assert time.monotonic() - started < 15  # the old parse took up to 25 s (and 5.4 GB)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_headers_are_refused_before_parsing(name: str) -> None:
    with pytest.raises(EmailReadError):
        check_limits(HOSTILE[name])


async def test_an_unknown_charset_is_read_anyway(
    public: str, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    app = await make_app()
    raw = EML.replace("charset=utf-8", "charset=x-no-such-charset").encode()
    file = slack.add_file("mail.eml", raw, "message/rfc822")
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    (post,) = await slack.wait_for_posts(1)
    assert post["blocks"][0]["type"] == "header"  # a summary
    assert local_server.saw("4111 1111 1111 1111")


async def test_a_parse_that_overruns_its_deadline_is_killed_and_reported() -> None:
    # 1.5 MB of HTML takes about 0.25 s to parse here; a normal email about 3 ms. The
    # deadline sits well between the two (at 0.2 s the big parse sometimes finished).
    parser = EmailFileParser(timeout_s=0.05)
    try:
        with pytest.raises(EmailReadError, match="took too long"):
            await parser.parse_file("big.eml", html_email(1_500_000))
        # The pool killed that worker, started another, and goes on.
        assert (await parser.parse_file("m.eml", EML.encode())).subject == "Payment update"
    finally:
        parser.close()


async def test_a_parse_that_needs_too_much_memory_is_reported() -> None:
    # 1.9 MB of base64 (within the 2 MB cap): about 60 MB of address space to parse here.
    raw = (
        "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + "QUFB" * 475_000
    ).encode()
    starved = EmailFileParser(memory_bytes=45 * 1024 * 1024)
    roomy = EmailFileParser()
    try:
        with pytest.raises(EmailReadError, match="more memory"):
            await starved.parse_file("m.eml", raw)
        assert (await roomy.parse_file("m.eml", raw)).subject == "s"
    finally:
        starved.close()
        roomy.close()


def test_html_without_a_closing_head_keeps_its_body_and_entities_are_read_once() -> None:
    text = html_to_text(
        "<html><head><title>T</title><meta charset=utf-8><body><p>Refund order 7</p>"
        "<p>Use a &amp;lt;b&amp;gt; tag &amp; more</p><script>x()</script></body>"
    )
    assert "Refund order 7" in text
    assert "Use a &lt;b&gt; tag & more" in text
    assert "x()" not in text
    assert "T" not in text.split()


GREETING_QUESTIONS = [
    "Hi, how do I reset my VPN token? Thanks!",
    "Hi,\nhow do I reset my VPN token?\nThanks!",
    "Hello team,\nwhere is the expense policy?\nKind regards",
]


@pytest.mark.parametrize("text", GREETING_QUESTIONS)
async def test_a_question_with_a_greeting_and_thanks_is_answered_not_summarised(
    text: str, public: str, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    app = await make_app()
    await app.sender.event(dm_event(text, "D0DMALICE1"))
    (post,) = await slack.wait_for_posts(1)
    assert post["_streamed"]  # an answer, not a summary (which has a header)
    assert all(b["type"] != "header" for b in post["blocks"])
    assert not any(r.get("response_format") for r in local_server.requests)


def test_a_forwarded_message_cannot_carry_the_header_bomb_past_the_limits() -> None:
    inner = "From: " + "=?utf-8?q?a?= " * 20_000 + "<a@b.example>\r\nSubject: x\r\n\r\nhi\r\n"
    outer = (
        "From: a@b.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        "Content-Type: message/rfc822\r\n\r\n" + inner
    )
    with pytest.raises(EmailReadError, match="encoded words"):
        check_limits(outer.encode())


async def test_every_caller_gets_an_answer_when_workers_run_out_of_memory() -> None:
    hungry = (
        "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + "QUFB" * 475_000
    ).encode()
    parser = EmailFileParser(memory_bytes=45 * 1024 * 1024)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(parser.parse_file("h.eml", hungry) for _ in range(3)),
                parser.parse_file("m.eml", b"x"),
                return_exceptions=True,
            ),
            timeout=90,
        )
    finally:
        parser.close()
    assert all(isinstance(r, EmailReadError) for r in results[:3]), results
    # The small one is either read or refused with a sentence: never left waiting.
    assert isinstance(results[3], EmailReadError) or results[3].newest == "x"


async def test_looking_for_the_email_above_never_stalls_other_requests(
    public: str, make_app: AppFactory, slack: FakeSlack
) -> None:
    root = "1790007000.000100"
    body = ("ok\n" * 14_000)[:40_000]  # a 40,000-character message of short lines
    slack.threads[(public, root)] = [
        {"type": "message", "user": "U0BOB00002", "ts": root, "text": "x"},
        *({"type": "message", "user": "U0BOB00002", "ts": f"{1_790_007_001 + i}.000100",
           "thread_ts": root, "text": body} for i in range(300)),
    ]  # fmt: skip
    app = await make_app()
    await app.sender.event(mention_event("summarize the email above", public, thread_ts=root))
    worst = 0.0
    deadline = time.monotonic() + 60
    while not slack.posts and time.monotonic() < deadline:
        started = time.monotonic()
        async with app.session.get(f"{app.url}/healthz") as response:
            await response.read()
        worst = max(worst, time.monotonic() - started)
        await asyncio.sleep(0.02)
    assert slack.posts  # it answered (no email above: it says so, or answers the question)
    assert worst < 1.0  # seconds; the search on the event loop stalled it for 19 s


async def test_html_entities_in_a_shared_email_are_read_once(
    public: str, make_app: AppFactory, slack: FakeSlack, local_server: FakeModelServer
) -> None:
    content = (
        b"From: Sam <sam@shop.example>\r\nSubject: Template\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>t</title>"
        b"<body><p>Please keep the &amp;lt;b&amp;gt; tag literal &amp; escaped.</p></body>"
    )
    file = slack.add_file("t.eml", content, "message/rfc822")
    await app_send(make_app, slack, file)
    (request,) = [r for r in local_server.requests if r.get("response_format")]
    prompt = json.dumps(request["messages"])
    assert "keep the &lt;b&gt; tag literal & escaped" in prompt


async def app_send(make_app: AppFactory, slack: FakeSlack, file: dict) -> None:
    app = await make_app()
    await app.sender.event(dm_event("summarise this", "D0DMALICE1", files=[file]))
    await slack.wait_for_posts(1)
