"""Where one request's answer goes, and the guarantee that every request ends in a reply.

Every entry point runs its work inside `reply_guard`: whatever fails (the memory store, a
model, a file download, Slack itself), the asker gets the answer or one sentence, the log
gets the details under a reference, and the audit trail gets a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.answers import AnswerFailed, CannotAnswer, Outcome, failure_record
from bot.audit import AuditLog
from bot.in_flight import InFlight
from bot.rate_limits import RequestLimits
from bot.slack.files import FileReadError
from bot.slack.markdown import split_markdown
from bot.slack.web_clients import ResponseUrlError, post_to_response_url, slack_error

log = logging.getLogger(__name__)

QUEUED_TEXT = (
    "⏳ Many questions are being answered right now; yours is number {position} in line "
    "and will be answered as soon as a model is free."
)


def error_reference() -> str:
    """A short code that ties the sentence a user sees to the log line with the details."""
    return secrets.token_hex(4)


def error_text(reference: str) -> str:
    """The short human sentence a user sees when answering failed."""
    return (
        "Sorry, something went wrong while I was answering. "
        f"An admin can find the details in hearthbot's log (reference `{reference}`)."
    )


class Undelivered(Exception):
    """Slack did not take an answer (after every retry)."""


# Errors about a message's shape, not about where it goes: the same words, as plain text of
# at most PLAIN_TEXT_CHARS a message, are posted instead, so no limit Slack applies (and no
# limit it changes) ever costs the asker the answer.
SHAPE_ERRORS = frozenset(
    {"msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format",
     "markdown_text_conflict", "msg_too_long"}
)  # fmt: skip
PLAIN_TEXT_CHARS = 39_000


def plain_text(message: dict[str, Any]) -> str:
    """Every word a message shows: its Markdown, its blocks' text, or its text."""
    if message.get("markdown_text"):
        return str(message["markdown_text"])
    parts: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "markdown":
            parts.append(str(block.get("text", "")))
        elif kind == "header":
            parts.append(f"*{(block.get('text') or {}).get('text', '')}*")
        elif kind == "section":
            parts.append(str((block.get("text") or {}).get("text", "")))
            parts += [str(f.get("text", "")) for f in block.get("fields") or []]
        elif kind == "context":
            parts.append("  ".join(str(e.get("text", "")) for e in block.get("elements") or []))
    return "\n\n".join(p for p in parts if p) or str(message.get("text", ""))


async def post_message(
    web: AsyncWebClient, channel: str, thread_ts: str | None, **message: Any
) -> str:
    """chat.postMessage (returns the ts of the last message posted); a message whose shape
    Slack refuses is posted again as plain text. Raises `SlackApiError` otherwise."""
    try:
        response = await web.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)
        return str(response["ts"])
    except SlackApiError as exc:
        if slack_error(exc) not in SHAPE_ERRORS or not (
            message.get("blocks") or message.get("markdown_text")
        ):
            raise
        log.warning(
            "Slack refused the message's shape; posting it as plain text",
            extra={"error": slack_error(exc), "channel": channel},
        )
    pieces = split_markdown(plain_text(message), PLAIN_TEXT_CHARS) or [""]
    ts = ""
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        response = await web.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=piece or "…",
            unfurl_links=False,
            unfurl_media=False,
            metadata=message.get("metadata") if last else None,
        )
        ts = str(response["ts"])
    return ts


@dataclass
class Reply:
    """Where to answer one request: a channel and thread, and (for slash commands and
    shortcuts) the response URL that reaches the asker when the bot cannot post."""

    web: AsyncWebClient
    channel_id: str
    thread_ts: str | None = None
    response_url: str | None = None
    # Slash commands answered through their response URL (the bot cannot post there).
    via_response_url: bool = False
    # Sentences go to the asker alone (through the response URL) when it can take them.
    tell_privately: bool = False

    async def post(self, **message: Any) -> None:
        """Post a message where this request is answered; raises `Undelivered`."""
        try:
            if self.via_response_url and self.response_url:
                message.pop("metadata", None)
                await post_to_response_url(
                    self.response_url, self.web.session, response_type="in_channel", **message
                )
            else:
                await post_message(self.web, self.channel_id, self.thread_ts, **message)
        except (SlackApiError, ResponseUrlError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise Undelivered(type(exc).__name__) from exc

    async def tell(self, text: str) -> bool:
        """One sentence for the asker. A slash command's or shortcut's sentence goes to the
        asker alone (its response URL) when nothing public was posted for it yet or when
        asked to; otherwise where the answer would go; each falls back to the other. False
        when neither took it."""
        message: dict[str, Any] = {"text": text, "unfurl_links": False, "unfurl_media": False}
        private_first = self.response_url is not None and (
            self.thread_ts is None or self.tell_privately or self.via_response_url
        )
        ways = [self._privately, self._publicly]
        for way in ways if private_first else reversed(ways):
            if await way(message):
                return True
        log.warning("could not tell the asker", extra={"channel": self.channel_id})
        return False

    async def _publicly(self, message: dict[str, Any]) -> bool:
        if self.via_response_url:
            return False  # only the answer goes to the channel through the response URL
        try:
            await self.post(**message)
        except Undelivered:
            return False
        return True

    async def _privately(self, message: dict[str, Any]) -> bool:
        if self.response_url is None:
            return False
        try:
            await post_to_response_url(
                self.response_url, self.web.session, response_type="ephemeral", **message
            )
        except (ResponseUrlError, aiohttp.ClientError, OSError, TimeoutError):
            return False
        return True

    async def queued(self, position: int) -> None:
        """Tell the asker their request waits in line (best effort)."""
        await self.tell(QUEUED_TEXT.format(position=position))


@dataclass(frozen=True)
class Asker:
    """Who asked, and where, for the audit record of a request that failed."""

    team: str
    channel: str
    thread: str
    user: str


RESTARTED_TEXT = (
    "hearthbot was restarted while answering your question and could not finish. Please ask again."
)
# How long a cut-off answer may take to tell its asker so.
LAST_WORD_TIMEOUT_S = 5


@dataclass(frozen=True)
class ReplyGuard:
    """Runs each request's work so that it ends in a reply, and counts it as in progress."""

    audit: AuditLog
    in_flight: InFlight
    limits: RequestLimits | None = None

    async def admit(self, asker: Asker) -> None:
        """Count the request against its asker's and its channel's limits; raises
        `CannotAnswer` with the polite sentence (and writes the audit record) when over one.
        First thing in `watch`'s body, before anything is posted."""
        if self.limits is None:
            return
        started = time.monotonic()
        refusal = await self.limits.check(asker.team, asker.user, asker.channel)
        if refusal is None:
            return
        log.info("request over its rate limit", extra={"scope": refusal.scope})
        metrics.RATE_LIMITED.labels(refusal.scope).inc()
        await _record(self.audit, asker, Outcome.LIMITED, refusal.reason, started)
        raise CannotAnswer(refusal.text(), Outcome.LIMITED)

    @contextlib.asynccontextmanager
    async def watch(
        self, reply: Reply, asker: Asker, what: str, *, entry: str
    ) -> AsyncIterator[None]:
        """Turn any failure of the body into a sentence for the asker and an audit record.
        `entry` names the entry point in the metrics (ask, mention, dm, email_shortcut)."""
        started = time.monotonic()
        metrics.REQUESTS.labels(entry).inc()
        audit = self.audit
        with self.in_flight.track():
            try:
                yield
            except CannotAnswer as exc:  # already in the audit trail
                await reply.tell(exc.text)
            except FileReadError as exc:
                await _record(audit, asker, Outcome.ERROR, "file_unreadable", started)
                await reply.tell(f"I could not read that file: {exc}.")
            except Undelivered as exc:
                reference = error_reference()
                log.error(
                    "Slack did not take the answer",
                    extra={"reference": reference, "what": what, "error": str(exc)},
                )
                await _record(audit, asker, Outcome.UNDELIVERED, "slack_refused", started)
                await reply.tell(error_text(reference))
            except asyncio.CancelledError:
                # Shutdown's deadline passed: the asker hears so, instead of nothing.
                log.warning("answer cut off by shutdown", extra={"what": what})
                task = asyncio.current_task()
                if task is not None:
                    # Accept the cancellation for these last words (aiohttp's timeouts read
                    # a pending cancellation as their own), then pass it on.
                    task.uncancel()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(LAST_WORD_TIMEOUT_S):
                        await reply.tell(RESTARTED_TEXT)
                        await _record(audit, asker, Outcome.ERROR, "shutdown", started)
                raise
            except Exception as exc:
                reference = error_reference()
                log.exception(
                    f"{what} failed", extra={"reference": reference, "error": type(exc).__name__}
                )
                if not isinstance(exc, AnswerFailed):  # AnswerService recorded those itself
                    await _record(
                        audit, asker, Outcome.ERROR, f"error:{type(exc).__name__}", started
                    )
                await reply.tell(error_text(reference))


async def _record(
    audit: AuditLog, asker: Asker, outcome: Outcome, reason: str, started: float
) -> None:
    await audit.record(
        failure_record(
            team=asker.team,
            channel=asker.channel,
            thread=asker.thread,
            user=asker.user,
            outcome=outcome,
            reason=reason,
            started=started,
        )
    )
