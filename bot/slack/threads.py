"""Reading a Slack thread for context (`conversations.replies`)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# How many earlier thread messages are given to the model (the newest ones).
MAX_THREAD_MESSAGES = 30

# Message metadata on every on-prem answer: the thread itself remembers it is confidential,
# whatever happens to Redis (a restart without persistence, eviction, a TTL, a deleted key).
ON_PREM_EVENT_TYPE = "hearthbot_on_prem_answer"


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


async def fetch_thread_messages(
    web: AsyncWebClient, channel_id: str, thread_ts: str
) -> list[dict[str, Any]]:
    """The thread's messages as Slack returns them; an error reading it means none."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        for _ in range(5):  # at most 5 pages of 200
            response = await web.conversations_replies(
                channel=channel_id,
                ts=thread_ts,
                limit=200,
                cursor=cursor,
                include_all_metadata=True,
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
    except SlackApiError as exc:
        log.warning(
            "conversations.replies failed; answering without thread context",
            extra={"channel": channel_id, "slack_error": exc.response.get("error")},
        )
    return messages
