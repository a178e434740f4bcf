"""The console's gate: loopback or a signed-in session, a CSRF token on every request that
changes something, and headers that keep the pages from being framed or fed foreign scripts."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web
from multidict import MultiDictProxy

from bot.console.access import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    ConsoleAccess,
    Session,
    host_header_name,
    is_loopback_host,
)
from bot.console.sessions import SignedOut

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACCESS_KEY = web.AppKey("console_access", ConsoleAccess)
SIGNED_OUT_KEY = web.AppKey("console_signed_out", SignedOut)
SESSION = web.RequestKey("console_session", Session)
CSRF = web.RequestKey("console_csrf", str)
NEW_COOKIE = web.RequestKey("console_new_cookie", str)

# Paths anyone may load: the sign-in page and the files it needs.
OPEN_PATHS = ("/console/login", "/console/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Headers proxies add: a request carrying one came from beyond this machine.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Via")

# Scripts and styles only from the console itself; nothing framed, no form posted elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


def plain_error(status: int, text: str) -> web.Response:
    """A short text answer (the pages are not shown to someone who may not see them)."""
    return web.Response(status=status, text=text, content_type="text/plain")


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form; a form that cannot be decoded (bytes that are not UTF-8) is a 400."""
    try:
        return await request.post()
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="The form could not be read (not UTF-8).") from None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


async def _csrf_given(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await read_form(request)).get("csrf")
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what the access rules refuse; hand the session and CSRF token to the pages."""
    access = request.app[ACCESS_KEY]
    now = time.time()
    if access.loopback_only and not (
        is_loopback_host(host_header_name(request.host))
        and is_loopback_host(request.remote or "")
        and not any(h in request.headers for h in PROXY_HEADERS)
    ):
        # Bound to loopback, but reached under another name (DNS rebinding) or through a
        # proxy that says so: without a token the console serves this machine only. (A
        # proxy that adds none of these headers cannot be told apart: the README says to
        # set CONSOLE_TOKEN before putting one in front.)
        log.warning("console refused a request from beyond loopback")
        return plain_error(403, "The console answers only on loopback unless CONSOLE_TOKEN is set.")
    if request.path.startswith("/console/static/"):
        return await handler(request)
    via_bearer = access.token_ok(_bearer(request))
    session = access.read_session(request.cookies.get(SESSION_COOKIE), now)
    if session is not None and session.signed_in and not access.loopback_only:
        try:
            if await request.app[SIGNED_OUT_KEY].has(session):
                session = None
        except (aioredis.RedisError, OSError, TimeoutError):
            log.warning("console could not check a session: refused")
            return plain_error(503, "The console cannot check sessions now (Redis).")
    if session is None:
        session, cookie = access.new_session(now, signed_in=access.loopback_only)
        request[NEW_COOKIE] = cookie
    open_path = request.path.startswith(OPEN_PATHS)
    if not (session.signed_in or via_bearer or open_path):
        if request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(f"/console/login?next={request.rel_url.path}")
        return plain_error(401, "Sign in to the console first.")
    # A browser says where a request comes from; a page of another site never gets the
    # session's token, so a forged request fails either way.
    if (
        request.method not in SAFE_METHODS
        and not via_bearer
        and (
            request.headers.get("Sec-Fetch-Site") == "cross-site"
            or not access.csrf_ok(session, await _csrf_given(request))
        )
    ):
        log.warning("console refused a request without a valid CSRF token")
        return plain_error(403, "CSRF token missing or wrong: reload the page.")
    request[SESSION] = session
    request[CSRF] = access.csrf_token(session)
    response = await handler(request)
    fresh = request.get(NEW_COOKIE)
    # (A streamed answer has sent its headers already; its page set the cookie before.)
    if fresh is not None and not response.prepared and SESSION_COOKIE not in response.cookies:
        set_session_cookie(response, fresh, secure=served_over_https(request))
    return response


def served_over_https(request: web.Request) -> bool:
    """HTTPS here, or at a proxy in front that says so (only ever makes the cookie stricter)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_session_cookie(response: web.StreamResponse, value: str, *, secure: bool) -> None:
    """The session cookie: not readable by scripts, never sent by other sites' pages."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_TTL_S,
        path="/console",
        httponly=True,
        secure=secure,
        samesite="Strict",
    )


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every console response."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if not request.path.startswith("/console/static/"):
        response.headers["Cache-Control"] = "no-store"


def session_of(request: web.Request) -> Session:
    """The session the guard found or made."""
    return request[SESSION]
