"""The `/ask` slash command.

Acknowledged at once (Slack allows 3 s), then the question is posted in the channel and
answered in its thread, so people can continue there by mentioning the bot. Where the bot
cannot post (a DM between two people, a channel it is not in), the answer goes through the
command's `response_url` instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Question
from bot.memory import ConversationKey
from bot.routing.channel import ChannelFacts
from bot.slack.command_text import parse_ask_text
from bot.slack.formatting import USAGE_TEXT, answer_blocks, notification_text, quote
from bot.slack.replies import SlackDeps, answer_in_thread, error_reference, error_text

log = logging.getLogger(__name__)

# chat.postMessage errors that mean "the bot cannot post here"; the response_url still works.
CANNOT_POST = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "restricted_action", "missing_scope"}
)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Handle `/ask`."""

    @app.command("/ask")
    async def on_ask(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        parsed = parse_ask_text(str(command.get("text", "")))
        if parsed.wants_help:
            await ack(text=USAGE_TEXT)
            return
        await ack()
        try:
            await _answer_in_channel(
                deps, client, respond, command, parsed.question, parsed.force_local
            )
        except Exception as exc:
            reference = error_reference()
            log.exception(
                "/ask failed", extra={"reference": reference, "error": type(exc).__name__}
            )
            await respond(response_type="ephemeral", text=error_text(reference))


async def _answer_in_channel(
    deps: SlackDeps,
    client: AsyncWebClient,
    respond: AsyncRespond,
    command: dict[str, Any],
    text: str,
    force_local: bool,
) -> None:
    team_id = str(command["team_id"])
    channel_id = str(command["channel_id"])
    user_id = str(command["user_id"])
    facts = await deps.channels.facts(client, team_id, channel_id)
    try:
        posted = await client.chat_postMessage(
            channel=channel_id,
            text=asked_heading(user_id, text),
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in CANNOT_POST:
            raise
        await _answer_by_response_url(deps, respond, command, text, force_local, facts)
        return
    thread_ts = str(posted["ts"])
    question = Question(
        conversation=ConversationKey(team_id, channel_id, thread_ts),
        facts=facts,
        user_id=user_id,
        text=text,
        force_local=force_local,
    )
    await answer_in_thread(deps, client, question, channel_id=channel_id, thread_ts=thread_ts)


def asked_heading(user_id: str, text: str) -> str:
    """The line that shows who asked what."""
    return f"*<@{user_id}> asked:*\n{quote(text)}"


async def _answer_by_response_url(
    deps: SlackDeps,
    respond: AsyncRespond,
    command: dict[str, Any],
    text: str,
    force_local: bool,
    facts: ChannelFacts,
) -> None:
    user_id = str(command["user_id"])
    question = Question(
        # No thread exists to continue in: each such command is its own conversation.
        conversation=ConversationKey(
            str(command["team_id"]),
            str(command["channel_id"]),
            f"command-{command.get('trigger_id')}",
        ),
        facts=facts,
        user_id=user_id,
        text=text,
        force_local=force_local,
    )
    answer = await deps.answers.answer(question)
    await respond(
        response_type="in_channel",
        text=notification_text(answer),
        blocks=answer_blocks(answer, heading=asked_heading(user_id, text)),
    )
