"""The one place where incoming message events are accepted or dropped, with the reason. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Subtypes that are still a person writing a new message; every other subtype (edits,
# deletions, bot messages, joins, topic changes, ...) is dropped.
ACCEPTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


@dataclass(frozen=True)
class Verdict:
    """Whether to answer an event, and why not."""

    accepted: bool
    reason: str


def check_message_event(event: dict[str, Any], bot_user_id: str | None) -> Verdict:
    """Decide whether a `message` or `app_mention` event is a person asking the bot."""
    if event.get("subtype") not in ACCEPTED_SUBTYPES:
        return Verdict(False, f"subtype:{event.get('subtype')}")
    if event.get("bot_id") or event.get("bot_profile"):
        return Verdict(False, "bot_message")
    user = event.get("user")
    if not user:
        return Verdict(False, "no_user")
    if bot_user_id and user == bot_user_id:
        return Verdict(False, "own_message")
    if not str(event.get("text", "")).strip() and not event.get("files"):
        return Verdict(False, "empty_text")
    return Verdict(True, "accepted")
