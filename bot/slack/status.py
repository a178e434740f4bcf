"""The "is thinking…" status under a thread (`assistant.threads.setStatus`), best effort.

Slack shows it until the app replies in the thread or two minutes pass. Where Slack refuses
it (an old workspace, a surface without it, a missing scope), the request goes on without
it: a status is a courtesy, never a reason to fail.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.web_clients import SLACK_FAILURES, slack_error

log = logging.getLogger(__name__)

THINKING = "is thinking…"
THINKING_MESSAGES = ("Reading the question…", "Thinking…", "Writing the answer…")
SUMMARISING = "is summarising the email…"
SUMMARISING_MESSAGES = ("Reading the email…", "Summarising…", "Drafting a reply…")
# Slack: at most 10 loading messages, each 1 to 50 characters.
MAX_LOADING_MESSAGES = 10
LOADING_MESSAGE_CHARS = 50


def waiting_text(position: int) -> str:
    """The status while a request waits in line for a model."""
    return f"is waiting for a free model (number {position} in line)…"


@dataclass
class ThreadStatus:
    """The status of one thread; `show` and `clear` never raise."""

    web: AsyncWebClient
    channel: str
    thread_ts: str
    _refused: bool = False
    _shown: str = ""

    async def show(self, status: str, loading: Sequence[str] = ()) -> None:
        """Show `status` (and rotate through `loading` messages) under the thread."""
        if status == self._shown:
            return
        messages = [m[:LOADING_MESSAGE_CHARS] for m in loading if m][:MAX_LOADING_MESSAGES]
        if await self._set(status, messages or None):
            self._shown = status

    async def clear(self) -> None:
        """Remove the status (when no reply came: a reply removes it)."""
        if self._shown and await self._set("", None):
            self._shown = ""

    def replied(self) -> None:
        """The app replied in the thread, which removes the status (Slack's rule): nothing
        left to clear, and no call on the way to the answer's first words."""
        self._shown = ""

    @contextlib.asynccontextmanager
    async def showing(self, status: str, loading: Sequence[str] = ()) -> AsyncIterator[None]:
        """The status shown for the work inside, cleared after it (whatever happens)."""
        try:
            await self.show(status, loading)
            yield
        finally:
            await self.clear()

    async def queued(self, position: int) -> None:
        """A `WaitNotice`: the place in line, as the status."""
        await self.show(waiting_text(position))

    async def _set(self, status: str, loading: list[str] | None) -> bool:
        if self._refused:
            return False
        try:
            await self.web.assistant_threads_setStatus(
                channel_id=self.channel,
                thread_ts=self.thread_ts,
                status=status,
                loading_messages=loading,
            )
        except SLACK_FAILURES as exc:
            log.info("status not shown", extra={"error": slack_error(exc), "channel": self.channel})
            self._refused = True
            return False
        return True
