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
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Stopped
from bot.slack.delivery import Undelivered, post_message
from bot.slack.markdown import FenceTracker, cut_point, outside_fence_line, split_markdown
from bot.slack.web_clients import SLACK_FAILURES, slack_error, slack_status

log = logging.getLogger(__name__)

# Markdown per message: Slack takes 12,000 per call and, in practice, about as much per
# message (block containers count too); a margin keeps every message well inside.
MESSAGE_CHARS = 10_000
# Below this much room, a message is finished and the answer goes on in a new one (cutting
# text into a sliver would split a word).
MIN_ROOM = 200
# Room kept for closing a code block the cut falls in (a newline and its marker).
CLOSER_ROOM = 2 + 32
# chat.update's `text` holds 4,000 characters.
UPDATE_TEXT_CHARS = 4000
FLUSH_INTERVAL_S = 1.0
# A batch this large is sent without waiting for the interval.
FLUSH_CHARS = 2000
# Waits for Slack's Retry-After when the answer is complete (never while the model writes).
MAX_RATE_LIMIT_WAIT_S = 30.0
FINISH_ATTEMPTS = 3
# How long stopping an abandoned stream may take (an answer that failed or was cut off).
ABANDON_TIMEOUT_S = 5.0
# The most `finish` waits for Slack's rate limits in all, before posting the rest instead,
# and the most it spends streaming in all (a Slack that hangs included).
FINISH_WAIT_BUDGET_S = 15.0
FINISH_STREAMING_BUDGET_S = 30.0
# One stream call's timeout: they are small, and a hung one must not hold the answer.
STREAM_CALL_TIMEOUT_S = 10
STOPPED_BY_USER = "stopped_by_user"


def _retry_after(exc: BaseException) -> float:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or 1
    try:
        return min(float(value), MAX_RATE_LIMIT_WAIT_S)
    except (TypeError, ValueError):
        return 1.0


def streaming_client(web: AsyncWebClient) -> AsyncWebClient:
    """`web` with no retry handlers: a stream call is not idempotent (an append retried
    after a lost answer is appended twice, a start retried makes two messages), and a rate
    limit is handled here (post instead, send later) rather than waited out while the model
    writes. A failed call ends streaming; the rest of the answer is posted.

    It shares `web`'s connections; `STREAM_CALL_TIMEOUT_S` is applied around each call
    (slack_sdk takes a shared session's timeout, which is longer)."""
    return AsyncWebClient(
        token=web.token,
        base_url=web.base_url,
        timeout=STREAM_CALL_TIMEOUT_S,
        retry_handlers=[],
        team_id=getattr(web, "team_id", None),
        session=web.session,
    )


class _RateLimited(Exception):
    """Slack asked to wait before the next stream call."""


@dataclass
class _Message:
    ts: str
    fences: FenceTracker
    text: str = ""  # the Markdown it shows


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
    _stream_web: AsyncWebClient | None = None
    _not_before: float = 0.0  # Slack asked us to wait (Retry-After) until then
    _mid_line: bool = False  # the text sent so far ends inside a line
    _wait_budget: float = FINISH_WAIT_BUDGET_S  # seconds `finish` may still wait

    @property
    def _streamer(self) -> AsyncWebClient:
        if self._stream_web is None:
            self._stream_web = streaming_client(self.web)
        return self._stream_web

    async def write(self, markdown: str) -> None:
        """More publishable Markdown; sent when a batch is due. Never waits for Slack's rate
        limits (the model is still writing). Raises `Stopped` once the asker stopped it."""
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
                    await self._step(wait=False)
            except _RateLimited:
                pass  # the text waits for a later batch
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
        with chat.stopStream (a short answer is one chat.startStream and one stopStream).
        Slack's rate limits are waited out here, a few times, then the rest is posted."""
        self._pending += markdown
        try:
            async with asyncio.timeout(FINISH_STREAMING_BUDGET_S):
                if await self._finish_streaming(footer, metadata):
                    return
        except TimeoutError:
            log.warning("stream took too long to finish; posting the rest")
            self._streaming = False
        await self._post_rest(footer, notification, metadata)

    async def _finish_streaming(
        self, footer: list[dict[str, Any]], metadata: dict[str, Any] | None
    ) -> bool:
        """`finish` while streaming works: True once the footer is on the last message."""
        last = ""
        waits = 0
        while self._streaming and not self._stopped:
            if (
                self._message is not None
                and len(self._pending) <= self._room()
                and self._room() >= MIN_ROOM
            ):
                last, self._pending = self._pending, ""
                break  # goes with chat.stopStream
            try:
                await self._step(wait=True)
            except _RateLimited:
                waits += 1
                pause = max(0.0, self._not_before - self.clock())
                if waits > FINISH_ATTEMPTS or pause > self._wait_budget:
                    self._end_quietly()
                    break
                self._wait_budget -= pause
                await asyncio.sleep(pause)
                continue
            if not self._pending and self._message is not None:
                break
        if self._streaming and not self._stopped and self._message is not None:
            try:
                await self._stop(self._message, last or None, footer, metadata, wait=True)
                self._message.text += last
                return True
            except (*SLACK_FAILURES, _RateLimited) as exc:
                self._ended(exc, "chat.stopStream")
            except BaseException:
                # Cut short (the finishing budget): whether Slack took the last text is
                # unknown, so it is posted again rather than risked lost.
                self._pending = last + self._pending
                self._streaming = False
                self._message = None
                raise
        self._pending = last + self._pending
        return False

    async def abandon(self, metadata: dict[str, Any] | None) -> None:
        """The answer failed part-way: stop the open stream, so the message does not show as
        still being written until Slack expires it (best effort, bounded), with `metadata`
        (the on-prem mark: what was shown may be confidential)."""
        message, self._message = self._message, None
        if message is None or self._stopped:
            return  # nothing streamed, or the reader stopped it
        self._streaming = False
        fence = message.fences.fence
        with contextlib.suppress(*SLACK_FAILURES, TimeoutError, _RateLimited):
            async with asyncio.timeout(ABANDON_TIMEOUT_S):
                await self._stop(
                    message, f"\n{fence.closer}" if fence else None, None, metadata, wait=False
                )

    # Streaming -----------------------------------------------------------------------

    def _room(self) -> int:
        return MESSAGE_CHARS - (len(self._message.text) if self._message else 0)

    async def _step(self, *, wait: bool) -> None:
        """One stream call: finish a full message, or send what fits into the open (or a
        new) message. Raises `_RateLimited`."""
        if self._message is not None and self._room() < MIN_ROOM:
            await self._roll_over(wait=wait)
            return
        text = self._take_room()
        if self._message is None:
            await self._start(text)
        elif text:
            await self._append(self._message, text)
        if self._streaming and self._pending and self._message is not None:
            await self._roll_over(wait=wait)  # what did not fit goes in a new message

    def _take_room(self) -> str:
        """The part of the pending text that fits the open message, cut where it reads well;
        a code block the cut falls in is closed, and reopened in the text that follows."""
        room = self._room()
        if len(self._pending) <= room:
            text, self._pending = self._pending, ""
            return text
        limit = room - CLOSER_ROOM
        cut = outside_fence_line(self._pending, cut_point(self._pending, limit), 0, limit)
        text, self._pending = self._pending[:cut], self._pending[cut:]
        fences = self._message.fences.copy() if self._message else self._new_tracker()
        fences.feed(text)
        if fences.fence is not None:
            text = text.rstrip("\n") + "\n" + fences.fence.closer + "\n"
            self._pending = fences.fence.line + "\n" + self._pending.removeprefix("\n")
        return text

    def _new_tracker(self) -> FenceTracker:
        return FenceTracker(mid_line=self._mid_line)

    def _sent(self, message: _Message, text: str) -> None:
        message.text += text
        message.fences.feed(text)
        if text:
            self._mid_line = not text.endswith("\n")

    async def _start(self, text: str) -> None:
        try:
            async with asyncio.timeout(STREAM_CALL_TIMEOUT_S):
                response = await self._streamer.chat_startStream(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    recipient_user_id=self.recipient_user_id,
                    recipient_team_id=self.recipient_team_id,
                    markdown_text=text or None,
                )
        except SLACK_FAILURES as exc:
            # Refused here (a surface or workspace without streaming, a rate limit, an
            # outage): the answer is posted instead, nothing lost.
            log.info(
                "streaming refused; posting instead",
                extra={"error": slack_error(exc), "channel": self.channel},
            )
            self._streaming = False
            self._pending = text + self._pending
            return
        message = _Message(str(response["ts"]), self._new_tracker())
        self._sent(message, text)
        self._message = message

    async def _append(self, message: _Message, text: str) -> None:
        try:
            async with asyncio.timeout(STREAM_CALL_TIMEOUT_S):
                await self._streamer.chat_appendStream(
                    channel=self.channel, ts=message.ts, markdown_text=text
                )
        except SLACK_FAILURES as exc:
            self._pending = text + self._pending
            if slack_status(exc) == 429:
                # Appends share a workspace-wide budget: this text waits for a later batch.
                self._not_before = self.clock() + _retry_after(exc)
                raise _RateLimited from exc
            self._ended(exc, "chat.appendStream")
            return
        self._sent(message, text)

    async def _roll_over(self, *, wait: bool) -> None:
        """The open message is full: stop it (no footer; its code block closed) and go on in
        a new one (the code block reopened)."""
        message = self._message
        assert message is not None
        fence = message.fences.fence
        closer = f"\n{fence.closer}\n" if fence is not None else None
        try:
            await self._stop(message, closer, None, None, wait=wait)
        except SLACK_FAILURES as exc:
            self._ended(exc, "chat.stopStream")
            return
        self._message = None
        if fence is not None:
            self._sent(message, closer or "")
            self._pending = fence.line + "\n" + self._pending.removeprefix("\n")
            self._mid_line = False

    async def _stop(
        self,
        message: _Message,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        *,
        wait: bool,
    ) -> None:
        """chat.stopStream. Rate-limited: raises `_RateLimited` while the model writes
        (`wait` False); once it is done, waits out `Retry-After` a few times."""
        for attempt in range(FINISH_ATTEMPTS):
            try:
                async with asyncio.timeout(STREAM_CALL_TIMEOUT_S):
                    await self._streamer.chat_stopStream(
                        channel=self.channel,
                        ts=message.ts,
                        markdown_text=text,
                        blocks=blocks,
                        metadata=metadata,
                    )
                return
            except SlackApiError as exc:
                if slack_status(exc) != 429 or attempt == FINISH_ATTEMPTS - 1:
                    raise
                pause = _retry_after(exc)
                self._not_before = self.clock() + pause
                if not wait or pause > self._wait_budget:
                    raise _RateLimited from exc
                self._wait_budget -= pause
                await asyncio.sleep(pause)

    async def _close_open_stream(self, message: _Message) -> None:
        """Streaming failed part-way and the stream may still be open (a 500, a timeout):
        stopping it keeps the message from showing as being written until Slack expires it.
        A few quick attempts (a 500 is often brief), no rate-limit waits; an expired stream
        refuses at once."""
        fence = message.fences.fence
        closer = f"\n{fence.closer}\n" if fence is not None else None
        for attempt in range(FINISH_ATTEMPTS):
            try:
                await self._stop(message, closer, None, None, wait=False)
                return
            except _RateLimited:
                return
            except SLACK_FAILURES as exc:
                status = slack_status(exc)
                if status is not None and status < 500:
                    return  # Slack answered: the stream is not open any more
            if attempt < FINISH_ATTEMPTS - 1:
                await asyncio.sleep(0.5)

    def _end_quietly(self) -> None:
        """Streaming gives up here (Slack kept asking to wait): the rest is posted."""
        log.warning("stream kept rate-limited; posting the rest", extra={"channel": self.channel})
        self._streaming = False

    def _ended(self, exc: BaseException, method: str) -> None:
        """Slack ended streaming here: by the asker's hand, on expiry, or by a failure."""
        error = slack_error(exc)
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
        if self._message is not None and not self._stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ABANDON_TIMEOUT_S):
                    await self._close_open_stream(self._message)
            fence = self._message.fences.fence
            if fence is not None and rest.strip():
                # The streamed message ends inside a code block: the rest opens it again.
                rest = fence.line + "\n" + rest.removeprefix("\n")
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
                extra={"error": slack_error(exc), "channel": self.channel},
            )
            return False
        return True

    async def _post(self, **message: Any) -> None:
        try:
            await post_message(
                self.web,
                self.channel,
                self.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **message,
            )
        except SLACK_FAILURES as exc:
            raise Undelivered(slack_error(exc)) from exc
