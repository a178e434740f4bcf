"""Sign in with Slack (OpenID Connect) for the console: members of one workspace (or a list
of them) sign in with their Slack account instead of a shared token, and the console asks
as them (their user ID in the audit trail, their rate limit).

The flow is Slack's: `/openid/connect/authorize` (URL built by slack_sdk's
`OpenIDConnectAuthorizeUrlGenerator`), then `openid.connect.token` (slack_sdk's client).
The ID token comes straight from Slack's token endpoint over TLS, so, as OpenID Connect
Core 3.1.3.7 allows, its issuer is vouched for by TLS and its signature is not checked;
its audience, expiry, nonce, team and user are.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, web
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator
from slack_sdk.web.async_client import AsyncWebClient

from bot.console.access import USER_ID
from bot.console.guard import (
    ACCESS_KEY,
    plain_error,
    served_over_https,
    set_session_cookie,
)

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/console/login/slack/callback"
ISSUER = "https://slack.com"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"
# The round trip's own cookie: Lax, so that it comes back with Slack's redirect (the
# session cookie is Strict and would not), and only for the sign-in paths.
SIGN_IN_COOKIE = "hearthbot_console_sign_in"
SIGN_IN_TTL_S = 600


@dataclass(frozen=True)
class SlackSignIn:
    """The Slack app and the workspace the console signs people in with."""

    client_id: str
    client_secret: str = field(repr=False)  # never in a log line or a traceback's locals
    team_id: str
    console_url: str
    allowed_users: frozenset[str]
    authorize_url: str
    api_url: str

    @property
    def redirect_uri(self) -> str:
        """Where Slack sends people back (registered in the Slack app's Redirect URLs)."""
        return self.console_url.rstrip("/") + CALLBACK_PATH


SLACK_SIGN_IN_KEY = web.AppKey("console_slack_sign_in", SlackSignIn)


def sign_in_config(settings: Settings) -> SlackSignIn | None:
    """Sign in with Slack as the settings configure it (None when they do not)."""
    if not settings.slack_sign_in:
        return None
    assert settings.slack_client_id
    assert settings.slack_client_secret
    assert settings.slack_team_id
    assert settings.console_url
    return SlackSignIn(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        team_id=settings.slack_team_id,
        console_url=settings.console_url,
        allowed_users=frozenset(u.upper() for u in settings.console_slack_users),
        authorize_url=settings.slack_openid_url,
        api_url=settings.slack_api_url,
    )


class SignInRefused(Exception):
    """The ID token does not sign this person in; the message says why (no secrets)."""


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The claims of a JWT's payload (its signature is not checked: see the module). Pure."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise SignInRefused("Slack's ID token could not be read") from None
    if not isinstance(claims, dict):
        raise SignInRefused("Slack's ID token could not be read")
    return claims


def signed_in_user(claims: dict[str, Any], config: SlackSignIn, *, nonce: str, now: float) -> str:
    """The Slack user ID the claims sign in, or `SignInRefused`. Pure."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != ISSUER or config.client_id not in audiences:
        raise SignInRefused("the ID token was not issued by Slack for this app")
    expires = claims.get("exp")
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int | float)
        or not math.isfinite(expires)
        or expires < now
    ):
        raise SignInRefused("the ID token has expired")
    given = claims.get("nonce")
    if not isinstance(given, str) or not secrets.compare_digest(
        given.encode("utf-8", "surrogatepass"), nonce.encode()
    ):
        raise SignInRefused("the ID token is not for this sign-in")
    if claims.get(TEAM_CLAIM) != config.team_id:
        raise SignInRefused("only members of this workspace may sign in")
    user = claims.get(USER_CLAIM)
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise SignInRefused("the ID token names no Slack user")
    if config.allowed_users and user not in config.allowed_users:
        raise SignInRefused("this Slack account may not use the console")
    return user


async def start(request: web.Request) -> web.StreamResponse:
    """Off to Slack, with a state and a nonce tied to a round-trip cookie of this browser."""
    access = request.app[ACCESS_KEY]
    config = request.app[SLACK_SIGN_IN_KEY]
    round_trip, cookie = access.new_session(time.time(), signed_in=False, ttl_s=SIGN_IN_TTL_S)
    url = OpenIDConnectAuthorizeUrlGenerator(
        client_id=config.client_id,
        redirect_uri=config.redirect_uri,
        scopes=["openid", "profile"],
        authorization_url=config.authorize_url,
    ).generate(
        state=access.sign_in_state(round_trip),
        nonce=access.sign_in_nonce(round_trip),
        team=config.team_id,
    )
    redirect = web.HTTPFound(url)
    redirect.set_cookie(
        SIGN_IN_COOKIE,
        cookie,
        max_age=SIGN_IN_TTL_S,
        path="/console/login/slack",
        httponly=True,
        secure=served_over_https(request),
        samesite="Lax",
    )
    raise redirect


async def callback(request: web.Request) -> web.StreamResponse:
    """Slack's redirect back: check the state, trade the code for an ID token, check it,
    and sign the browser in as that Slack user."""
    access = request.app[ACCESS_KEY]
    config = request.app[SLACK_SIGN_IN_KEY]
    now = time.time()
    round_trip = access.read_session(request.cookies.get(SIGN_IN_COOKIE), now)
    state = request.query.get("state", "")
    if round_trip is None or not secrets.compare_digest(
        access.sign_in_state(round_trip).encode(), state.encode("utf-8", "surrogatepass")
    ):
        log.warning("Sign in with Slack: state did not match")
        return plain_error(403, "This sign-in could not be verified: start again.")
    if "error" in request.query or not request.query.get("code"):
        return plain_error(401, "Signing in with Slack was cancelled.")
    client = AsyncWebClient(base_url=config.api_url)
    try:
        response = await client.openid_connect_token(
            client_id=config.client_id,
            client_secret=config.client_secret,
            code=request.query["code"],
            redirect_uri=config.redirect_uri,
        )
        claims = id_token_claims(str(response.get("id_token") or ""))
        user = signed_in_user(claims, config, nonce=access.sign_in_nonce(round_trip), now=now)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        log.warning("Sign in with Slack: token refused", extra={"error": error})
        return plain_error(401, f"Slack refused the sign-in ({error}).")
    except (ClientError, OSError, TimeoutError):
        log.warning("Sign in with Slack: Slack unreachable", exc_info=True)
        return plain_error(502, "Slack could not be reached: try again.")
    except SignInRefused as exc:
        log.warning("Sign in with Slack refused", extra={"why": str(exc)})
        return plain_error(403, f"Not signed in: {exc}.")
    _, cookie = access.new_session(now, signed_in=True, user=user)
    log.info("signed in to the console with Slack", extra={"user": user})
    # A page, not a redirect: the session cookie is Strict, and a redirect chain that began
    # at slack.com would not carry it to the next page.
    response_page = web.Response(
        text=(
            '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'
            '<meta http-equiv="refresh" content="0;url=/console/playground">'
            '<title>Signed in</title><p>Signed in. <a href="/console/playground">Continue</a></p>'
        ),
        content_type="text/html",
    )
    set_session_cookie(response_page, cookie, secure=served_over_https(request))
    response_page.del_cookie(SIGN_IN_COOKIE, path="/console/login/slack")
    return response_page


def add_routes(app: web.Application, config: SlackSignIn) -> None:
    """GET /login/slack and its callback."""
    app[SLACK_SIGN_IN_KEY] = config
    app.router.add_get("/login/slack", start)
    app.router.add_get("/login/slack/callback", callback)
