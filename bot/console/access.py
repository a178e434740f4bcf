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
    """A browser's session: `signed_in` once it has given the token (or on loopback)."""

    nonce: str
    expires: int
    signed_in: bool


@dataclass(frozen=True)
class ConsoleAccess:
    """The console's access rules.

    `token` None means loopback only: anyone on this machine may use it, nobody else.
    With a token, a browser signs in once (a session cookie) and scripts may send it as
    `Authorization: Bearer`. Every state-changing request carries a CSRF token tied to the
    session, whatever the mode: a web page the user visits could otherwise post to a
    console on their own machine.
    """

    key: bytes
    token: str | None

    @classmethod
    def create(cls, token: str | None) -> ConsoleAccess:
        """With a token, the signing key derives from it (sessions hold across replicas
        and restarts, and end when the token changes); without one, a key per process."""
        if token is None:
            return cls(secrets.token_bytes(32), None)
        key = hashlib.sha256(b"hearthbot-console-session\0" + token.encode()).digest()
        return cls(key, token)

    @property
    def loopback_only(self) -> bool:
        """True when no token is configured (the console answers loopback only)."""
        return self.token is None

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, _bytes(payload), hashlib.sha256).hexdigest()

    def new_session(self, now: float, *, signed_in: bool) -> tuple[Session, str]:
        """A fresh session and its cookie value (a new nonce each time: no fixation)."""
        session = Session(secrets.token_urlsafe(18), int(now) + SESSION_TTL_S, signed_in)
        payload = f"{session.nonce}.{session.expires}.{'1' if signed_in else '0'}"
        return session, f"{payload}.{self._sign(payload)}"

    def read_session(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged or expired."""
        if not cookie or len(cookie) > 200:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not _same(self._sign(payload), signature):
            return None
        nonce, _, rest = payload.partition(".")
        expires, _, signed_in = rest.partition(".")
        if not expires.isdigit() or int(expires) < now or signed_in not in ("0", "1"):
            return None
        return Session(nonce, int(expires), signed_in == "1")

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
