"""The `hearthbot` command: serve Slack, open the web console, chat in the terminal, explain
a routing decision, read the audit trail, check an installation."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.llm.embedded import EmbeddedModelError
from bot.logs import setup_logging
from bot.routing.channel import ChannelKind
from bot.routing.policy import PolicyError
from bot.settings import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearthbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the Slack app")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--http", action="store_true", help="HTTP mode: Slack posts to /slack/events")
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    serve.add_argument("--host", help="address to listen on (default HOST, else 0.0.0.0)")
    serve.add_argument(
        "--port", type=_port, help="port to listen on (default PORT, else 3000; 0 picks one)"
    )

    console = sub.add_parser(
        "console", help="the web console: a playground, where requests went, the policy"
    )
    console.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; beyond loopback needs CONSOLE_TOKEN)",
    )
    console.add_argument(
        "--port", type=_port, help="port to listen on (default PORT, else 3000; 0 picks one)"
    )

    chat = sub.add_parser("chat", help="ask questions from the terminal, routed as in Slack")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--channel", default="general", help="a public channel's name (default general)"
    )
    where.add_argument("--dm", action="store_true", help="as if written in a DM to the bot")
    where.add_argument("--private", action="store_true", help="as if written in a private channel")

    route = sub.add_parser("route", help="print the routing decision for a text; calls no model")
    route.add_argument("text", help="the message, as a user would write it")
    route.add_argument("--channel", default="#general", help="channel ID (C123…) or #name")
    route.add_argument(
        "--kind",
        choices=[k.value for k in ChannelKind],
        help="the channel's kind; default: asked from Slack for an ID when SLACK_BOT_TOKEN "
        "is set, else public",
    )
    route.add_argument(
        "--shared", action="store_true", help="the channel is shared (Slack Connect)"
    )
    route.add_argument("--local", action="store_true", help="as if the user asked for on-prem")
    route.add_argument("--sticky", action="store_true", help="as if the thread was confidential")
    route.add_argument("--json", action="store_true", help="print JSON")

    audit = sub.add_parser("audit", help="read the audit trail of routing decisions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    tail = audit_sub.add_parser("tail", help="the newest decisions")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("--json", action="store_true", help="print JSON lines")
    stats = audit_sub.add_parser("stats", help="counts and latencies over a period")
    stats.add_argument(
        "--since", default="24h", help="a period such as 30m, 24h or 7d (default 24h)"
    )
    stats.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("keygen", help="print a new MEMORY_ENCRYPTION_KEY")
    sub.add_parser("doctor", help="check Slack, Redis, the models, the policy and the environment")
    return parser


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {port}")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hearthbot` console script."""
    args = _parser().parse_args(argv)
    if args.command == "keygen":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
        return 0
    if args.command == "doctor":
        from bot.cli.doctor import doctor

        # Only warnings from the libraries; the report is the output.
        setup_logging("WARNING")
        return asyncio.run(doctor(sys.stdout))
    overrides: dict[str, object] = {}
    if args.command in ("serve", "console"):
        # Flags win over the environment (the same image under any orchestrator's conventions).
        overrides = {k: v for k in ("host", "port") if (v := getattr(args, k)) is not None}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"hearthbot: configuration error: {exc}", file=sys.stderr)
        return 2
    # The terminal chat shares the screen with its logs: only warnings there (the audit
    # trail keeps every decision; `hearthbot audit tail` shows them), unless debugging.
    # The console prints its address there.
    quiet = args.command in ("chat", "console") and settings.log_level != "DEBUG"
    setup_logging("WARNING" if quiet else settings.log_level)
    try:
        if args.command == "serve":
            import uvloop

            from bot.cli.serve import serve, socket_mode

            # uvloop: the same asyncio API on libuv, with less CPU per request (README,
            # "Performance").
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(serve(settings, socket_mode=socket_mode(args, settings)))
        if args.command == "console":
            from bot.cli.console import console

            return asyncio.run(console(settings, sys.stdout))
        if args.command == "chat":
            from bot.cli.chat import chat, chat_facts

            return asyncio.run(chat(settings, chat_facts(args), sys.stdin, sys.stdout))
        if args.command == "route":
            from bot.cli.route import explain

            return asyncio.run(explain(settings, args, sys.stdout))
        from bot.cli.audit import audit

        return asyncio.run(audit(settings, args, sys.stdout))
    except (ConfigError, PolicyError, EmbeddedModelError) as exc:
        print(f"hearthbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
