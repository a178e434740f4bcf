"""One answer delivered into a Slack thread as it is written, whatever Slack does to it.

Text is streamed with `chat.startStream` / `chat.appendStream` / `chat.stopStream`, in
buffered batches (at most one call per `FLUSH_INTERVAL_S`, or sooner when a batch is large:
appendStream is Tier 4 and start/stop Tier 2, shared by every answer in a workspace). Each
message holds at most `MESSAGE_CHARS` of Markdown; a longer answer continues in a new
message of the same thread, cut where `split_markdown` would cut it (a code block is closed
and reopened). The last message ends with the footer: the context line, the feedback buttons
and the on-prem mark (metadata).

What Slack may do instead, and what happens then (nothing written is lost):
- streaming refused at the start (`channel_type_not_supported`, `not_allowed`, a missing
  scope, an old workspace…): the answer is posted whole with `chat.postMessage`, in as many
  messages as it needs;
- the stream ends under us (expired after about five minutes, `message_not_in_streaming_state`,
  `message_not_found`): the message keeps what it shows, is finished with `chat.update`,
  and the rest of the answer follows in new messages;
- the asker presses stop (`stopped_by_user`): `Stopped` is raised to the writer, so the model
  call is cancelled; the message is finished with its footer.

slack_sdk's `AsyncChatStream` makes the same three calls, but keeps unsent text private
after a failure and knows nothing of message limits; this module needs both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Stopped
from bot.slack.delivery import Undelivered, post_message
from bot.slack.markdown import Fence, cut_point, open_fence, split_markdown

log = logging.getLogger(__name__)

# Markdown per message: Slack takes 12,000 per call and, in practice, about as much per
# message (block containers count too); a margin keeps every message well inside.
MESSAGE_CHARS = 10_000
# chat.update's `text` holds 4,000 characters.
UPDATE_TEXT_CHARS = 4000
FLUSH_INTERVAL_S = 1.0
# A batch this large is sent without waiting for the interval.
FLUSH_CHARS = 2000

# Waits for Slack's Retry-After on the calls that must get through (stopping a stream).
MAX_RATE_LIMIT_WAIT_S = 30.0
STOP_ATTEMPTS = 3
STOPPED_BY_USER = "stopped_by_user"
# What a Slack call can fail with once slack_sdk's retries are spent.
SLACK_FAILURES = (SlackApiError, aiohttp.ClientError, OSError, TimeoutError)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


def _error_status(exc: BaseException) -> int | None:
    if isinstance(exc, SlackApiError):
        return int(getattr(exc.response, "status_code", 0) or 0)
    return None


def _retry_after(exc: BaseException) -> float:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or 1
    try:
        return min(float(value), MAX_RATE_LIMIT_WAIT_S)
    except (TypeError, ValueError):
        return 1.0


def streaming_client(web: AsyncWebClient) -> AsyncWebClient:
    """`web` without its rate-limit retries: a rate-limited stream call is handled here
    (post instead, send later) rather than waited out while the answer piles up."""
    handlers = [h for h in web.retry_handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return AsyncWebClient(
        token=web.token,
        base_url=web.base_url,
        timeout=web.timeout,
        retry_handlers=handlers,
        team_id=getattr(web, "team_id", None),
    )


class _RateLimited(Exception):
    """Slack asked to wait before the next append."""


@dataclass
class _Message:
    ts: str
    text: str = ""  # the Markdown it shows
    fence: Fence | None = None  # the code block its text ends inside


@dataclass
class AnswerStream:
    """Streams one answer into a thread; see the module docstring."""

    web: AsyncWebClient
    channel: str
    thread_ts: str
    # Who the stream is for: required by Slack when streaming to a channel.
    recipient_user_id: str
    recipient_team_id: str
    clock: Callable[[], float] = time.monotonic
    _pending: str = ""
    _message: _Message | None = None
    _last_flush: float = field(default=0.0)
    _streaming: bool = True  # False once Slack refused or ended streaming here
    _stopped: bool = False
    _posted: list[str] = field(default_factory=list)  # ts of every message of the answer
    _stream_web: AsyncWebClient | None = None
    _not_before: float = 0.0  # Slack asked us to wait (Retry-After) until then

    @property
    def _streamer(self) -> AsyncWebClient:
        if self._stream_web is None:
            self._stream_web = streaming_client(self.web)
        return self._stream_web

    @property
    def messages(self) -> list[str]:
        """The ts of every message the answer is in, in order."""
        return list(self._posted)

    async def write(self, markdown: str) -> None:
        """More publishable Markdown; sent when a batch is due. Raises `Stopped` once the
        asker stopped the stream."""
        if self._stopped:
            raise Stopped
        self._pending += markdown
        if not self._streaming or not self._pending.strip():
            return
        now = self.clock()
        if now < self._not_before:
            return
        if now - self._last_flush >= FLUSH_INTERVAL_S or len(self._pending) >= FLUSH_CHARS:
            self._last_flush = now
            try:
                while self._streaming and self._pending:
                    await self._send(self._take_room())
                    if self._streaming and self._pending:
                        await self._roll_over()  # the open message is full
            except _RateLimited:
                pass  # the text waits for the next batch
            if self._stopped:
                raise Stopped

    async def finish(
        self,
        markdown: str,
        footer: list[dict[str, Any]],
        notification: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        """The rest of the answer, then the footer on its last message: the last text goes
        with chat.stopStream (a short answer is one chat.startStream and one stopStream)."""
        self._pending += markdown
        text = ""
        waits = 0
        while self._streaming and not self._stopped:
            text = self._take_room()
            if not self._pending and self._message is not None:
                break  # `text` goes with chat.stopStream
            try:
                await self._send(text)
            except _RateLimited:
                waits += 1
                if waits > STOP_ATTEMPTS:
                    self._streaming = False
                    break
                await asyncio.sleep(max(0.0, self._not_before - self.clock()))
                continue
            text = ""
            if not self._streaming or not self._pending:
                break
            await self._roll_over()
        if self._streaming and not self._stopped and self._message is not None:
            try:
                await self._stop(self._message, text or None, footer, metadata)
                self._message.text += text
                return
            except SLACK_FAILURES as exc:
                self._ended(exc, "chat.stopStream")
        self._pending = text + self._pending
        await self._post_rest(footer, notification, metadata)

    # Streaming -----------------------------------------------------------------------

    def _take_room(self) -> str:
        """The part of the pending text that fits the open message, cut where it reads well;
        when the open message fills up, its open code block is closed (and reopened in the
        text that goes on in the next message)."""
        used = len(self._message.text) if self._message else 0
        fence = self._message.fence if self._message else None
        room = MESSAGE_CHARS - used
        if len(self._pending) <= room:
            text, self._pending = self._pending, ""
            return text
        cut = cut_point(self._pending, max(room - 1 - 40, 1))
        text, self._pending = self._pending[:cut], self._pending[cut:]
        inside = open_fence(text, fence)
        if inside is not None:
            text = text.rstrip("\n") + "\n" + inside.closer + "\n"
            self._pending = inside.line + "\n" + self._pending.removeprefix("\n")
        return text

    async def _send(self, text: str) -> None:
        """`text` into the open message, or a new one. Raises `_RateLimited`."""
        if self._message is None:
            await self._start(text)
        elif text:
            await self._append(self._message, text)

    async def _start(self, text: str) -> None:
        try:
            response = await self._streamer.chat_startStream(
                channel=self.channel,
                thread_ts=self.thread_ts,
                recipient_user_id=self.recipient_user_id,
                recipient_team_id=self.recipient_team_id,
                markdown_text=text or None,
            )
        except SLACK_FAILURES as exc:
            # Refused here (a surface or workspace without streaming, a rate limit): the
            # answer is posted instead, nothing lost.
            log.info(
                "streaming refused; posting instead",
                extra={"error": _error_code(exc), "channel": self.channel},
            )
            self._streaming = False
            self._pending = text + self._pending
            return
        ts = str(response["ts"])
        self._message = _Message(ts, text, open_fence(text))
        self._posted.append(ts)

    async def _append(self, message: _Message, text: str) -> None:
        try:
            await self._streamer.chat_appendStream(
                channel=self.channel, ts=message.ts, markdown_text=text
            )
        except SLACK_FAILURES as exc:
            self._pending = text + self._pending
            if _error_status(exc) == 429:
                # Appends share a workspace-wide budget: this text waits for a later batch.
                self._not_before = self.clock() + _retry_after(exc)
                raise _RateLimited from exc
            self._ended(exc, "chat.appendStream")
            return
        message.text += text
        message.fence = open_fence(text, message.fence)

    async def _roll_over(self) -> None:
        """The open message is full: stop it (no footer) and go on in a new one."""
        assert self._message is not None
        try:
            await self._stop(self._message, None, None, None)
        except SLACK_FAILURES as exc:
            self._ended(exc, "chat.stopStream")
            return
        self._message = None

    async def _stop(
        self,
        message: _Message,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        """chat.stopStream, waiting out Slack's rate limit a few times: a message left
        streaming shows as unfinished until Slack expires it."""
        for attempt in range(STOP_ATTEMPTS):
            try:
                await self._streamer.chat_stopStream(
                    channel=self.channel,
                    ts=message.ts,
                    markdown_text=text,
                    blocks=blocks,
                    metadata=metadata,
                )
                return
            except SlackApiError as exc:
                if _error_status(exc) != 429 or attempt == STOP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(_retry_after(exc))

    def _ended(self, exc: BaseException, method: str) -> None:
        """Slack ended streaming here: by the asker's hand, on expiry, or by a failure."""
        error = _error_code(exc)
        self._streaming = False
        if error == STOPPED_BY_USER:
            self._stopped = True
            log.info("answer stopped by the asker", extra={"channel": self.channel})
        else:
            log.warning(
                "stream ended by Slack; finishing without it",
                extra={"method": method, "error": error, "channel": self.channel},
            )

    # Without streaming -----------------------------------------------------------------

    async def _post_rest(
        self, footer: list[dict[str, Any]], notification: str, metadata: dict[str, Any] | None
    ) -> None:
        """Everything not streamed, in new messages; the footer on the last one (or on the
        last streamed message, with chat.update, when nothing is left to post)."""
        rest, self._pending = self._pending, ""
        if self._stopped:
            rest = ""  # the asker asked for no more
        if (
            not rest.strip()
            and self._message is not None
            and await self._finish_streamed(self._message, footer, notification, metadata)
        ):
            return
        pieces = split_markdown(rest, MESSAGE_CHARS) if rest.strip() else []
        for piece in pieces[:-1]:
            await self._post(markdown_text=piece)
        last = pieces[-1] if pieces else ""
        body = [{"type": "markdown", "text": last}] if last else []
        await self._post(
            text=notification[:UPDATE_TEXT_CHARS],
            blocks=body + footer,
            metadata=metadata,
        )

    async def _finish_streamed(
        self, message: _Message, footer: list[dict[str, Any]], notification: str,
        metadata: dict[str, Any] | None,
    ) -> bool:  # fmt: skip
        """A streamed message that Slack ended, finished with its footer by chat.update."""
        try:
            await self.web.chat_update(
                channel=self.channel,
                ts=message.ts,
                text=notification[:UPDATE_TEXT_CHARS],
                blocks=[{"type": "markdown", "text": message.text}, *footer],
                metadata=metadata,
            )
        except SLACK_FAILURES as exc:
            log.warning(
                "could not finish a streamed message",
                extra={"error": _error_code(exc), "channel": self.channel},
            )
            return False
        return True

    async def _post(self, **message: Any) -> None:
        try:
            ts = await post_message(
                self.web,
                self.channel,
                self.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **message,
            )
        except SLACK_FAILURES as exc:
            raise Undelivered(_error_code(exc)) from exc
        self._posted.append(ts)
