"""`@hearthbot` mentions: answered in the thread, with the thread as context. A mention at
top level starts a thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.prefilter import check_message_event
from bot.slack.replies import SlackDeps, answer_message_event, installation_team

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Answer `app_mention` events."""

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        verdict = check_message_event(event, context.bot_user_id)
        if not verdict.accepted:
            log.debug("mention dropped", extra={"reason": verdict.reason})
            return
        thread_ts = str(event.get("thread_ts") or event["ts"])
        await answer_message_event(
            deps,
            client,
            event=event,
            body=body,
            bot_user_id=context.bot_user_id,
            team_id=installation_team(context.team_id, body.get("team_id")),
            reply_thread_ts=thread_ts,
            memory_thread=thread_ts,
        )
