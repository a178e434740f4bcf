"""Where shared files may be downloaded from with the bot token. Pure: no I/O."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

SLACK_FILE_HOSTS = frozenset({"files.slack.com"})


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:  # a malformed URL (bad port, bad IPv6 literal...)
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def download_allowed(url: str, extra_origin: str | None) -> bool:
    """HTTPS to Slack's file host, or exactly the configured extra origin. Pure."""
    origin = _origin(url)
    if origin is None:
        return False
    scheme, host, port = origin
    if scheme == "https" and host in SLACK_FILE_HOSTS and port in (None, 443):
        return True
    if extra_origin is None:
        return False
    return origin == _origin(extra_origin)


def check_extra_origin(extra_origin: str) -> None:
    """Refuse an extra origin that would send the token in clear text off this machine."""
    origin = _origin(extra_origin)
    if origin is None or origin[0] not in {"https", "http"} or not origin[1]:
        raise ValueError("must be an origin such as https://files.example.com")
    if origin[0] == "http" and not _is_loopback(origin[1]):
        raise ValueError("plain http is allowed only on loopback (the bot token travels)")
