"""The message shortcut "Summarize customer email" (callback `summarize_email`): summarises
the message it was used on (its text, or its `.eml` / text file), in that message's thread."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Question
from bot.customer_email.parse import parse_pasted
from bot.memory import ConversationKey
from bot.slack.answer_delivery import deliver
from bot.slack.delivery import Asker, Reply
from bot.slack.email_requests import EmailRequest
from bot.slack.replies import SlackDeps, installation_team
from bot.slack.status import SUMMARISING, SUMMARISING_MESSAGES, ThreadStatus
from bot.slack.threads import fetch_thread

log = logging.getLogger(__name__)

CALLBACK_ID = "summarize_email"
INSTRUCTION = "Summarize this customer email."


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Handle the `summarize_email` message shortcut."""

    @app.message_shortcut(CALLBACK_ID)
    async def on_shortcut(
        ack: AsyncAck,
        shortcut: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel_id = str((shortcut.get("channel") or {}).get("id"))
        team_id = installation_team(context.team_id, (shortcut.get("team") or {}).get("id"))
        thread_ts = str(message.get("thread_ts") or message.get("ts"))
        user_id = str((shortcut.get("user") or {}).get("id"))
        reply = Reply(
            client,
            channel_id,
            thread_ts,
            response_url=shortcut.get("response_url"),
            tell_privately=True,
        )
        asker = Asker(team_id, channel_id, thread_ts, user_id)
        status = ThreadStatus(client, channel_id, thread_ts)
        async with deps.guard.watch(reply, asker, "the email shortcut", entry="email_shortcut"):
            await deps.guard.admit(asker)
            async with status.showing(SUMMARISING, SUMMARISING_MESSAGES):
                await _summarize(deps, reply, message, team_id, user_id, status)


async def _summarize(
    deps: SlackDeps,
    reply: Reply,
    message: dict[str, Any],
    team_id: str,
    user_id: str,
    status: ThreadStatus,
) -> None:
    client, channel_id = reply.web, reply.channel_id
    thread_ts = str(reply.thread_ts)
    request = await deps.emails.from_files(client, message.get("files") or [], INSTRUCTION)
    text = str(message.get("text", "")).strip()
    if request is None and text:
        request = EmailRequest(INSTRUCTION, await asyncio.to_thread(parse_pasted, text))
    if request is None:
        await reply.tell("That message has no text or email file to summarise.")
        return
    facts = await deps.channels.facts(client, channel_id)
    # The thread may already hold on-prem answers: its marks keep the summary on-prem.
    thread = await fetch_thread(client, channel_id, thread_ts)
    question = Question(
        conversation=ConversationKey(team_id, channel_id, thread_ts),
        facts=facts,
        user_id=user_id,
        text=request.instruction,
        uncertain_input=request.email.uncertain,
        sticky=thread.holds_on_prem_answer,
        thread_unreadable=not thread.complete,
        withheld=thread.withheld_categories,
    )
    await deliver(deps.answers, reply, question, email=request.email, status=status)
