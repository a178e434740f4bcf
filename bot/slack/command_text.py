"""Parsing what follows `/ask`. Pure."""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_FLAGS = ("--local", "-l")
HELP_WORDS = ("help", "--help", "-h", "?")


@dataclass(frozen=True)
class AskText:
    """The question and the flags given with it."""

    question: str
    force_local: bool
    wants_help: bool


def parse_ask_text(raw: str) -> AskText:
    """`/ask [--local] <question>`; empty text or `help` asks for usage. A flag ends at any
    whitespace: `--local` then a new line (or a tab) is still `--local`."""
    text = raw.strip()
    force_local = False
    while True:
        parts = text.split(maxsplit=1)
        if parts and parts[0].lower() in LOCAL_FLAGS:
            force_local = True
            text = parts[1].strip() if len(parts) > 1 else ""
            continue
        break
    wants_help = not text or text.lower() in HELP_WORDS
    return AskText(question=text, force_local=force_local, wants_help=wants_help)


def strip_mention(text: str, bot_user_id: str | None) -> str:
    """The message text without the leading `<@BOT>` mention(s) of this bot."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    return text.strip()
