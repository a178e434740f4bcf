"""`hearthbot console`: the web console alone (no Slack needed), on loopback by default."""

from __future__ import annotations

from typing import TextIO

from aiohttp import web

from bot.app import build_services, build_web_app
from bot.cli.serve import freeze_start_up, stop_on_signals
from bot.console.web import console_access
from bot.settings import ConfigError, Settings


def console_url(host: str, port: int) -> str:
    """The address to open in a browser. Pure."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/console"


async def console(settings: Settings, out: TextIO) -> int:
    """Serve the console (and the health endpoints) until SIGINT or SIGTERM."""
    access = console_access(settings)
    if access is None:
        raise ConfigError(
            "CONSOLE_TOKEN (or Sign in with Slack): required to serve the console beyond "
            f"loopback (--host {settings.host})"
        )
    services = await build_services(settings)
    runner: web.AppRunner | None = None
    try:
        runner = web.AppRunner(build_web_app(services, None, access), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = int(runner.addresses[0][1])
        freeze_start_up()
        closed = settings.closed
        print(f"hearthbot console: {console_url(settings.host, port)}", file=out)
        print(
            f"  on-prem model {settings.local.label}; closed API "
            f"{closed.label if closed else 'none'}. Ctrl-C stops it.",
            file=out,
            flush=True,
        )
        await stop_on_signals().wait()
        # As `hearthbot serve` does: no new questions, those in progress get
        # SHUTDOWN_GRACE_S to finish, then each page is told it was cut off.
        services.in_flight.draining = True
        await site.stop()
        await services.in_flight.drain(settings.shutdown_grace_s)
        return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await services.aclose()
