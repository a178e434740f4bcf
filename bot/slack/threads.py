"""Reading a Slack thread for context (`conversations.replies`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# How many earlier thread messages are given to the model (the newest ones).
MAX_THREAD_MESSAGES = 30

# Message metadata on every on-prem answer: the thread itself remembers it is confidential,
# whatever happens to Redis (a restart without persistence, eviction, a TTL, a deleted key).
ON_PREM_EVENT_TYPE = "hearthbot_on_prem_answer"


# On an /ask heading whose question was not shown: the categories withheld, so that later
# answers in its thread withhold them too (the memory they draw on holds the question).
WITHHELD_EVENT_TYPE = "hearthbot_withheld"


def withheld_metadata(categories: frozenset[str]) -> dict[str, Any] | None:
    """The `metadata` for an /ask heading that withheld these categories."""
    if not categories:
        return None
    return {"event_type": WITHHELD_EVENT_TYPE, "event_payload": {"categories": sorted(categories)}}


def withheld_in(messages: list[dict[str, Any]]) -> frozenset[str]:
    """Every category an /ask heading of the thread withheld."""
    found: set[str] = set()
    for message in messages:
        metadata = message.get("metadata")
        if isinstance(metadata, dict) and metadata.get("event_type") == WITHHELD_EVENT_TYPE:
            payload = metadata.get("event_payload") or {}
            found.update(str(c) for c in payload.get("categories") or [] if isinstance(c, str))
    return frozenset(found)


def on_prem_metadata(confidential: bool) -> dict[str, Any] | None:
    """The `metadata` to post with an answer: set on answers that had to stay on-prem."""
    if not confidential:
        return None
    return {"event_type": ON_PREM_EVENT_TYPE, "event_payload": {"confidential": True}}


def holds_on_prem_answer(messages: list[dict[str, Any]]) -> bool:
    """True when a message of the thread carries the on-prem mark (from any app: a mark can
    only make a thread stricter)."""
    return any(
        isinstance(m.get("metadata"), dict)
        and m["metadata"].get("event_type") == ON_PREM_EVENT_TYPE
        for m in messages
    )


def thread_lines(
    messages: list[dict[str, Any]], *, current_ts: str, bot_user_id: str | None
) -> list[str]:
    """Earlier messages of a thread as `<@user>: text` lines, oldest first.

    The bot's own replies and the questions it answered are already in its memory, so only
    what other people wrote is taken, and never the message being answered.
    """
    lines: list[str] = []
    for message in messages:
        if message.get("ts") == current_ts:
            continue
        if message.get("bot_id") or (bot_user_id and message.get("user") == bot_user_id):
            continue
        if bot_user_id and f"<@{bot_user_id}>" in str(message.get("text", "")):
            continue
        text = str(message.get("text", "")).strip()
        if text:
            lines.append(f"<@{message.get('user', 'unknown')}>: {text}")
    return lines[-MAX_THREAD_MESSAGES:]


@dataclass(frozen=True)
class SlackThread:
    """A thread's messages as Slack returned them, and whether that is all of them."""

    messages: list[dict[str, Any]]
    # False when Slack refused or failed, or the thread is longer than hearthbot reads:
    # its on-prem marks cannot be vouched for, so the request stays on-prem.
    complete: bool

    @property
    def holds_on_prem_answer(self) -> bool:
        """True when a message of the thread carries the on-prem mark."""
        return holds_on_prem_answer(self.messages)

    @property
    def withheld_categories(self) -> frozenset[str]:
        """Categories an /ask heading of the thread withheld."""
        return withheld_in(self.messages)


# conversations.replies returns at most 1,000 messages a page; 10 pages cover any thread
# people keep answering in. A longer one is read as incomplete.
_PAGE_SIZE = 1000
_MAX_PAGES = 10


async def fetch_thread(web: AsyncWebClient, channel_id: str, thread_ts: str) -> SlackThread:
    """The thread's messages with their metadata; never raises."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        for _ in range(_MAX_PAGES):
            response = await web.conversations_replies(
                channel=channel_id,
                ts=thread_ts,
                limit=_PAGE_SIZE,
                cursor=cursor,
                include_all_metadata=True,
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more"):
                return SlackThread(messages, complete=True)
            if not cursor:
                break  # more messages, and no way to ask for them: incomplete
        log.warning(
            "thread longer than hearthbot reads; routed on-prem", extra={"channel": channel_id}
        )
    except Exception as exc:  # any failure moves the request on-prem, never off it
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        log.warning(
            "conversations.replies failed; routed on-prem, without thread context",
            extra={"channel": channel_id, "slack_error": error, "error": type(exc).__name__},
        )
    return SlackThread(messages, complete=False)
