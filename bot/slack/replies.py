"""Answering a question in a Slack thread, shared by mentions, DMs and `/ask`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import AnswerService, Question
from bot.memory import ConversationKey
from bot.slack.answer_delivery import deliver
from bot.slack.app_home import HomeFacts
from bot.slack.channels import ChannelDirectory
from bot.slack.command_text import parse_ask_text, strip_mention
from bot.slack.delivery import Asker, Reply, ReplyGuard
from bot.slack.email_requests import EmailFinder
from bot.slack.formatting import USAGE_TEXT
from bot.slack.status import THINKING, THINKING_MESSAGES, ThreadStatus
from bot.slack.threads import SlackThread, fetch_thread, thread_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackDeps:
    """What the Slack listeners need from the rest of the app."""

    answers: AnswerService
    channels: ChannelDirectory
    emails: EmailFinder
    guard: ReplyGuard
    home: HomeFacts


def installation_team(context_team: str | None, payload_team: object) -> str:
    """The workspace hearthbot is installed in, which names the conversation in memory.

    Not `event["team"]`: in a Slack Connect channel that is the *sender's* organisation, so
    two people in one thread would get two memories and two confidential marks. Bolt's
    `context.team_id` comes from the event's authorizations, i.e. the installation.
    """
    return str(context_team or payload_team or "")


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
    reply = Reply(web, channel_id, reply_thread_ts)
    asker = Asker(team_id, channel_id, memory_thread, str(event.get("user")))
    # The status first: reading the channel, the thread and any file takes time.
    status = ThreadStatus(web, channel_id, reply_thread_ts or str(event["ts"]))
    entry = "dm" if channel_id.startswith("D") else "mention"
    async with deps.guard.watch(reply, asker, "answering a message", entry=entry):
        await deps.guard.admit(asker)
        async with status.showing(THINKING, THINKING_MESSAGES):
            await _answer_message(
                deps, reply, event=event, body=body, bot_user_id=bot_user_id, asker=asker,
                status=status,
            )  # fmt: skip


async def _answer_message(
    deps: SlackDeps,
    reply: Reply,
    *,
    event: dict[str, Any],
    body: dict[str, Any],
    bot_user_id: str | None,
    asker: Asker,
    status: ThreadStatus,
) -> None:
    channel_id = reply.channel_id
    web = reply.web
    parsed = parse_ask_text(strip_mention(str(event.get("text", "")), bot_user_id))
    files = event.get("files") or []
    if parsed.wants_help and not files:
        await reply.post(text=USAGE_TEXT)
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
        conversation=ConversationKey(asker.team, channel_id, asker.thread),
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
    request = await deps.emails.find(
        web,
        text=parsed.question,
        files=files,
        thread=thread_messages,
        current_ts=str(event["ts"]),
    )
    if request is not None:
        question = replace(
            question, text=request.instruction, uncertain_input=request.email.uncertain
        )
    await deliver(
        deps.answers, reply, question, email=request.email if request else None, status=status
    )
