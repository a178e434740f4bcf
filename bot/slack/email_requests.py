"""Finding the customer email a request is about: pasted after `/ask summarize`, pasted in
a message, shared as a file, or earlier in the thread."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.cpu_work import cpu_work
from bot.customer_email.detect import asks_for_summary, looks_like_email
from bot.customer_email.parse import EmailReadError, ParsedEmail, parse_pasted
from bot.customer_email.worker import EmailFileParser
from bot.slack.files import FileReader, FileReadError, is_email_file

log = logging.getLogger(__name__)

SUMMARY_COMMAND = re.compile(r"(?i)^\s*(?:summari[sz]e|summary)\b[:\s]*")


@dataclass(frozen=True)
class EmailRequest:
    """An email to summarise, and what the user said about it."""

    instruction: str
    email: ParsedEmail


def summary_command_rest(text: str) -> str | None:
    """The text after a leading `summarize` (None when the text does not start with it)."""
    m = SUMMARY_COMMAND.match(text)
    return text[m.end() :] if m else None


# "summarize <text>": the text is the email when it is one, or has several lines, or is long;
# "summarise the email above" is an instruction.
_MIN_ONE_LINE_EMAIL = 200


def _pasted_after_command(rest: str) -> bool:
    body = rest.strip()
    return looks_like_email(body) or "\n" in body or len(body) >= _MIN_ONE_LINE_EMAIL


def email_in_text(text: str) -> EmailRequest | None:
    """An email pasted in `text`, with the instruction written above it, if any. Pure."""
    rest = summary_command_rest(text)
    if rest is not None and _pasted_after_command(rest):
        return EmailRequest("Summarize this customer email.", parse_pasted(rest))
    if not looks_like_email(text):
        return None
    first, _, body = text.partition("\n")
    if body.strip() and asks_for_summary(first) and not looks_like_email(first):
        return EmailRequest(first.strip(), parse_pasted(body))
    return EmailRequest("", parse_pasted(text))


class EmailFinder:
    """Looks for the email a Slack message refers to."""

    def __init__(self, files: FileReader, parser: EmailFileParser) -> None:
        self._files = files
        self._parser = parser

    async def from_files(
        self, web: AsyncWebClient, files: Sequence[dict[str, Any]], instruction: str
    ) -> EmailRequest | None:
        """The first shared file that is an email (or text)."""
        for file in files:
            if not is_email_file(file):
                continue
            name, content = await self._files.read(web, file)
            try:
                email = await self._parser.parse_file(name, content)
            except EmailReadError as exc:
                raise FileReadError(f"it could not be read safely: {exc}") from None
            return EmailRequest(instruction, email)
        return None

    async def find(
        self,
        web: AsyncWebClient,
        *,
        text: str,
        files: Sequence[dict[str, Any]],
        thread: Sequence[dict[str, Any]],
        current_ts: str,
    ) -> EmailRequest | None:
        """The email in this message, in its files, or (when the message asks for a summary)
        the newest email in the thread. Raises FileReadError when a file cannot be read."""
        found = await cpu_work(len(text), email_in_text, text)  # a long text off the loop
        if found is not None:
            return found
        found = await self.from_files(web, files, text)
        if found is not None or not asks_for_summary(text):
            return found
        # Recognising emails is CPU work (up to 60 ms for a 40,000-character message):
        # the search runs off the event loop, over the newest messages only.
        message = await asyncio.to_thread(newest_email_message, thread, current_ts)
        if message is None:
            return None
        found = await self.from_files(web, message.get("files") or [], text)
        if found is not None:
            return found
        return EmailRequest(text, await asyncio.to_thread(parse_pasted, str(message["text"])))


# How far back in a thread "summarise the email above" looks.
MAX_THREAD_MESSAGES_SEARCHED = 100


def newest_email_message(
    thread: Sequence[dict[str, Any]], current_ts: str
) -> dict[str, Any] | None:
    """The newest earlier message of the thread that shares an email file or is a pasted
    email (not the bot's own). Pure."""
    searched = 0
    for index in range(len(thread) - 1, -1, -1):
        message: dict[str, Any] = thread[index]
        if message.get("ts") == current_ts:
            continue
        searched += 1
        if searched > MAX_THREAD_MESSAGES_SEARCHED:
            return None
        if any(is_email_file(f) for f in message.get("files") or []):
            return message
        if not message.get("bot_id") and looks_like_email(str(message.get("text", ""))):
            return message
    return None


__all__ = ["EmailFinder", "EmailRequest", "FileReadError", "email_in_text", "summary_command_rest"]
