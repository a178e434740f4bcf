"""`POST /slack/events`: verify, acknowledge, then hand the request to Bolt.

Bolt acknowledges a request only once it has run its middleware, matched a listener and
the listener has called `ack()` (which Bolt polls for every 10 ms). With many answers being
written on the same event loop, all of that waits its turn, and Slack gives up after 3 s.
Most of Slack's requests are acknowledged with an empty 200 whatever their listener does,
so those are answered here as soon as their signature is checked, and Bolt runs them as a
task (tracked, so a shutdown waits for it). Requests whose acknowledgement can carry
content (`/ask help`, URL verification, views) still go through Bolt before the reply.

Signatures stay verified: here for every request, and again by Bolt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.in_flight import InFlight
from bot.logs import REQUEST_ID, REQUEST_ID_HEADER, new_request_id
from bot.slack.ask_command import ack_text
from bot.slack.request_body import BadBody, decode_body, parse_body
from bot.slack.web_clients import SLACK_FAILURES, ResponseUrlError, post_to_response_url
from bot.tracing import span

log = logging.getLogger(__name__)

# Interactivity whose listeners acknowledge with nothing (feedback buttons, the email
# shortcut); Slack shows nothing for an empty 200.
EMPTY_ACK_PAYLOADS = frozenset({"block_actions", "message_action", "shortcut"})
# Pauses before dispatching an acknowledged request again after Bolt failed on it (5xx).
DISPATCH_RETRY_PAUSES_S = (1.0, 3.0)
# How long telling the asker may take (it may run during a shutdown).
TELL_TIMEOUT_S = 5
UNREACHABLE_TEXT = (
    "hearthbot could not take your request: Slack did not answer it. Please try again."
)


def acknowledged_at_once(body: dict[str, Any]) -> bool:
    """True when Slack's request is acknowledged with an empty 200 whatever happens next.

    Events (Slack wants only the 200), `/ask` with a question, buttons and shortcuts. Pure.
    """
    kind = body.get("type")
    if kind == "event_callback":
        return True
    if kind in EMPTY_ACK_PAYLOADS:
        return True
    if body.get("command") == "/ask" and "ssl_check" not in body:
        return ack_text(str(body.get("text", ""))) is None
    return False


class SlackFront:
    """The handler for `POST /slack/events`."""

    def __init__(
        self,
        bolt: AsyncApp,
        signing_secret: str | None,
        in_flight: InFlight,
        session: aiohttp.ClientSession | None = None,
    ):
        self._bolt = bolt
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._in_flight = in_flight
        self._session = session

    async def handle(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        REQUEST_ID.set(request_id)  # this request's task, and the tasks it starts
        headers = {**request.headers, REQUEST_ID_HEADER: request_id}
        # The span ends with the acknowledgement; the work started for the request (in the
        # tasks it spawns, which copy the context) opens its spans beneath it.
        with span("slack.request", {"hearthbot.request_id": request_id}) as current:
            response = await self._handle(request, headers)
            current.set_attribute("http.response.status_code", response.status)
            return response

    async def _handle(self, request: web.Request, headers: dict[str, str]) -> web.Response:
        try:
            body = decode_body(await request.read())
            if self._verifier is not None and not self._verifier.is_valid(
                body,
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
            ):
                log.warning("request with an invalid signature refused")
                return web.Response(status=401, text="invalid signature")
            parsed = parse_body(body, request.content_type)
        except BadBody as exc:
            log.warning("malformed request refused", extra={"reason": str(exc)})
            return web.Response(status=400, text=f"bad request: {exc}")
        if self._in_flight.draining and parsed.get("type") == "event_callback":
            # Shutting down: an event on a kept-alive connection goes back to Slack, which
            # retries it (on another replica). Commands and shortcuts are never retried
            # by Slack: those are still answered, and the drain waits for them.
            return web.Response(status=503, text="stopping", headers={"Connection": "close"})
        if acknowledged_at_once(parsed):
            # Bolt's own parsing of the request too happens after the acknowledgement.
            response_url = parsed.get("response_url")
            self._in_flight.spawn(
                self._dispatch(
                    _bolt_request(body, request.query_string, headers, parsed),
                    str(parsed.get("type") or "command"),
                    response_url if isinstance(response_url, str) else None,
                )
            )
            return web.Response(status=200)
        bolt_request = _bolt_request(body, request.query_string, headers, parsed)
        bolt_response = await self._bolt.async_dispatch(bolt_request())
        return await to_aiohttp_response(bolt_response)

    async def _tell(self, response_url: str | None) -> None:
        """Tell a slash command's or shortcut's asker that their request was not taken."""
        if response_url is None:
            return
        with contextlib.suppress(ResponseUrlError, *SLACK_FAILURES):
            async with asyncio.timeout(TELL_TIMEOUT_S):
                await post_to_response_url(
                    response_url, self._session, response_type="ephemeral", text=UNREACHABLE_TEXT
                )

    async def _dispatch(
        self,
        bolt_request: Callable[[], AsyncBoltRequest],
        kind: str,
        response_url: str | None,
    ) -> None:
        """Bolt's processing of an acknowledged request. Slack already has its 200, so it
        will not send the request again: a failure inside Bolt before any listener ran (the
        one network call there is the first request's `auth.test`, after slack_sdk's own
        retries) is tried again here, a few times. Events cannot be answered twice: the
        de-duplication claim is made once, by the attempt that reaches the listeners."""
        try:
            for attempt, pause in enumerate((*DISPATCH_RETRY_PAUSES_S, None)):
                response = await self._bolt.async_dispatch(bolt_request())
                # Any refusal of a second attempt is a failure too: Bolt checks the
                # signature's age again (5 minutes), which a late retry may not pass.
                if response.status < (500 if attempt == 0 else 400):
                    break
                log.warning(
                    "Bolt failed on an acknowledged request",
                    extra={"status": response.status, "type": kind, "attempt": attempt + 1},
                )
                if pause is None or self._in_flight.draining:
                    log.error("acknowledged request dropped", extra={"type": kind})
                    await self._tell(response_url)
                    return
                await asyncio.sleep(pause)
        except asyncio.CancelledError:
            # Shutting down before any listener took it: the asker can still be told.
            await asyncio.shield(self._tell(response_url))
            raise
        if response.status >= 400:
            log.warning(
                "Bolt did not handle an acknowledged request",
                extra={"status": response.status, "type": kind},
            )


def _bolt_request(
    body: str, query: str, headers: dict[str, str], parsed: dict[str, Any]
) -> Callable[[], AsyncBoltRequest]:
    """Makes Bolt's request for the body (a new one for each dispatch: Bolt keeps state in
    its context)."""

    def make() -> AsyncBoltRequest:
        request = AsyncBoltRequest(body=body, query=query, headers=headers)  # type: ignore[arg-type]
        if request.body != parsed:
            # Bolt misread a form that mentions "payload" (see `parse_body`).
            request.body = parsed
            request.context = build_async_context(AsyncBoltContext({}), parsed)
        return request

    return make
