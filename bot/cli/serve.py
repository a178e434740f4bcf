"""`hearthbot serve`: Slack over HTTP or Socket Mode, plus the health endpoints."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

from aiohttp import web

from bot.app import Services, build_bolt_app, build_services, build_web_app
from bot.console.web import console_access
from bot.settings import ConfigError, Settings
from bot.slack.identity import SlackUnreachable, TokenRejected
from bot.tracing import start_tracing

log = logging.getLogger("bot")


def socket_mode(args: argparse.Namespace, settings: Settings) -> bool:
    """Socket Mode when asked for, or when SLACK_APP_TOKEN is set and --http was not given."""
    if args.socket:
        if settings.slack_app_token is None:
            raise ConfigError("SLACK_APP_TOKEN: required for --socket")
        return True
    if args.http:
        return False
    return settings.slack_app_token is not None


async def confirm_identity(services: Services) -> None:
    """Ask Slack who the bot is before taking requests (they are acknowledged before Bolt
    runs, so its authorization must not fail then). A token Slack rejects stops start-up;
    Slack out of reach does not (the first request asks again)."""
    assert services.identity is not None
    try:
        await services.identity.load()
    except TokenRejected as exc:
        raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused it ({exc})") from None
    except SlackUnreachable as exc:
        log.warning("Slack did not confirm the bot's identity yet", extra={"error": str(exc)})


def freeze_start_up() -> None:
    """Start-up leaves some million long-lived objects (modules, LangChain and pydantic
    classes, the detector's tables). Python's full collections walk all of them: pauses of
    150-200 ms under load, every answer in flight waiting. Frozen, they are never walked
    again; what requests allocate is collected as before."""
    gc.collect()
    gc.freeze()


def stop_on_signals() -> asyncio.Event:
    """An event SIGINT or SIGTERM sets (the graceful shutdown's start)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(settings: Settings, *, socket_mode: bool) -> int:
    """Run until SIGINT or SIGTERM, then shut down gracefully: stop taking requests, let the
    answers in progress finish (up to SHUTDOWN_GRACE_S), close Redis and the model."""
    stop_tracing = start_tracing(settings)
    services = await build_services(settings)
    runner: web.AppRunner | None = None
    try:
        bolt_app = build_bolt_app(settings, services, socket_mode=socket_mode)
        await confirm_identity(services)
        # Beside Slack, the console needs a way to sign in whatever the address: a server
        # that takes Slack's requests usually sits behind a proxy, which loopback cannot tell.
        console = console_access(settings, serving_slack=True)
        web_app = build_web_app(services, None if socket_mode else bolt_app, console)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        freeze_start_up()
        log.info(
            "hearthbot serving",
            extra={
                "mode": "socket" if socket_mode else "http",
                "host": settings.host,
                "port": settings.port,
            },
        )
        stop = stop_on_signals()
        handler = None
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token.get_secret_value())
            await handler.connect_async()  # type: ignore[no-untyped-call]
        await stop.wait()
        services.in_flight.draining = True
        log.info("hearthbot stopping", extra={"in_flight": len(services.in_flight)})
        # No new requests: Slack sends them to another replica, or retries them later.
        if handler is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
        await site.stop()
        cut_off = await services.in_flight.drain(settings.shutdown_grace_s)
        log.info("hearthbot stopped", extra={"cut_off": cut_off})
        return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await services.aclose()
        if stop_tracing is not None:
            stop_tracing()  # sends the spans still batched
