"""The acknowledging front: Slack's requests are acknowledged once their signature is
checked, before Bolt's middleware and listeners run; what must carry content in its
acknowledgement still goes through Bolt first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse

from bot.in_flight import InFlight
from bot.slack import front
from bot.slack.front import acknowledged_at_once
from bot.slack.identity import BotIdentity, SlackUnreachable
from bot.slack.web_clients import web_client
from tests.conftest import AppFactory
from tests.fakes.loopback import serve_on_loopback, wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, mention_event, slash_form


@pytest.mark.parametrize(
    ("body", "at_once"),
    [
        ({"type": "event_callback", "event": {"type": "app_mention"}}, True),
        ({"command": "/ask", "text": "what is kubernetes"}, True),
        ({"command": "/ask", "text": "--local summarize this please"}, True),
        ({"command": "/ask", "text": ""}, False),  # usage is the acknowledgement
        ({"command": "/ask", "text": " help "}, False),
        ({"command": "/ask", "text": "summarize"}, False),
        ({"command": "/ask", "text": "x", "ssl_check": "1"}, False),
        ({"command": "/other", "text": "x"}, False),
        ({"type": "block_actions", "actions": []}, True),
        ({"type": "message_action", "callback_id": "summarize_email"}, True),
        ({"type": "url_verification", "challenge": "abc"}, False),
        ({"type": "view_submission", "view": {"type": "modal"}}, False),
        ({"type": "block_suggestion"}, False),
        ({}, False),
    ],
)
def test_which_requests_are_acknowledged_before_bolt_runs(
    body: dict[str, Any], at_once: bool
) -> None:
    assert acknowledged_at_once(body) is at_once


async def test_requests_are_acknowledged_while_bolt_still_waits_for_slack(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    # Bolt checks the token with auth.test before any listener runs: with Slack slow to
    # answer it, the acknowledgements must not wait (Slack gives up after 3 s).
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    released = asyncio.Event()
    slack.held["auth.test"] = released
    app = await make_app()
    ask = app.sender.command(
        slash_form("what is kubernetes", "C0PUBLIC01", "general", slack.response_url())
    )
    status, body, _ = await asyncio.wait_for(ask, 10)
    assert (status, body) == (200, "")
    mention = app.sender.event(mention_event("what is redis?", "C0PUBLIC01"))
    status, _, _ = await asyncio.wait_for(mention, 10)
    assert status == 200
    assert slack.posts == []  # nothing was processed yet: Bolt is still waiting
    released.set()
    await slack.wait_for_posts(3)  # /ask's question and both answers
    texts = json.dumps([p["text"] for p in slack.posts])
    assert "answer from closed-gpt to: what is kubernetes" in texts
    assert "what is redis" in texts


async def test_usage_is_still_the_acknowledgement_of_an_empty_ask(
    make_app: AppFactory, slack: FakeSlack
) -> None:
    app = await make_app()
    status, body, _ = await app.sender.command(
        slash_form("summarize", "C0PUBLIC01", "general", slack.response_url())
    )
    assert status == 200
    assert "Paste the customer email" in body


async def test_url_verification_is_answered_with_its_challenge(make_app: AppFactory) -> None:
    app = await make_app()
    body = {
        "type": "url_verification",
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    }
    status, text, _ = await app.sender.event(body)
    assert status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


async def test_a_bolt_failure_before_the_listeners_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slack has its 200 and will not send the request again: the front dispatches it again.
    monkeypatch.setattr(front, "DISPATCH_RETRY_PAUSES_S", (0.01, 0.01))

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0TEAM0001", bot_token="xoxb-x")

    bolt = AsyncApp(signing_secret=SIGNING_SECRET, authorize=authorize)
    failures = [ConnectionResetError("auth.test: connection reset")]

    @bolt.middleware
    async def network_trouble(next: Callable[[], Awaitable[Any]]) -> Any:
        if failures:
            raise failures.pop()  # as a first request's auth.test would, out of retries
        return await next()

    seen: list[str] = []

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, Any]) -> None:
        seen.append(str(event["text"]))

    in_flight = InFlight()
    web_app = web.Application()
    web_app.router.add_post(
        "/slack/events", front.SlackFront(bolt, SIGNING_SECRET, in_flight).handle
    )
    runner, url = await serve_on_loopback(web_app)
    try:
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, f"{url}/slack/events")
            status, _, _ = await sender.event(mention_event("what is redis?", "C0PUBLIC01"))
        assert status == 200
        await wait_until(lambda: seen, "the listener ran", 5)
        await asyncio.sleep(0.1)
        assert len(seen) == 1
        assert failures == []
    finally:
        await runner.cleanup()


async def test_slack_failing_the_identity_check_delays_the_answer_but_loses_nothing(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A replica that could not reach Slack at start-up: the first request's auth.test
    # fails (500s past slack_sdk's retries); the request, already acknowledged, is
    # dispatched again and answered once.
    monkeypatch.setattr(front, "DISPATCH_RETRY_PAUSES_S", (0.1, 0.1))
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    slack.server_errors["auth.test"] = 4  # one dispatch's worth: a try and three retries
    app = await make_app()
    status, _, _ = await app.sender.event(mention_event("what is redis?", "C0PUBLIC01"))
    assert status == 200
    (answer,) = await slack.wait_for_posts(1, timeout=30)
    assert "answer from closed-gpt to: what is redis?" in answer["text"]
    await asyncio.sleep(0.3)
    assert len(slack.posts) == 1


async def test_an_ask_slack_never_confirms_tells_its_asker_privately(
    make_app: AppFactory, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front, "DISPATCH_RETRY_PAUSES_S", (0.1, 0.1))
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    slack.server_errors["auth.test"] = 1000
    app = await make_app()
    await app.sender.command(
        slash_form("what is redis?", "C0PUBLIC01", "general", slack.response_url())
    )
    (told,) = await slack.wait_for_response_posts(1, timeout=40)
    assert told == {"text": front.UNREACHABLE_TEXT, "response_type": "ephemeral"}
    assert slack.posts == []


def _failing_bolt(failures: list[int], seen: list[str]) -> AsyncApp:
    """A Bolt app whose middleware answers the given statuses first (500: an exception
    before the listeners; 401: a signature Bolt no longer accepts), then runs `/ask`."""

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0TEAM0001", bot_token="xoxb-x")

    bolt = AsyncApp(signing_secret=SIGNING_SECRET, authorize=authorize)

    @bolt.middleware
    async def trouble(next: Callable[[], Awaitable[Any]]) -> Any:
        if failures:
            status = failures.pop(0)
            if status >= 500:
                raise ConnectionResetError("auth.test: connection reset")
            return BoltResponse(status=status, body="")
        return await next()

    @bolt.command("/ask")
    async def on_ask(ack: Any, command: dict[str, Any]) -> None:
        await ack()
        seen.append(str(command["text"]))

    return bolt


async def _serve_front(bolt: AsyncApp, slack: FakeSlack) -> tuple[Any, str, front.SlackFront]:
    in_flight = InFlight()
    session = aiohttp.ClientSession()
    handler = front.SlackFront(bolt, SIGNING_SECRET, in_flight, session)
    web_app = web.Application()
    web_app.router.add_post("/slack/events", handler.handle)
    web_app.on_cleanup.append(lambda _: session.close())
    runner, url = await serve_on_loopback(web_app)
    return runner, url, handler


async def _ask(url: str, slack: FakeSlack) -> tuple[int, str]:
    """A signed `/ask` to the front at `url`; its status and acknowledgement body."""
    async with aiohttp.ClientSession() as session:
        sender = SlackSender(session, f"{url}/slack/events")
        form = slash_form("what is redis?", "C0PUBLIC01", "general", slack.response_url())
        status, body, _ = await sender.command(form)
    return status, body


async def test_a_retry_bolt_refuses_tells_the_asker_instead_of_dropping_it(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first attempt fails; the retries are refused (late enough for Bolt to find the
    # signature too old): no listener ran, so the asker is told.
    monkeypatch.setattr(front, "DISPATCH_RETRY_PAUSES_S", (0.01, 0.01))
    seen: list[str] = []
    runner, url, _ = await _serve_front(_failing_bolt([500, 401, 401], seen), slack)
    try:
        assert await _ask(url, slack) == (200, "")
        (told,) = await slack.wait_for_response_posts(1, timeout=10)
        assert told == {"text": front.UNREACHABLE_TEXT, "response_type": "ephemeral"}
        assert seen == []
    finally:
        await runner.cleanup()


async def test_a_shutdown_between_attempts_tells_the_asker(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front, "DISPATCH_RETRY_PAUSES_S", (30.0, 30.0))
    seen: list[str] = []
    runner, url, handler = await _serve_front(_failing_bolt([500, 500, 500], seen), slack)
    try:
        assert await _ask(url, slack) == (200, "")
        await asyncio.sleep(0.2)  # the first attempt failed; the retry waits
        assert await handler._in_flight.drain(0.1) == 1  # cut off at the deadline
        (told,) = await slack.wait_for_response_posts(1, timeout=10)
        assert told["text"] == front.UNREACHABLE_TEXT
        assert seen == []
    finally:
        await runner.cleanup()


async def test_requests_waiting_for_the_identity_share_one_auth_test(slack: FakeSlack) -> None:
    slack.server_errors["auth.test"] = 1000
    async with aiohttp.ClientSession() as session:
        identity = BotIdentity(web_client(BOT_TOKEN, slack.api_url, session))
        outcomes = await asyncio.gather(
            *(identity.load() for _ in range(10)), return_exceptions=True
        )
    assert all(isinstance(o, SlackUnreachable) for o in outcomes)
    # One call and slack_sdk's three retries, for all ten (not ten calls one after another).
    assert len(slack.calls_to("auth.test")) == 4


async def test_a_body_that_is_not_slacks_json_is_unreachable_not_a_crash() -> None:
    async def proxy_page(_: web.Request) -> web.Response:
        return web.Response(text="Please log in to the proxy", content_type="text/plain")

    page = web.Application()
    page.router.add_post("/api/auth.test", proxy_page)
    runner, url = await serve_on_loopback(page)
    try:
        async with aiohttp.ClientSession() as session:
            identity = BotIdentity(web_client(BOT_TOKEN, f"{url}/api/", session))
            with pytest.raises(SlackUnreachable):
                await identity.load()
    finally:
        await runner.cleanup()
