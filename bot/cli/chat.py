"""`hearthbot chat`: the same router, memory and models as in Slack, from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import TextIO

from bot.answers import CannotAnswer, Question
from bot.app import build_services
from bot.memory import ConversationKey
from bot.routing.channel import ChannelFacts, ChannelKind
from bot.settings import Settings
from bot.slack.command_text import parse_ask_text
from bot.slack.formatting import USAGE_TEXT, context_line


def chat_facts(args: argparse.Namespace) -> ChannelFacts:
    """Where the terminal conversation pretends to take place."""
    if args.dm:
        return ChannelFacts("D0TERMINAL", ChannelKind.IM, name=None)
    if args.private:
        return ChannelFacts("G0TERMINAL", ChannelKind.PRIVATE, name="private-terminal")
    name = str(args.channel).lstrip("#")
    return ChannelFacts(f"C0TERM{name.upper()[:20]}", ChannelKind.PUBLIC, name=name)


async def chat(settings: Settings, facts: ChannelFacts, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions line by line; print each answer and where it was computed."""
    services = await build_services(settings)
    conversation = ConversationKey("T0TERMINAL", facts.channel_id, f"chat-{uuid.uuid4().hex[:8]}")
    where = "a DM" if facts.kind is ChannelKind.IM else f"#{facts.name} ({facts.kind.value})"
    try:
        print(
            f"hearthbot chat: asking as if in {where}. Empty line or Ctrl-D to quit.", file=stdout
        )
        while True:
            print("you> ", end="", file=stdout, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line.strip():
                return 0
            parsed = parse_ask_text(line)
            if parsed.wants_help:
                print(USAGE_TEXT, file=stdout)
                continue
            question = Question(
                conversation=conversation,
                facts=facts,
                user_id="U0TERMINAL",
                text=parsed.question,
                force_local=parsed.force_local,
            )
            try:
                answer = await services.answers.answer(question)
            except CannotAnswer as exc:  # memory store down, question too long
                print(f"hearthbot> {exc.text}", file=stdout, flush=True)
                continue
            print(f"hearthbot> {answer.text}\n  {context_line(answer)}", file=stdout, flush=True)
    finally:
        await services.aclose()
