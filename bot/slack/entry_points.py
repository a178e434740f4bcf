"""Every Slack entry point (one module each), registered on a Bolt app."""

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
from bot.slack.request_ids import request_id_middleware


def register(app: AsyncApp, deps: SlackDeps, dedup: EventDeduplicator) -> None:
    """Name each request (for the logs), de-duplicate retried events, then register every
    entry point."""
    app.use(request_id_middleware)
    app.use(dedup.middleware)
    channel_events.register(app, deps)
    ask_command.register(app, deps)
    mentions.register(app, deps)
    direct_messages.register(app, deps)
    email_shortcut.register(app, deps)
    feedback.register(app, deps.answers.audit)
    app_home.register(app, deps.home, deps.answers.audit)
