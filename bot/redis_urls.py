"""REDIS_URL's forms beyond redis-py's own: `redis+sentinel://` for a Redis run by Sentinel."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote


@dataclass(frozen=True)
class SentinelUrl:
    """`redis+sentinel://[:password@]host:port[,host:port…]/service[/db]`; the password is
    the Sentinels' own (REDIS_PASSWORD is the master's)."""

    hosts: list[tuple[str, int]]
    service: str
    db: int = 0
    password: str | None = None
    tls: bool = False


SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}


def parse_sentinel_url(url: str) -> SentinelUrl | None:
    """The Sentinels and the service of a `redis+sentinel://` URL; None for any other
    scheme. Raises ValueError naming what is wrong. Pure."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SENTINEL_SCHEMES:
        return None
    netloc, _, path = rest.partition("/")
    password = None
    if "@" in netloc:
        auth, _, netloc = netloc.rpartition("@")
        password = unquote(auth.partition(":")[2]) or None
    hosts = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                "the Sentinels must be host:port,host:port (a Sentinel listens on 26379); "
                "a password must be percent-encoded"
            )
        hosts.append((host.strip("[]"), int(port)))
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("the path must be /<service>[/<db>], e.g. /mymaster/0")
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError("the database after the service must be a number")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelUrl(hosts, unquote(parts[0]), db, password, SENTINEL_SCHEMES[scheme])
