"""Direct messages to the bot: each answered in its thread; threads keep context."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app_home import set_title
from bot.slack.prefilter import check_message_event
from bot.slack.replies import SlackDeps, answer_message_event, installation_team

log = logging.getLogger(__name__)

# The memory key of a DM's top level, where there is no thread.
DM_TOP_LEVEL = "dm-top-level"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Answer `message.im` events."""

    @app.event("message")
    async def on_message(
        event: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        if event.get("channel_type") != "im":
            return  # in channels the bot answers only when mentioned
        verdict = check_message_event(event, context.bot_user_id)
        if not verdict.accepted:
            log.debug("DM dropped", extra={"reason": verdict.reason})
            return
        thread_ts = event.get("thread_ts")
        answering = answer_message_event(
            deps,
            client,
            event=event,
            body=body,
            bot_user_id=context.bot_user_id,
            team_id=installation_team(context.team_id, body.get("team_id")),
            # Answers are replies (Slack streams only into threads): a message at the top
            # level gets its answer in its own thread; the memory stays the DM's.
            reply_thread_ts=str(thread_ts or event["ts"]),
            memory_thread=str(thread_ts or DM_TOP_LEVEL),
        )
        if thread_ts:
            await answering
            return
        # A new conversation in the Messages tab: its thread is titled by its question,
        # beside the answer (a courtesy, not worth a wait).
        title = set_title(client, str(event["channel"]), str(event["ts"]), str(event["text"]))
        await asyncio.gather(title, answering)
