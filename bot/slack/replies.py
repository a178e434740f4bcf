"""Answering a question in a Slack thread, shared by mentions, DMs and `/ask`."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer, AnswerService, Question
from bot.customer_email.parse import ParsedEmail
from bot.memory import ConversationKey
from bot.routing.sensitive import SensitiveDetector
from bot.slack.channels import ChannelDirectory
from bot.slack.command_text import parse_ask_text, strip_mention
from bot.slack.email_requests import EmailFinder, FileReadError
from bot.slack.formatting import USAGE_TEXT, answer_blocks, notification_text, summary_blocks
from bot.slack.threads import SlackThread, fetch_thread, on_prem_metadata, thread_lines
from bot.slack.withholding import withhold_summary, withhold_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackDeps:
    """What the Slack listeners need from the rest of the app."""

    answers: AnswerService
    channels: ChannelDirectory
    emails: EmailFinder


def installation_team(context_team: str | None, payload_team: object) -> str:
    """The workspace hearthbot is installed in, which names the conversation in memory.

    Not `event["team"]`: in a Slack Connect channel that is the *sender's* organisation, so
    two people in one thread would get two memories and two confidential marks. Bolt's
    `context.team_id` comes from the event's authorizations, i.e. the installation.
    """
    return str(context_team or payload_team or "")


def error_reference() -> str:
    """A short code that ties the sentence a user sees to the log line with the details."""
    return secrets.token_hex(4)


def error_text(reference: str) -> str:
    """The short human sentence a user sees when answering failed."""
    return (
        "Sorry, something went wrong while I was answering. "
        f"An admin can find the details in hearthbot's log (reference `{reference}`)."
    )


async def produce(
    deps: SlackDeps, question: Question, *, email: ParsedEmail | None, heading: str | None
) -> tuple[Answer, list[dict[str, Any]]]:
    """The answer (or the email's summary) and its Block Kit rendering."""
    if email is not None:
        answer = await deps.answers.summarize_email(question, email)
    else:
        answer = await deps.answers.answer(question)
    if question.withheld or question.withheld_values:
        answer = await asyncio.to_thread(_withhold, deps.answers.detector, answer, question)
    if email is not None:
        return answer, summary_blocks(answer)
    return answer, answer_blocks(answer, heading=heading)


def _withhold(detector: SensitiveDetector, answer: Answer, question: Question) -> Answer:
    categories, values = question.withheld, question.withheld_values
    summary = answer.summary
    return replace(
        answer,
        text=withhold_text(detector, answer.text, categories, values),
        summary=withhold_summary(detector, summary, categories, values) if summary else None,
    )


async def answer_in_thread(
    deps: SlackDeps,
    web: AsyncWebClient,
    question: Question,
    *,
    channel_id: str,
    thread_ts: str | None,
    heading: str | None = None,
    email: ParsedEmail | None = None,
) -> Answer | None:
    """Answer (or summarise `email`) and post it in `thread_ts`, or at top level when None.

    Any failure is logged with a reference and reported to the user as one sentence.
    """
    try:
        answer, blocks = await produce(deps, question, email=email, heading=heading)
        await web.chat_postMessage(
            channel=channel_id,
            thread_ts=thread_ts,
            text=notification_text(answer),
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata=on_prem_metadata(answer.decision.confidential),
        )
        return answer
    except Exception as exc:
        reference = error_reference()
        log.exception(
            "answering failed",
            extra={"reference": reference, "channel": channel_id, "error": type(exc).__name__},
        )
        try:
            await web.chat_postMessage(
                channel=channel_id, thread_ts=thread_ts, text=error_text(reference)
            )
        except SlackApiError:
            log.warning("could not report the failure in Slack", extra={"reference": reference})
        return None


async def answer_message_event(
    deps: SlackDeps,
    web: AsyncWebClient,
    *,
    event: dict[str, Any],
    body: dict[str, Any],
    bot_user_id: str | None,
    team_id: str,
    reply_thread_ts: str | None,
    memory_thread: str,
) -> None:
    """Answer a person's message (a mention or a DM) that passed the prefilter: summarise the
    customer email it holds or points to, or answer it."""
    channel_id = str(event["channel"])
    parsed = parse_ask_text(strip_mention(str(event.get("text", "")), bot_user_id))
    files = event.get("files") or []
    if parsed.wants_help and not files:
        await web.chat_postMessage(channel=channel_id, thread_ts=reply_thread_ts, text=USAGE_TEXT)
        return
    facts = await deps.channels.facts(
        web,
        channel_id,
        event=event,
        ext_shared_hint=bool(body.get("is_ext_shared_channel")),
    )
    thread = SlackThread([], complete=True)
    if event.get("thread_ts"):
        thread = await fetch_thread(web, channel_id, str(event["thread_ts"]))
    thread_messages = thread.messages
    question = Question(
        conversation=ConversationKey(team_id, channel_id, memory_thread),
        facts=facts,
        user_id=str(event["user"]),
        text=parsed.question,
        force_local=parsed.force_local,
        thread=tuple(
            thread_lines(thread_messages, current_ts=str(event["ts"]), bot_user_id=bot_user_id)
        ),
        sticky=thread.holds_on_prem_answer,
        thread_unreadable=not thread.complete,
        # An /ask whose text was withheld started this thread: every answer in it is too.
        withheld=thread.withheld_categories,
    )
    try:
        request = await deps.emails.find(
            web,
            text=parsed.question,
            files=files,
            thread=thread_messages,
            current_ts=str(event["ts"]),
        )
    except FileReadError as exc:
        await web.chat_postMessage(
            channel=channel_id,
            thread_ts=reply_thread_ts,
            text=f"I could not read that file: {exc}.",
        )
        return
    except Exception as exc:  # a parser or network failure is one sentence, never silence
        reference = error_reference()
        log.exception(
            "reading the email failed", extra={"reference": reference, "error": type(exc).__name__}
        )
        await web.chat_postMessage(
            channel=channel_id, thread_ts=reply_thread_ts, text=error_text(reference)
        )
        return
    if request is not None:
        question = replace(
            question, text=request.instruction, uncertain_input=request.email.uncertain
        )
    await answer_in_thread(
        deps,
        web,
        question,
        channel_id=channel_id,
        thread_ts=reply_thread_ts,
        email=request.email if request else None,
    )
