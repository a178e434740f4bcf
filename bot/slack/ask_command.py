"""The `/ask` slash command.

Acknowledged at once (Slack allows 3 s), then the question is posted in the channel and
answered in its thread, so people can continue there by mentioning the bot. Where the bot
cannot post (a DM between two people, a channel it is not in), the answer goes through the
command's `response_url` instead. `/ask summarize <email>`, or a pasted email, gets a
structured summary; the email itself is not echoed into the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Question
from bot.cpu_work import cpu_work
from bot.memory import ConversationKey
from bot.routing.decision import describe_categories
from bot.slack.answer_delivery import deliver
from bot.slack.command_text import parse_ask_text
from bot.slack.delivery import Asker, Reply
from bot.slack.email_requests import EmailRequest, email_in_text, summary_command_rest
from bot.slack.formatting import USAGE_TEXT, inert_user_text, quote
from bot.slack.replies import SlackDeps
from bot.slack.threads import withheld_metadata
from bot.slack.web_clients import slack_error

log = logging.getLogger(__name__)

# chat.postMessage errors that mean "the bot cannot post here"; the response_url still works.
CANNOT_POST = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "restricted_action", "missing_scope"}
)
SUMMARY_USAGE = "Paste the customer email after `/ask summarize` and I will summarise it."


def asked_heading(
    user_id: str, text: str, email: EmailRequest | None, sensitive: Sequence[str] = ()
) -> str:
    """The line that shows who asked what. A slash command's text is private until the bot
    posts it, so neither a pasted email nor a question holding sensitive data is echoed."""
    if email is not None:
        return f"*<@{user_id}> asked for a summary of a customer email*"
    if sensitive:
        return (
            f"*<@{user_id}> asked a confidential question* "
            f"(not shown: it holds {describe_categories(sensitive)})"
        )
    return f"*<@{user_id}> asked:*\n{quote(inert_user_text(text))}"


def ack_text(text: str) -> str | None:
    """What `/ask <text>` is acknowledged with: usage when there is no question (Slack shows
    it to the asker alone), else nothing (the answer follows). Pure: the acknowledging
    front asks it too, to know which commands it can acknowledge without Bolt."""
    parsed = parse_ask_text(text)
    rest = summary_command_rest(parsed.question)
    if rest is not None and not rest.strip():
        return SUMMARY_USAGE
    if parsed.wants_help:
        return USAGE_TEXT
    return None


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Handle `/ask`."""

    @app.command("/ask")
    async def on_ask(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        text = str(command.get("text", ""))
        usage = ack_text(text)
        if usage is not None:
            await ack(text=usage)
            return
        await ack()
        parsed = parse_ask_text(text)
        channel_id = str(command["channel_id"])
        reply = Reply(client, channel_id, response_url=command.get("response_url"))
        asker = Asker(
            str(command["team_id"]),
            channel_id,
            f"command-{command.get('trigger_id')}",
            str(command["user_id"]),
        )
        async with deps.guard.watch(reply, asker, "/ask", entry="ask"):
            await deps.guard.admit(asker)
            # Recognising an email and scanning the text are CPU work on up to 40,000
            # characters: a long text off the event loop, so other requests do not wait.
            email = await cpu_work(len(parsed.question), email_in_text, parsed.question)
            await _answer_in_channel(
                deps, reply, command, parsed.question, parsed.force_local, email
            )


async def _answer_in_channel(
    deps: SlackDeps,
    reply: Reply,
    command: dict[str, Any],
    text: str,
    force_local: bool,
    email: EmailRequest | None,
) -> None:
    client = reply.web
    team_id = str(command["team_id"])
    channel_id = str(command["channel_id"])
    user_id = str(command["user_id"])
    facts = await deps.channels.facts(client, channel_id)
    # Decided before anything is posted: what the question holds is never echoed.
    private_text = email.email.as_prompt_text() if email is not None else text
    detector = deps.answers.detector
    values, withheld = await cpu_work(
        detector.scan_work([private_text], cached=False),
        detector.values_and_categories,
        private_text,
    )
    heading = asked_heading(user_id, text, email, sorted(withheld))
    try:
        posted = await client.chat_postMessage(
            channel=channel_id,
            text=heading,
            unfurl_links=False,
            unfurl_media=False,
            metadata=withheld_metadata(withheld),
        )
        reply.thread_ts = str(posted["ts"])
    except SlackApiError as exc:
        if slack_error(exc) not in CANNOT_POST:
            raise
        # A DM between two people, or a channel the bot is not in: the response URL posts
        # the heading and the answer together.
        reply.via_response_url = True
    # Where there is no thread to continue in, each command is its own conversation.
    conversation_thread = reply.thread_ts or f"command-{command.get('trigger_id')}"
    question = Question(
        conversation=ConversationKey(team_id, channel_id, conversation_thread),
        facts=facts,
        user_id=user_id,
        text=email.instruction if email else text,
        force_local=force_local,
        withheld=withheld,
        withheld_values=tuple(values),
    )
    await deliver(
        deps.answers,
        reply,
        question,
        heading=heading if reply.via_response_url else None,
        email=email.email if email else None,
    )
