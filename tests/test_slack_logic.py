"""Pure Slack-side logic: command parsing, the prefilter, formatting within Slack's limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.answers import Answer, Outcome
from bot.routing.decision import Reason, Route, RouteDecision
from bot.slack.command_text import is_local_flag, parse_ask_text, strip_mention
from bot.slack.formatting import (
    MAX_BLOCKS,
    MESSAGE_BLOCKS_TEXT,
    SECTION_TEXT_LIMIT,
    block_text_chars,
    context_block,
    context_line,
    message_parts,
    section_blocks,
    split_text,
)
from bot.slack.prefilter import check_message_event
from bot.slack.threads import thread_lines
from tests.fakes.slack_api import load


@pytest.mark.parametrize(
    ("raw", "question", "local", "help_"),
    [
        ("", "", False, True),
        ("  help ", "help", False, True),
        ("--local what now", "what now", True, False),
        ("-l --local  x", "x", True, False),
        ("--local", "", True, True),
        ("what is --local?", "what is --local?", False, False),
        # A flag ends at any whitespace, not only a space.
        ("--local\nour Q3 plan", "our Q3 plan", True, False),
        ("-l\tour plan\nline two", "our plan\nline two", True, False),
        ("--LOCAL\r\n\u3000x", "x", True, False),
        # As phones and word processors write `--local`; invisible and trailing characters.
        ("\u2014local our Q3 target", "our Q3 target", True, False),
        ("\u2013local x", "x", True, False),
        ("\u2212\u2212local x", "x", True, False),
        ("\uff0d\uff0dlocal x", "x", True, False),
        ("\u200b--local x", "x", True, False),
        ("--local: x", "x", True, False),
        ("-local x", "x", True, False),
        # Not a flag: a word that merely starts like one.
        ("--localhost is down", "--localhost is down", False, False),
        ("local question", "local question", False, False),
    ],
)
def test_parse_ask_text(raw: str, question: str, local: bool, help_: bool) -> None:
    parsed = parse_ask_text(raw)
    assert (parsed.question, parsed.force_local, parsed.wants_help) == (question, local, help_)


@given(
    st.sampled_from(["--local", "-l", "--Local"]),
    st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000", min_size=1, max_size=4),
    st.text(min_size=1, max_size=40).filter(
        lambda q: q.strip() and not is_local_flag(q.split()[0])
    ),
)
def test_local_flag_holds_whatever_whitespace_follows(flag: str, gap: str, question: str) -> None:
    parsed = parse_ask_text(f"{flag}{gap}{question}")
    assert parsed.force_local
    assert parsed.question == question.strip()


def test_strip_mention_keeps_line_breaks_of_pasted_text() -> None:
    assert strip_mention("<@UBOT> look:\nline one\nline two", "UBOT") == "look:\nline one\nline two"


@pytest.mark.parametrize(
    ("fixture", "accepted", "reason"),
    [
        ("event_message_im", True, "accepted"),
        ("event_message_im_message_changed", False, "subtype:message_changed"),
        ("event_message_im_from_self_bot", False, "bot_message"),
        ("event_app_mention_in_thread", True, "accepted"),
    ],
)
def test_prefilter_on_slack_payloads(fixture: str, accepted: bool, reason: str) -> None:
    verdict = check_message_event(load(fixture)["event"], "U0BOTUSER1")
    assert (verdict.accepted, verdict.reason) == (accepted, reason)


def test_prefilter_drops_own_and_empty_messages() -> None:
    assert check_message_event({"user": "UBOT", "text": "x"}, "UBOT").reason == "own_message"
    assert check_message_event({"user": "U1", "text": "  "}, "UBOT").reason == "empty_text"
    assert check_message_event({"text": "x"}, "UBOT").reason == "no_user"


def _answer(text: str, route: Route = Route.LOCAL, outcome: Outcome = Outcome.ANSWERED) -> Answer:
    reasons = (Reason.PRIVATE_CHANNEL,) if route is Route.LOCAL else (Reason.PUBLIC_CHANNEL,)
    model = "llama3.1" if route is Route.LOCAL else "gpt-4.1-mini"
    answered_by = (
        None
        if outcome is Outcome.REFUSED
        else ("llama3.1" if outcome is Outcome.FALLBACK else model)
    )
    return Answer(text, RouteDecision(route, model, reasons), outcome, answered_by)


def test_context_lines() -> None:
    assert context_line(_answer("x")) == "🔒 on-prem · llama3.1 · private channel"
    assert context_line(_answer("x", Route.CLOSED)) == "☁️ gpt-4.1-mini"
    assert "cloud model unavailable" in context_line(_answer("x", Route.CLOSED, Outcome.FALLBACK))
    assert "unavailable" in context_line(_answer("x", outcome=Outcome.REFUSED))


def test_long_block_answers_spread_over_messages_within_every_limit() -> None:
    text = "\n".join(f"line {i} " + "word " * 40 for i in range(2000))  # ~420k characters
    footer = [context_block(_answer(text))]
    parts = message_parts(section_blocks(text), footer)
    assert len(parts) > 30  # Slack's ~12,000 characters per message
    for part in parts:
        assert len(part) <= MAX_BLOCKS
        assert block_text_chars(part) <= MESSAGE_BLOCKS_TEXT
        sections = [b for b in part if b["type"] == "section"]
        assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in sections)
    assert [p[-1]["type"] for p in parts[-1:]] == ["context"]
    assert all(b["type"] == "section" for p in parts[:-1] for b in p)
    shown = "".join(b["text"]["text"] for p in parts for b in p if b["type"] == "section")
    assert shown.replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_split_text_loses_nothing_when_it_fits() -> None:
    text = ("para one " * 300 + "\n") * 5
    pieces = split_text(text, 1000)
    assert all(len(p) <= 1000 for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert split_text("x" * 2500, 1000) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_thread_lines_leave_out_the_bot_and_the_current_message() -> None:
    messages = [
        {"user": "U1", "text": "root", "ts": "1"},
        {"user": "UBOT", "bot_id": "B1", "text": "bot said", "ts": "2"},
        {"user": "U2", "text": "<@UBOT> earlier question", "ts": "3"},
        {"user": "U2", "text": "a comment", "ts": "4"},
        {"user": "U1", "text": "<@UBOT> now", "ts": "5"},
    ]
    assert thread_lines(messages, current_ts="5", bot_user_id="UBOT") == [
        "<@U1>: root",
        "<@U2>: a comment",
    ]
