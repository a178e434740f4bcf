"""The console's routes, mounted at `/console` on hearthbot's own web app; its templates and
static files (Chart.js comes from the npm registry: `npm ci` puts it in node_modules, the
image build copies it into the package; nothing is fetched from the internet at run time)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from aiohttp import web

from bot.console import audit_page, playground, policy_page, slack_sign_in
from bot.console.access import ConsoleAccess, is_loopback_host
from bot.console.guard import (
    ACCESS_KEY,
    SIGNED_OUT_KEY,
    guard,
    on_prepare,
    plain_error,
    read_form,
    served_over_https,
    session_of,
    set_session_cookie,
)
from bot.console.rendering import REPLY_GUARD_KEY, SERVICES_KEY, render
from bot.console.sessions import SignedOut
from bot.console.slack_sign_in import sign_in_config
from bot.slack.delivery import ReplyGuard

if TYPE_CHECKING:
    from bot.app import Services
    from bot.settings import Settings

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
# Chart.js: copied into the package by the image build, or in the checkout's node_modules.
CHART_JS_CANDIDATES = (
    STATIC_DIR / "vendor" / "chart.umd.min.js",
    PACKAGE_DIR.parents[1] / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
)
OWN_STATIC = frozenset({"console.css", "playground.js", "audit.js"})


def chart_js_path() -> Path | None:
    """Where Chart.js is, or None when neither the package nor the checkout has it."""
    return next((p for p in CHART_JS_CANDIDATES if p.is_file()), None)


async def static_file(request: web.Request) -> web.StreamResponse:
    """The console's own CSS and scripts, and Chart.js; nothing else on disk is served."""
    name = request.match_info["name"]
    if name == "chart.umd.min.js":
        path = chart_js_path()
        if path is None:
            return plain_error(404, "Chart.js is not installed: run `npm ci` in the checkout.")
    elif name in OWN_STATIC:
        path = STATIC_DIR / name
    else:
        return plain_error(404, "no such file")
    # Sent by aiohttp off the event loop; its type from the extension (.css, .js).
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=300"})


async def login_page(request: web.Request) -> web.Response:
    """The sign-in page: the token's form, Sign in with Slack, or both."""
    return render(request, "login.html", next=_next_path(request.query.get("next")), error=None)


async def login(request: web.Request) -> web.StreamResponse:
    """Check the operator's token; a new session (new nonce) on success."""
    access = request.app[ACCESS_KEY]
    form = await read_form(request)
    token = form.get("token")
    target = _next_path(str(form.get("next") or ""))
    if not access.token_ok(token if isinstance(token, str) else None):
        log.warning("console sign-in with a wrong token")
        return render(request, "login.html", status=401, next=target, error="Wrong token.")
    _, cookie = access.new_session(time.time(), signed_in=True)
    redirect = web.HTTPSeeOther(target)
    set_session_cookie(redirect, cookie, secure=served_over_https(request))
    raise redirect


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session: recorded as signed out until it would have expired (a copy of the
    cookie kept elsewhere no longer works), and a fresh, signed-out one replaces it."""
    access = request.app[ACCESS_KEY]
    if not access.loopback_only:
        try:
            await request.app[SIGNED_OUT_KEY].add(session_of(request))
        except (aioredis.RedisError, OSError, TimeoutError):
            log.warning("console could not record a sign-out")
            return plain_error(503, "Could not sign out now (Redis): try again.")
    _, cookie = access.new_session(time.time(), signed_in=access.loopback_only)
    redirect = web.HTTPSeeOther("/console/login" if not access.loopback_only else "/console/")
    set_session_cookie(redirect, cookie, secure=served_over_https(request))
    raise redirect


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if value and value.startswith("/console/") and not value.startswith("/console//"):
        return value
    return "/console/playground"


async def index(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/playground")


def console_app(services: Services, access: ConsoleAccess) -> web.Application:
    """The console as an aiohttp sub-application (its own middleware and signals)."""
    app = web.Application(middlewares=[guard])
    app[ACCESS_KEY] = access
    app[SERVICES_KEY] = services
    app[SIGNED_OUT_KEY] = SignedOut(services.redis, prefix=services.settings.redis_prefix)
    app[REPLY_GUARD_KEY] = ReplyGuard(services.audit, services.in_flight, services.request_limits)
    app.on_response_prepare.append(on_prepare)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/static/{name}", static_file)
    playground.add_routes(app)
    audit_page.add_routes(app)
    policy_page.add_routes(app)
    slack = sign_in_config(services.settings)
    if access.slack and slack is not None:
        slack_sign_in.add_routes(app, slack)
    return app


def console_access(settings: Settings, *, serving_slack: bool = False) -> ConsoleAccess | None:
    """The console's access rules: signing in with CONSOLE_TOKEN or with Slack when either
    is configured, else loopback only. None (the console is off) when nobody could sign in
    and it listens beyond loopback, or serves Slack (which usually sits behind a proxy,
    which loopback cannot tell)."""
    token = settings.console_token.get_secret_value() if settings.console_token else None
    slack = sign_in_config(settings)
    if token is None and slack is None and (serving_slack or not is_loopback_host(settings.host)):
        return None
    if slack is None:
        return ConsoleAccess.create(token)
    scope = f"{slack.team_id}:{','.join(sorted(slack.allowed_users))}"
    return ConsoleAccess.create(token, slack.client_secret, scope)


def mount_console(app: web.Application, services: Services, access: ConsoleAccess | None) -> None:
    """`/console` on hearthbot's web app; a refusal that says why when `access` is None."""

    async def redirect(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    if access is None:

        async def off(_: web.Request) -> web.Response:
            return plain_error(
                403,
                "The console is off: set CONSOLE_TOKEN to serve it here, or run "
                "`hearthbot console` on loopback.",
            )

        app.router.add_route("*", "/console{tail:.*}", off)
        return
    app.router.add_get("/console", redirect)
    app.add_subapp("/console", console_app(services, access))
