"""`hearthbot serve` runs the Slack app; `hearthbot chat` talks to the same router, memory
and models from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import uuid
from collections.abc import Sequence
from typing import TextIO

from aiohttp import web

from bot.answers import Question
from bot.app import Services, build_bolt_app, build_services, build_web_app
from bot.llm.embedded import EmbeddedModelError
from bot.logs import setup_logging
from bot.memory import ConversationKey
from bot.routing.channel import ChannelFacts, ChannelKind
from bot.routing.policy import PolicyError
from bot.settings import ConfigError, Settings, load_settings
from bot.slack.command_text import parse_ask_text
from bot.slack.formatting import USAGE_TEXT, context_line

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearthbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Slack app")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--http", action="store_true", help="HTTP mode: Slack posts to /slack/events")
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    chat = sub.add_parser("chat", help="ask questions from the terminal, routed as in Slack")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--channel", default="general", help="a public channel's name (default general)"
    )
    where.add_argument("--dm", action="store_true", help="as if written in a DM to the bot")
    where.add_argument("--private", action="store_true", help="as if written in a private channel")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hearthbot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hearthbot: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        if args.command == "serve":
            return asyncio.run(serve(settings, socket_mode=_socket_mode(args, settings)))
        facts = _chat_facts(args)
        return asyncio.run(chat(settings, facts, sys.stdin, sys.stdout))
    except (ConfigError, PolicyError, EmbeddedModelError) as exc:
        print(f"hearthbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _socket_mode(args: argparse.Namespace, settings: Settings) -> bool:
    if args.socket:
        if settings.slack_app_token is None:
            raise ConfigError("SLACK_APP_TOKEN: required for --socket")
        return True
    if args.http:
        return False
    return settings.slack_app_token is not None


def _chat_facts(args: argparse.Namespace) -> ChannelFacts:
    if args.dm:
        return ChannelFacts("D0TERMINAL", ChannelKind.IM, name=None)
    if args.private:
        return ChannelFacts("G0TERMINAL", ChannelKind.PRIVATE, name="private-terminal")
    name = str(args.channel).lstrip("#")
    return ChannelFacts(f"C0TERM{name.upper()[:20]}", ChannelKind.PUBLIC, name=name)


async def serve(settings: Settings, *, socket_mode: bool) -> int:
    """Run until SIGINT/SIGTERM: Slack over HTTP or Socket Mode, plus the health endpoints."""
    services = await build_services(settings)
    runner: web.AppRunner | None = None
    try:
        bolt_app = build_bolt_app(settings, services)
        web_app = build_web_app(services, None if socket_mode else bolt_app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info(
            "hearthbot serving",
            extra={
                "mode": "socket" if socket_mode else "http",
                "host": settings.host,
                "port": settings.port,
            },
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import (
                AsyncSocketModeHandler,
            )

            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token.get_secret_value())
            await handler.connect_async()  # type: ignore[no-untyped-call]
            await stop.wait()
            await handler.close_async()  # type: ignore[no-untyped-call]
        else:
            await stop.wait()
        log.info("hearthbot stopping")
        return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await services.aclose()


async def chat(settings: Settings, facts: ChannelFacts, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions line by line; print each answer and the line saying where it was computed."""
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
            answer = await _ask(services, conversation, facts, parsed.question, parsed.force_local)
            print(f"hearthbot> {answer}", file=stdout, flush=True)
    finally:
        await services.aclose()


async def _ask(
    services: Services,
    conversation: ConversationKey,
    facts: ChannelFacts,
    text: str,
    force_local: bool,
) -> str:
    answer = await services.answers.answer(
        Question(
            conversation=conversation,
            facts=facts,
            user_id="U0TERMINAL",
            text=text,
            force_local=force_local,
        )
    )
    return f"{answer.text}\n  {context_line(answer)}"


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
