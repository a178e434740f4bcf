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


# auth.test, retries included: well inside the 5 minutes within which Bolt still accepts
# the request's signature when the front dispatches it again.
IDENTITY_TIMEOUT_S = 10


class SlackUnreachable(Exception):
    """Slack did not confirm the bot's identity (an outage, a timeout): try again later."""


class TokenRejected(Exception):
    """Slack refused the bot token; the message is Slack's error code."""


class BotIdentity:
    """The bot's `auth.test` result, fetched once."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._result: AuthorizeResult | None = None
        self._asking: asyncio.Task[AuthorizeResult] | None = None

    @property
    def known(self) -> bool:
        return self._result is not None

    async def load(self) -> AuthorizeResult:
        """The identity, asking Slack if it is not known yet. Raises `TokenRejected` or
        `SlackUnreachable`. Requests that arrive while Slack is being asked share that one
        call and its outcome (they do not queue up behind each other's failures)."""
        if self._result is not None:
            return self._result
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask())
            # Retrieved here too, should every waiter have gone (no "never retrieved").
            self._asking.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Shielded: one waiter cancelled (a shutdown) does not cancel the others' call.
        return await asyncio.shield(self._asking)

    async def _ask(self) -> AuthorizeResult:
        try:
            async with asyncio.timeout(IDENTITY_TIMEOUT_S):
                response = await self._client.auth_test()
        except SlackApiError as exc:
            if slack_error(exc) in REJECTED_TOKEN:
                raise TokenRejected(slack_error(exc)) from exc
            raise SlackUnreachable(slack_error(exc)) from exc
        except (*SLACK_FAILURES, Exception) as exc:
            # Also what slack_sdk raises on a body that is not Slack's JSON (a proxy's
            # page, a wrong SLACK_API_URL).
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
