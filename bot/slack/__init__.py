"""Slack adapters: one module per entry point, registered on a Bolt app here."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack import (
    app_home,
    ask_command,
    channel_events,
    direct_messages,
    email_shortcut,
    feedback,
    mentions,
)
from bot.slack.dedup import EventDeduplicator
from bot.slack.replies import SlackDeps


def register(app: AsyncApp, deps: SlackDeps, dedup: EventDeduplicator) -> None:
    """De-duplicate retried events, then register every entry point."""
    app.use(dedup.middleware)
    channel_events.register(app, deps)
    ask_command.register(app, deps)
    mentions.register(app, deps)
    direct_messages.register(app, deps)
    email_shortcut.register(app, deps)
    feedback.register(app, deps.answers.audit)
    app_home.register(app, deps.home, deps.answers.audit)
