"""Who the bot is in Slack (`auth.test`), learned once at start-up and handed to Bolt as its
`authorize` function.

Bolt's built-in single-workspace authorization calls `auth.test` on every request until one
succeeds. Since the front acknowledges requests before Bolt runs (`front.py`), a failure
there could no longer make Slack send the request again, so:
- `hearthbot serve` learns the identity before it takes requests, and refuses to start with
  a token Slack rejects;
- if Slack could not be reached then, the identity is fetched on the next request, and a
  failure is raised as `SlackUnreachable` (not a Slack API error, which Bolt would turn into
  an acknowledgement with a message): Bolt answers 500 and the front dispatches the request
  again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.web_clients import SLACK_FAILURES, slack_error

log = logging.getLogger(__name__)

# auth.test errors that no retry will cure: the token is wrong, revoked or its app removed.
REJECTED_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
     "no_permission", "missing_scope", "team_access_not_granted"}
)  # fmt: skip


class SlackUnreachable(Exception):
    """Slack did not confirm the bot's identity (an outage, a timeout): try again later."""


class TokenRejected(Exception):
    """Slack refused the bot token; the message is Slack's error code."""


class BotIdentity:
    """The bot's `auth.test` result, fetched once."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._result: AuthorizeResult | None = None
        self._lock = asyncio.Lock()

    @property
    def known(self) -> bool:
        return self._result is not None

    async def load(self) -> AuthorizeResult:
        """The identity, asking Slack if it is not known yet. Raises `TokenRejected` or
        `SlackUnreachable`."""
        if self._result is not None:
            return self._result
        async with self._lock:  # one auth.test at a time, however many requests wait
            if self._result is None:
                try:
                    response = await self._client.auth_test()
                except SlackApiError as exc:
                    if slack_error(exc) in REJECTED_TOKEN:
                        raise TokenRejected(slack_error(exc)) from exc
                    raise SlackUnreachable(slack_error(exc)) from exc
                except SLACK_FAILURES as exc:
                    raise SlackUnreachable(slack_error(exc)) from exc
                self._result = AuthorizeResult.from_auth_test_response(
                    auth_test_response=response, bot_token=self._client.token
                )
                log.info(
                    "Slack identity confirmed",
                    extra={"team": self._result.team_id, "bot_user": self._result.bot_user_id},
                )
        return self._result

    @property
    def authorize(self) -> Callable[[], Awaitable[AuthorizeResult]]:
        """Bolt's `authorize`: this bot, in the one workspace it is installed in. A plain
        function: Bolt passes the arguments a function names, and would take a bound
        method's `self` for one."""

        async def authorize() -> AuthorizeResult:
            try:
                return await self.load()
            except TokenRejected as exc:
                # Nothing can be answered with this token: raised so Bolt answers 500 and it
                # is logged, rather than acknowledged as if handled.
                raise SlackUnreachable(f"token rejected: {exc}") from exc

        return authorize
