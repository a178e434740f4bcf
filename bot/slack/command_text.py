"""Parsing what follows `/ask`. Pure."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LOCAL_FLAGS = ("--local", "-l")
# What phones and word processors make of `--`: dashes, minus signs, full-width hyphens.
_DASHES = re.compile("[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")


def _as_flag(token: str) -> str:
    """A first word as a flag is compared: compatibility forms folded, invisible format
    characters (zero-width spaces) dropped, any dash a hyphen, trailing `:,;` gone; so
    `—local` (what smart punctuation makes of `--local`) is `-local`."""
    folded = unicodedata.normalize("NFKC", token)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return _DASHES.sub("-", visible).rstrip(":,;").lower()


def is_local_flag(token: str) -> bool:
    """True for `--local` and `-l` however they were typed (`-local`, `—local`, `--Local:`)."""
    flag = _as_flag(token)
    return flag in LOCAL_FLAGS or flag == "-local"


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
        if parts and is_local_flag(parts[0]):
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
