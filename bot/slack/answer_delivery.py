"""Delivering one request's answer to Slack: the module every entry point answers through.

- In a thread the bot can post in: a status at once ("is thinking…"), then the answer
  streamed as the model writes it (`streaming.AnswerStream`); an email summary shows
  "is summarising…" and is posted once validated, as Block Kit split over as many messages
  as Slack's limits need.
- Where the bot cannot post (a DM between two people, a channel it is not in): the
  slash command's response URL, which cannot stream or take Markdown: "working on it…" to
  the asker first, then the answer converted to mrkdwn.
Every answer ends with its context line, the feedback buttons and, when it had to stay
on-prem, the thread's on-prem mark. Model text is always made inert, and anything the asker
wrote privately withheld, before it leaves (`Publication`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from bot.answers import Answer, AnswerService, Outcome, Question
from bot.customer_email.parse import ParsedEmail
from bot.routing.sensitive import SensitiveDetector
from bot.routing.sensitive.normalize import normalize
from bot.slack.delivery import Reply, Undelivered
from bot.slack.feedback import feedback_block
from bot.slack.formatting import (
    context_block,
    context_line,
    message_parts,
    notification_of,
    notification_text,
    section_blocks,
    summary_blocks,
)
from bot.slack.markdown import inert_markdown, split_markdown
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.publication import Publication
from bot.slack.status import (
    SUMMARISING,
    SUMMARISING_MESSAGES,
    THINKING,
    THINKING_MESSAGES,
    ThreadStatus,
)
from bot.slack.streaming import AnswerStream
from bot.slack.threads import on_prem_metadata
from bot.slack.web_clients import ResponseUrlError, post_to_response_url
from bot.slack.withholding import withhold_summary, withhold_text

log = logging.getLogger(__name__)

WORKING_TEXT = "⏳ Working on it…"
# A response URL takes 40,000 characters of `text`; one part stays below that.
RESPONSE_TEXT_CHARS = 39_000
# Below this, a response-URL answer goes in one message of sections with its footer.
RESPONSE_BLOCKS_CHARS = 9000
# The outcomes whose text is the model's; the others' is a sentence of ours.
_MODEL_WROTE = (Outcome.ANSWERED, Outcome.FALLBACK, Outcome.STOPPED)


def footer(answer: Answer, question: Question) -> list[dict[str, Any]]:
    """What ends every answer: the context line (with notes) and the feedback buttons."""
    return [context_block(answer), feedback_block(answer, question.facts.kind.value)]


async def deliver(
    answers: AnswerService,
    reply: Reply,
    question: Question,
    *,
    heading: str | None = None,
    email: ParsedEmail | None = None,
    status: ThreadStatus | None = None,
) -> Answer:
    """Answer `question` (or summarise `email`) and deliver it where `reply` says.

    Raises what failed (the caller's reply guard turns it into a sentence). `status` is the
    thread status the caller may have shown already.
    """
    if reply.via_response_url or reply.thread_ts is None:
        return await _by_response_url(answers, reply, question, heading, email)
    if status is None:
        status = ThreadStatus(reply.web, reply.channel_id, reply.thread_ts)
    if email is not None:
        async with status.showing(SUMMARISING, SUMMARISING_MESSAGES):
            return await _summary(answers, reply, question, email, status)
    async with status.showing(THINKING, THINKING_MESSAGES):
        return await _streamed(answers, reply, question, status)


async def _streamed(
    answers: AnswerService,
    reply: Reply,
    question: Question,
    status: ThreadStatus,
) -> Answer:
    assert reply.thread_ts is not None
    publication = Publication(answers.detector, question.withheld, question.withheld_values)
    stream = AnswerStream(
        reply.web,
        reply.channel_id,
        reply.thread_ts,
        recipient_user_id=question.user_id,
        recipient_team_id=question.conversation.team_id,
    )
    published: list[str] = []

    # Withholding a custom pattern's category runs the pattern on every release: off the
    # event loop (it may take up to 0.1 s whatever the text's length).
    off_loop = answers.detector.runs_custom_patterns(question.withheld)

    async def on_text(text: str) -> None:
        publication.feed(text)
        if off_loop:
            markdown = await asyncio.to_thread(publication.release)
        else:
            markdown = publication.release()
        if markdown:
            published.append(markdown)
            await stream.write(markdown)
            status.replied()

    try:
        answer = await answers.answer(question, status.queued, on_text)
    except BaseException:
        # No message left showing as still being written (also at shutdown); what it shows
        # may be confidential, so it carries the on-prem mark (a mark only makes a thread
        # stricter).
        await asyncio.shield(stream.abandon(on_prem_metadata(True)))
        raise
    tail = publication.release(final=True)
    if not publication.raw.strip():
        tail = inert_markdown(answer.text)
    elif answer.outcome not in _MODEL_WROTE:
        # Cut off (a timeout): what was written stays (its code block closed), and the
        # reason follows it.
        fence = publication.open_fence
        if fence is not None:
            tail += f"\n{fence.closer}"
        tail += f"\n\n_{inert_markdown(answer.text)}_"
    published.append(tail)
    await stream.finish(
        tail,
        footer(answer, question),
        notification_of("".join(published).strip(), answer),
        on_prem_metadata(answer.decision.confidential),
    )
    return answer


async def _summary(
    answers: AnswerService,
    reply: Reply,
    question: Question,
    email: ParsedEmail,
    status: ThreadStatus,
) -> Answer:
    answer = await answers.summarize_email(question, email, status.queued)
    answer = await _withheld(answers.detector, answer, question)
    blocks = summary_blocks(answer)
    metadata = on_prem_metadata(answer.decision.confidential)
    parts = message_parts(blocks[:-1], footer(answer, question))
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await reply.post(
            text=notification_text(answer),
            blocks=part,
            unfurl_links=False,
            unfurl_media=False,
            metadata=metadata if last else None,
        )
        status.replied()
    return answer


async def _withheld(detector: SensitiveDetector, answer: Answer, question: Question) -> Answer:
    """The answer with what its asker wrote privately withheld (off the event loop)."""
    categories, values = question.withheld, question.withheld_values
    if not categories and not values:
        return answer

    def withhold() -> Answer:
        summary = answer.summary
        return replace(
            answer,
            text=withhold_text(detector, answer.text, categories, values),
            summary=withhold_summary(detector, summary, categories, values) if summary else None,
        )

    return await asyncio.to_thread(withhold)


async def _by_response_url(
    answers: AnswerService,
    reply: Reply,
    question: Question,
    heading: str | None,
    email: ParsedEmail | None,
) -> Answer:
    """The answer through the response URL: no streaming, no Markdown, five posts at most
    (one "working on it", the rest for the answer)."""
    url = reply.response_url
    if url is None:
        raise Undelivered("nowhere to answer")
    try:
        await post_to_response_url(
            url, reply.web.session, response_type="ephemeral", text=WORKING_TEXT
        )
    except (ResponseUrlError, OSError, TimeoutError):
        log.info("could not show 'working on it'")
    if email is not None:
        answer = await answers.summarize_email(question, email, reply.queued)
    else:
        answer = await answers.answer(question, reply.queued)
    end = footer(answer, question)
    if answer.summary is not None:
        answer = await _withheld(answers.detector, answer, question)
        # The summary's header names the email; the pasted email itself is never echoed.
        messages = message_parts(summary_blocks(answer)[:-1], end)
        for blocks in messages:
            await reply.post(text=notification_text(answer), blocks=blocks)
        return answer
    # Normalised first (full-width ＜ folds to <): withholding normalises what it rewrites,
    # so nothing may fold into `<` after the conversion has escaped it.
    text = normalize(answer.text)
    body = to_mrkdwn(text) if answer.outcome in _MODEL_WROTE else text
    # Withheld after the conversion, on exactly what is published: the conversion decodes
    # what a model may have hidden a value in (`&#52;539…`).
    body = await asyncio.to_thread(
        withhold_text, answers.detector, body, question.withheld, question.withheld_values
    )
    if heading:
        body = f"{heading}\n\n{body}"
    if len(body) <= RESPONSE_BLOCKS_CHARS:
        for blocks in message_parts(section_blocks(body), end):
            await reply.post(text=notification_of(body, answer), blocks=blocks)
        return answer
    for part in split_markdown(body, RESPONSE_TEXT_CHARS):
        await reply.post(text=part)
    await reply.post(text=context_line(answer), blocks=end)
    return answer
