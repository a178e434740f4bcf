"""Channel changes that alter routing: a channel made private or public, shared with
another organisation (Slack Connect) or unshared, renamed (for `#name` rules), archived or
deleted. Each one drops the cached facts about the channel, so the next request reads them
again from Slack instead of routing on stale ones for up to CHANNEL_CACHE_TTL_S."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.replies import SlackDeps

log = logging.getLogger(__name__)

CHANGE_EVENTS = (
    "channel_shared",
    "channel_unshared",
    "channel_rename",
    "channel_archive",
    "channel_unarchive",
    "channel_deleted",
    "channel_id_changed",
    "channel_left",
    "group_rename",
    "group_archive",
    "group_unarchive",
    "group_deleted",
    "group_open",
    "group_close",
    "group_left",
)
# Conversions arrive as message events with these subtypes.
CONVERSION_SUBTYPES = ("channel_convert_to_private", "channel_convert_to_public")


def changed_channels(event: dict[str, Any]) -> list[str]:
    """The IDs of the channels an event changes (`channel` is an ID or, for renames, an
    object; an ID change names the old and the new one). Pure."""
    ids: list[str] = []
    channel = event.get("channel")
    if isinstance(channel, dict):
        channel = channel.get("id")
    for value in (channel, event.get("old_channel_id"), event.get("new_channel_id")):
        if isinstance(value, str) and value and value not in ids:
            ids.append(value)
    return ids


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Invalidate cached channel facts on every change event. Registered before the DM
    listener, which would otherwise take the conversion messages (Bolt runs the first
    listener that matches)."""

    async def on_change(event: dict[str, Any]) -> None:
        channels = changed_channels(event)
        for channel_id in channels:
            await deps.channels.forget(channel_id)
        log.info(
            "channel changed; cached facts dropped",
            extra={"event": event.get("subtype") or event.get("type"), "channels": channels},
        )

    for name in CHANGE_EVENTS:
        app.event(name)(on_change)
    for subtype in CONVERSION_SUBTYPES:
        app.event({"type": "message", "subtype": subtype})(on_change)
