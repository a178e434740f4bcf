"""Slack message formatting: the context line under every answer, and Block Kit within
Slack's limits. Pure functions; no I/O."""

from __future__ import annotations

from typing import Any

from bot.answers import Answer, Outcome
from bot.routing.decision import Route

# Slack's limits (Block Kit reference): a section's text holds 3,000 characters, a message
# 50 blocks, and the message `text` fallback is truncated past 40,000.
SECTION_TEXT_LIMIT = 3000
MAX_BLOCKS = 50
NOTIFICATION_TEXT_LIMIT = 3000
TRUNCATION_MARK = "\n… (answer truncated to fit in Slack)"

USAGE_TEXT = (
    "*Ask hearthbot a question*\n"
    "• `/ask <question>`: answered here, in a new thread you can continue by mentioning me.\n"
    "• `/ask --local <question>`: answered only by the on-prem model.\n"
    "• Mention me in a thread: I read the thread and answer there.\n"
    "• Send me a direct message: always answered on-prem.\n"
    "Confidential channels, private and shared channels and DMs are answered by the on-prem "
    "model only; the line under each answer says where it was computed."
)


def context_line(answer: Answer) -> str:
    """Where the answer was computed, e.g. `🔒 on-prem · llama3.1 · private channel`."""
    decision = answer.decision
    if answer.outcome is Outcome.REFUSED:
        return f"🔒 on-prem · {decision.model} unavailable · {decision.reason_text()}"
    if answer.outcome is Outcome.FALLBACK:
        return f"🔒 on-prem · {answer.answered_by} · cloud model unavailable, answered on-prem"
    if decision.route is Route.CLOSED:
        return f"☁️ {answer.answered_by or decision.model}"
    return f"🔒 on-prem · {answer.answered_by or decision.model} · {decision.reason_text()}"


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split text into pieces of at most `limit` characters, preferring line breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        pieces.append(rest)
    return pieces


def answer_blocks(answer: Answer, *, heading: str | None = None) -> list[dict[str, Any]]:
    """The answer as section blocks (each ≤ 3,000 characters), then the context line."""
    blocks: list[dict[str, Any]] = []
    if heading:
        blocks.append(_section(heading[:SECTION_TEXT_LIMIT]))
    room = MAX_BLOCKS - len(blocks) - 1
    sections = split_text(answer.text)
    if len(sections) > room:
        sections = sections[:room]
        last = sections[-1][: SECTION_TEXT_LIMIT - len(TRUNCATION_MARK)]
        sections[-1] = last + TRUNCATION_MARK
    blocks.extend(_section(s) for s in sections)
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context_line(answer)}]}
    )
    return blocks


def notification_text(answer: Answer) -> str:
    """The plain `text` Slack shows in notifications, with the context line."""
    body = answer.text
    if len(body) > NOTIFICATION_TEXT_LIMIT:
        body = body[:NOTIFICATION_TEXT_LIMIT] + "…"
    return f"{body}\n{context_line(answer)}"


def quote(text: str, limit: int = 500) -> str:
    """A Slack block quote of (the start of) a user's question."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return "\n".join(f"> {line}" for line in short.splitlines() or [""])


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
