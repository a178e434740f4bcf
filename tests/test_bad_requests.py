"""Whatever arrives at `/slack/events`, correctly signed or not, gets a clean answer: 400 for
a body Slack would never send (with one log line, no traceback), 401 for a bad signature,
and every well-formed request reaches its handler. Property-tested with random bodies and
with slash-command and message texts built from words, Unicode and Slack's own field names."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.request_body import parse_body
from tests.conftest import AppFactory, RunningApp
from tests.fakes.ledger import settled
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, slash_form

MALFORMED: list[tuple[str, bytes, str]] = [
    ("truncated JSON", b'{"type": "event_callback", "event": {"type": "mess', "application/json"),
    ("JSON array", b"[1, 2, 3]", "application/json"),
    ("JSON null", b"null", "application/json"),
    ("JSON number", b"42", "application/json"),
    ("JSON string", b'"event_callback"', "application/json"),
    ("JSON not UTF-8", b'{"type": "event_callback", "x": "\xff\xfe"}', "application/json"),
    ("form not UTF-8", b"command=%2Fask&text=caf\xe9", "application/x-www-form-urlencoded"),
    ("payload not JSON", b"payload=%7B%22type%22%3A", "application/x-www-form-urlencoded"),
    ("payload not an object", b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    ("empty body", b"", "application/json"),
    ("JSON body as a form", b"{broken", "application/x-www-form-urlencoded"),
    (
        "a view without its type",
        b"payload=%7B%22type%22%3A%22view_submission%22%2C%22view%22%3A%7B%22callback_id%22%3A%22x%22%7D%7D",
        "application/x-www-form-urlencoded",
    ),
    (
        "a subtype that is an object",
        b'{"type": "event_callback", "event": {"type": "message", "subtype": {"a": 1}}}',
        "application/json",
    ),
]

# What Slack's requests are made of: its field names, form syntax, and text people write.
SLACK_WORDS = [
    "payload", "token", "command", "/ask", "text", "type", "event", "event_callback",
    "url_verification", "challenge", "block_actions", "view_submission", "team_id",
    "response_url", "trigger_id", "&", "=", "%", "+", "{", "}", "[", "]", '"', "\\",
    "<!channel>", "<@U0BOTUSER1>", "summarize", "help", "local", "\u0000", "\ufeff",
]  # fmt: skip
slack_text = st.lists(
    st.one_of(st.sampled_from(SLACK_WORDS), st.text(max_size=12)), max_size=12
).map(" ".join)


@pytest.mark.parametrize(("what", "body", "content_type"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_a_malformed_signed_body_gets_400_and_one_log_line(
    make_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    what: str,
    body: bytes,
    content_type: str,
) -> None:
    app = await make_app()
    with caplog.at_level(logging.INFO):
        status = await app.sender.post_raw(body, content_type)
    assert status == 400, what
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1
    assert problems[0].exc_info is None
    assert problems[0].getMessage() == "malformed request refused"


async def test_a_malformed_body_with_a_bad_signature_gets_401(make_app: AppFactory) -> None:
    app = await make_app()
    assert await app.sender.post_raw(b"[1, 2", "application/json", signed=False) == 401


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.dictionaries(st.sampled_from(SLACK_WORDS), slack_text, max_size=6).map(
            lambda d: urlencode(d).encode()
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | slack_text,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(SLACK_WORDS), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
async def test_any_signed_body_gets_a_clean_answer_never_a_server_error(
    running: RunningApp, body: bytes, content_type: str
) -> None:
    status = await running.sender.post_raw(body, content_type)
    assert status == 200 or 400 <= status < 500


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=slack_text)
async def test_any_slash_command_text_reaches_the_ask_handler(
    running: RunningApp, slack: FakeSlack, text: str
) -> None:
    # A 200 is the /ask handler's own acknowledgement: Bolt answers 404 to what no
    # listener takes.
    status, _, _ = await running.sender.command(
        slash_form(text, "C0PUBLIC01", "general", slack.response_url())
    )
    assert status == 200


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=slack_text)
async def test_any_direct_message_text_reaches_the_message_handler(
    running: RunningApp, text: str
) -> None:
    status, _, _ = await running.sender.event(dm_event(text, "D0ALICEDM1"))
    assert status == 200


async def test_while_shutting_down_events_go_back_to_slack_and_commands_are_answered(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    app = await make_app()
    app.services.in_flight.draining = True
    status, _, _ = await app.sender.event(dm_event("hello", "D0ALICEDM1"))
    assert status == 503  # Slack retries it, on another replica
    # Slack never retries a slash command: it is answered, and the drain waits for it.
    form = slash_form("question c0001", public, "general", slack.response_url("c0001"))
    assert (await app.sender.command(form))[0] == 200
    assert (await settled(slack, ["c0001"])).answered == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"attachments": [{"fallback": "alert", "text": "disk full", "ts": 123456789}]},
        {"metadata": {"event_type": "alert", "event_payload": {"type": 3, "event": "x"}}},
    ],
    ids=["an attachment with a numeric ts", "metadata of any shape"],
)
async def test_what_other_apps_put_in_messages_is_not_refused(
    make_app: AppFactory, slack: FakeSlack, extra: dict[str, object]
) -> None:
    slack.channels["D0ALICEDM1"] = conversation("im", "D0ALICEDM1")
    app = await make_app()
    event = dm_event("question x0001", "D0ALICEDM1", **extra)
    assert (await app.sender.event(event))[0] == 200
    assert (await settled(slack, ["x0001"])).answered == 1


@pytest.fixture
async def running(make_app: AppFactory, public: str) -> RunningApp:
    """One app for every example of a property test (many answers at once: none of them is
    what these tests check, so none should wait in line behind the others)."""
    return await make_app(max_in_flight_local=64)


def test_every_payload_slack_sends_passes_the_shape_checks() -> None:
    # Slack's own payload examples (tests/data/slack), as JSON bodies and as interactivity
    # forms: the checks that refuse malformed bodies must never refuse a real one.
    samples = sorted((Path(__file__).parent / "data" / "slack").glob("*.json"))
    checked = 0
    for sample in samples:
        data = json.loads(sample.read_text())
        if not isinstance(data, dict) or "ok" in data:
            continue  # Web API responses, not requests
        body = json.dumps(data)
        assert parse_body(body, "application/json") == data, sample.name
        form = urlencode({"payload": body})
        assert parse_body(form, "application/x-www-form-urlencoded") == data, sample.name
        checked += 1
    assert checked >= 5
