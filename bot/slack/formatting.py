"""Slack message formatting: the context line under every answer, and Block Kit within
Slack's limits. Pure functions; no I/O.

Everything a model wrote is untrusted: a pasted email or a thread can steer it into writing
`<!channel>`, `<@U…>` or `<https://evil|innocent words>`, which Slack would turn into a ping
or a disguised link. Slack's formatting rules say `&`, `<` and `>` are the only characters
that must be escaped; escaping them in model text (and only there) leaves bold, italics,
lists, code and plain URLs as the model meant them, while no control sequence survives.
"""

from __future__ import annotations

import re
from typing import Any

from bot.answers import Answer, Outcome
from bot.routing.decision import Route

# Slack's limits (Block Kit reference): a section's text holds 3,000 characters, a message
# 50 blocks, and the message `text` fallback is truncated past 40,000.
SECTION_TEXT_LIMIT = 3000
MAX_BLOCKS = 50
NOTIFICATION_TEXT_LIMIT = 3000
# Slack refuses a message whose blocks hold more than about 12,000 characters of text in
# all (`msg_blocks_too_long`, well below 50 full sections); a margin for block containers.
MESSAGE_BLOCKS_TEXT = 11_000

USAGE_TEXT = (
    "*Ask hearthbot a question*\n"
    "• `/ask <question>`: answered here, in a new thread you can continue by mentioning me.\n"
    "• `/ask --local <question>`: answered only by the on-prem model.\n"
    "• Mention me in a thread: I read the thread and answer there.\n"
    "• Send me a direct message: always answered on-prem.\n"
    "• `/ask summarize <pasted email>` (or just paste the email), mention me with "
    '"summarise the email above", or use the message shortcut *Summarize customer email*: '
    "a structured summary with a reply draft.\n"
    "Confidential channels, private and shared channels and DMs are answered by the on-prem "
    "model only; the line under each answer says where it was computed."
)


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHAR = {"amp": "&", "lt": "<", "gt": ">"}
# A `>` that opens a line is Slack's block quote, not part of a control sequence: kept.
_LINE_QUOTE = re.compile(r"(?m)^([ \t]*)&gt;")


def escape_untrusted(text: str) -> str:
    """Model-written text made inert for Slack mrkdwn: `&`, `<`, `>` escaped.

    Entities the model copied from Slack's own escaped text are decoded first, so they are
    escaped exactly once; a block quote at the start of a line stays a block quote.
    """
    plain = _ENTITY.sub(lambda m: _ENTITY_CHAR[m.group(1)], text)
    escaped = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINE_QUOTE.sub(r"\1>", escaped)


def inert_user_text(text: str) -> str:
    """A person's slash-command text, quoted by the bot: Slack already escaped `&<>` in it,
    so only the control sequences it let through (`<!channel>`, `<@U…>`) are neutralised."""
    return text.replace("<", "&lt;")


_NOT_ANSWERED = {
    Outcome.REFUSED: "unavailable",
    Outcome.TIMEOUT: "timed out",
    Outcome.BUSY: "busy",
    Outcome.TOO_LONG: "request too long",
}


def context_line(answer: Answer) -> str:
    """Where the answer was computed, e.g. `🔒 on-prem · llama3.1 · private channel`."""
    decision = answer.decision
    if answer.outcome in _NOT_ANSWERED:
        where = "☁️" if decision.route is Route.CLOSED else "🔒 on-prem ·"
        reasons = "" if decision.route is Route.CLOSED else f" · {decision.reason_text()}"
        return f"{where} {decision.model} {_NOT_ANSWERED[answer.outcome]}{reasons}"
    if answer.outcome is Outcome.FALLBACK:
        return f"🔒 on-prem · {answer.answered_by} · cloud model unavailable, answered on-prem"
    if decision.route is Route.CLOSED:
        return f"☁️ {answer.answered_by or decision.model}"
    return f"🔒 on-prem · {answer.answered_by or decision.model} · {decision.reason_text()}"


def context_block(answer: Answer) -> dict[str, Any]:
    """The context line under an answer, with any notes about its input beside it."""
    texts = [context_line(answer), *answer.notes]
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts[:10]]}


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


def section_blocks(text: str) -> list[dict[str, Any]]:
    """Mrkdwn text (already safe) as section blocks of at most 3,000 characters each."""
    return [_section(piece) for piece in split_text(text)]


def block_text_chars(node: Any) -> int:
    """The characters of text a block holds (every `text` string in it)."""
    if isinstance(node, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else block_text_chars(v)
            for k, v in node.items()
        )
    if isinstance(node, list):
        return sum(block_text_chars(item) for item in node)
    return 0


def message_parts(
    blocks: list[dict[str, Any]], footer: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Blocks spread, in order, over as many messages as Slack's limits need (50 blocks,
    about 12,000 characters of text in all), with `footer` ending the last one."""
    room_blocks = MAX_BLOCKS - len(footer)
    room_chars = MESSAGE_BLOCKS_TEXT - block_text_chars(footer)
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        chars = block_text_chars(block)
        if current and (len(current) >= room_blocks or size + chars > room_chars):
            parts.append(current)
            current, size = [], 0
        current.append(block)
        size += chars
    parts.append(current + footer)
    return parts


def notification_text(answer: Answer) -> str:
    """The plain `text` Slack shows in notifications, with the context line."""
    body = f"Summary: {answer.summary.summary}" if answer.summary else answer.text
    return notification_of(escape_untrusted(body), answer)


def notification_of(safe_body: str, answer: Answer) -> str:
    """The notification for a body already made safe: its start, and the context line."""
    if len(safe_body) > NOTIFICATION_TEXT_LIMIT:
        safe_body = safe_body[:NOTIFICATION_TEXT_LIMIT] + "…"
    return f"{safe_body}\n{context_line(answer)}"


def quote(text: str, limit: int = 500) -> str:
    """A Slack block quote of (the start of) a text that is already safe mrkdwn."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return "\n".join(f"> {line}" for line in short.splitlines() or [""])


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


HEADER_TEXT_LIMIT = 150
FIELD_TEXT_LIMIT = 2000
MAX_FIELDS = 10
URGENCY_EMOJI = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}


def summary_blocks(answer: Answer) -> list[dict[str, Any]]:
    """An email summary as Block Kit: header, fields, summary, action items, key facts, the
    reply draft in a secondary block, and the context line."""
    summary = answer.summary
    if summary is None:
        return [
            _section("*Summary of the customer email*"),
            *section_blocks(escape_untrusted(answer.text)),
            context_block(answer),
        ]
    safe = escape_untrusted
    # A header is plain_text, which Slack never parses for mentions or links.
    header = f"📧 {summary.subject}"
    if len(header) > HEADER_TEXT_LIMIT:
        header = header[: HEADER_TEXT_LIMIT - 1] + "…"
    customer = safe(summary.customer_name or "unknown")
    if summary.company:
        customer += f" ({safe(summary.company)})"
    fields = [
        ("Customer", customer),
        ("Intent", summary.intent.value.replace("_", " ")),
        ("Urgency", f"{URGENCY_EMOJI[summary.urgency.value]} {summary.urgency.value}"),
        ("Sentiment", summary.sentiment.value),
        ("Language", safe(summary.language)),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{value}"[:FIELD_TEXT_LIMIT]}
                for name, value in fields[:MAX_FIELDS]
            ],
        },
        _section(f"*Summary*\n{safe(summary.summary)}"[:SECTION_TEXT_LIMIT]),
        _section(f"*Why this urgency*\n{safe(summary.urgency_reason)}"[:SECTION_TEXT_LIMIT]),
    ]
    if summary.action_items:
        items = "\n".join(
            f"• {safe(a.action)}" + (f" _({safe(a.owner)})_" if a.owner else "")
            for a in summary.action_items
        )
        blocks.append(_section(f"*Action items*\n{items}"[:SECTION_TEXT_LIMIT]))
    if summary.key_facts:
        facts = "\n".join(
            f"• {f.kind.value.replace('_', ' ')}: `{safe(f.value)}`" for f in summary.key_facts
        )
        blocks.append(_section(f"*Key facts*\n{facts}"[:SECTION_TEXT_LIMIT]))
    blocks.append({"type": "divider"})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Suggested reply* (draft)"}]}
    )
    draft = split_text(quote(safe(summary.reply_draft), limit=12_000), SECTION_TEXT_LIMIT)
    blocks.extend(_section(part) for part in draft)
    blocks.append(context_block(answer))
    return blocks
