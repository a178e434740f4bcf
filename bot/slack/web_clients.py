"""Slack clients that ride out rate limits and Slack's own hiccups.

slack_sdk retries only connection errors by default, so one HTTP 429 on chat.postMessage
lost an answer. Every client the app makes gets slack_sdk's retry handlers: rate limits
(waiting as long as Slack's `Retry-After` says), server errors (500/503) and connection
errors. Bolt copies the app client's handlers into the client it builds for each request;
response URLs get a webhook client with the same handlers (Bolt's own `respond` has none
and does not check the status).

Every client shares one aiohttp session (`slack_session`): without one slack_sdk opens a
session and a TCP connection per call, which cost most of a request's CPU time under load.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler, RetryState
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import metrics

log = logging.getLogger(__name__)

# A burst of answers in one channel meets chat.postMessage's limit of about one message a
# second per channel: Slack says how long to wait, and up to this many waits are taken.
RATE_LIMIT_RETRIES = 8
SERVER_ERROR_RETRIES = 3
CONNECTION_RETRIES = 3
# Seconds to wait for one Slack HTTP call (slack_sdk's default is 30).
CALL_TIMEOUT_S = 30


# What a Slack call can fail with once slack_sdk's retries are spent.
SLACK_FAILURES = (SlackApiError, aiohttp.ClientError, OSError, TimeoutError)


def slack_error(exc: BaseException) -> str:
    """The error code of a failed Slack call (`channel_not_found`, `ratelimited`…), or the
    exception's name. Safe on any failure: after a 5xx Slack's body is HTML, not JSON."""
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", None)
    return f"http_{status}" if status else type(exc).__name__


def slack_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed Slack call, when there was one."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return int(status) if isinstance(status, int) else None


class ResponseUrlError(Exception):
    """A response URL refused a message after every retry."""


class _Counted:
    """Counts each retry a slack_sdk handler decides on (`hearthbot_slack_api_retries`)."""

    cause = ""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        metrics.SLACK_RETRIES.labels(metrics.slack_method(request.url), self.cause).inc()
        await super().prepare_for_next_attempt_async(  # type: ignore[misc]
            state=state, request=request, response=response, error=error
        )


class _ConnectionRetries(_Counted, AsyncConnectionErrorRetryHandler):
    cause = "connection"


class _RateLimitRetries(_Counted, AsyncRateLimitErrorRetryHandler):
    cause = "rate_limited"


class _ServerErrorRetries(_Counted, AsyncServerErrorRetryHandler):
    cause = "server_error"


def retry_handlers() -> list[AsyncRetryHandler]:
    """A fresh set of slack_sdk's retry handlers (each retry counted)."""
    return [
        _ConnectionRetries(max_retry_count=CONNECTION_RETRIES),
        _RateLimitRetries(max_retry_count=RATE_LIMIT_RETRIES),
        _ServerErrorRetries(max_retry_count=SERVER_ERROR_RETRIES),
    ]


def slack_session() -> aiohttp.ClientSession:
    """The connection pool every Slack call goes through (Web API and response URLs).

    No cap on connections: aiohttp's default of 100 makes call 101 wait for a free
    connection, and that wait counts against the call's timeout. `CALL_TIMEOUT_S` is the
    whole call's limit (slack_sdk uses the session's timeout when given a session).
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
        connector=aiohttp.TCPConnector(limit=0),
        trace_configs=[metrics.slack_trace_config()],
    )


def web_client(token: str | None, base_url: str, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The app's Web API client (Bolt copies its session and retry handlers into the client
    it builds for each request)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=CALL_TIMEOUT_S,
        retry_handlers=retry_handlers(),
        session=session,
    )


async def post_to_response_url(
    url: str, session: aiohttp.ClientSession | None, **message: Any
) -> None:
    """Post to a slash command's or shortcut's `response_url`, with retries; raises
    `ResponseUrlError` when Slack does not accept the message."""
    client = AsyncWebhookClient(
        url, timeout=CALL_TIMEOUT_S, retry_handlers=retry_handlers(), session=session
    )
    response = await client.send_dict({k: v for k, v in message.items() if v is not None})
    if response.status_code != 200:
        raise ResponseUrlError(f"HTTP {response.status_code}")
