"""Who may use the console: sessions, the operator's token and CSRF tokens. Pure: the web
layer (`bot.console.guard`) reads cookies and headers and asks these functions.

Why not a library: aiohttp-session would add a cookie store we do not need (a signed cookie
is the whole session), and the aiohttp CSRF packages are unmaintained. What is here is a
signed cookie and an HMAC of it, compared in constant time: small enough to read whole.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "hearthbot_console"
SESSION_TTL_S = 12 * 3600
# The token an operator sets must not be guessable: at least this many characters.
MIN_TOKEN_CHARS = 16


def _bytes(text: str) -> bytes:
    # Cookies and headers may carry any character (even lone surrogates): compared as bytes.
    return text.encode("utf-8", "surrogatepass")


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold."""
    return hmac.compare_digest(_bytes(a), _bytes(b))


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (`127.0.0.1`, `::1`, `[::1]`). Pure."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_header_name(header: str) -> str:
    """The host name in an HTTP Host header (`[::1]:8000` → `::1`, `a:80` → `a`). Pure."""
    value = header.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Session:
    """A browser's session: `signed_in` once it has given the token, signed in with Slack
    (`user`: the Slack user ID) or on loopback."""

    nonce: str
    expires: int
    signed_in: bool
    user: str = ""


# A Slack user ID, as a session may name one.
USER_ID = re.compile(r"[A-Z0-9]{2,30}")


@dataclass(frozen=True)
class ConsoleAccess:
    """The console's access rules.

    With neither a token nor Sign in with Slack, loopback only: anyone on this machine may
    use it, nobody else. Otherwise a browser signs in once (a session cookie), with the
    token or with Slack, and scripts may send the token as `Authorization: Bearer`. Every
    state-changing request carries a CSRF token tied to the session, whatever the mode: a
    web page the user visits could otherwise post to a console on their own machine.
    """

    key: bytes
    token: str | None
    slack: bool = False

    @classmethod
    def create(
        cls, token: str | None, slack_secret: str | None = None, slack_scope: str = ""
    ) -> ConsoleAccess:
        """The signing key derives from the token, or else from the Slack app's client
        secret, and from `slack_scope` (the workspace and the users allowed): sessions hold
        across replicas and restarts, and all end when any of these changes (someone taken
        off the list is signed out). With neither, a key per process."""
        secret = token if token is not None else slack_secret
        if secret is None:
            return cls(secrets.token_bytes(32), None)
        material = f"hearthbot-console-session\0{secret}\0{slack_scope}".encode()
        return cls(hashlib.sha256(material).digest(), token, slack=slack_secret is not None)

    @property
    def loopback_only(self) -> bool:
        """True when nobody can sign in (the console answers loopback only)."""
        return self.token is None and not self.slack

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, _bytes(payload), hashlib.sha256).hexdigest()

    def new_session(
        self, now: float, *, signed_in: bool, user: str = "", ttl_s: int = SESSION_TTL_S
    ) -> tuple[Session, str]:
        """A fresh session and its cookie value (a new nonce each time: no fixation)."""
        if user and not USER_ID.fullmatch(user):
            raise ValueError("not a Slack user ID")
        session = Session(secrets.token_urlsafe(18), int(now) + ttl_s, signed_in, user)
        payload = f"{session.nonce}.{session.expires}.{'1' if signed_in else '0'}.{user}"
        return session, f"{payload}.{self._sign(payload)}"

    def read_session(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged or expired."""
        if not cookie or len(cookie) > 200:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not _same(self._sign(payload), signature):
            return None
        parts = payload.split(".")
        if len(parts) != 4:
            return None
        nonce, expires, signed_in, user = parts
        if not expires.isdigit() or int(expires) < now:
            return None
        if signed_in not in ("0", "1") or (user and not USER_ID.fullmatch(user)):
            return None
        return Session(nonce, int(expires), signed_in == "1", user)

    def sign_in_state(self, session: Session) -> str:
        """The `state` of a Sign in with Slack round trip: it must come back to the session
        that started it (against login CSRF)."""
        return self._sign(f"oidc-state.{session.nonce}")

    def sign_in_nonce(self, session: Session) -> str:
        """The `nonce` Slack must put in the ID token it issues for this session."""
        return self._sign(f"oidc-nonce.{session.nonce}")[:32]

    def csrf_token(self, session: Session) -> str:
        """The token every form and state-changing request of this session must carry."""
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        """True when `given` is this session's CSRF token."""
        if session is None or not given:
            return False
        return _same(self.csrf_token(session), given)

    def token_ok(self, given: str | None) -> bool:
        """True when `given` is the operator's token (compared in constant time)."""
        if self.token is None or not given:
            return False
        return hmac.compare_digest(
            hashlib.sha256(_bytes(given)).digest(), hashlib.sha256(_bytes(self.token)).digest()
        )
