"""The one Redis client the app shares: a blocking connection pool, so a burst of requests
waits for a free connection instead of failing, with timeouts and retries so a Redis that
restarts is an outage of seconds, not a crash or a hang."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.redis_urls import parse_sentinel_url
from bot.settings import Settings

# Reconnect attempts per command (redis-py's own retry, with jittered backoff capped at 1 s):
# enough to ride over a restart's refused connections without holding a request for long.
# Only refused or dropped connections are retried, never a timeout: a Redis that hangs
# would otherwise hold every command for (retries + 1) x the timeout.
RECONNECT_RETRIES = 3
# Seconds a best-effort Redis call (a cache read or write, an audit entry) may take before
# the request goes on without it; REDIS_SOCKET_TIMEOUT_S bounds the calls answering needs.
BEST_EFFORT_TIMEOUT_S = 1.0


class BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's pool (it asks the Sentinels where the master is, and follows a failover)
    with the blocking pool's waiting for a free connection."""


def open_redis(settings: Settings) -> aioredis.Redis:
    """A client on a `BlockingConnectionPool` sized by REDIS_MAX_CONNECTIONS, to the server
    REDIS_URL names, or to the master its Sentinels name (`redis+sentinel://`).

    redis-py's default pool raises `MaxConnectionsError` once every connection is in use,
    which under load failed requests that only had to wait a few milliseconds.
    """
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    options: dict[str, Any] = {
        "max_connections": settings.redis_max_connections,
        "timeout": settings.redis_pool_timeout_s,
        "socket_timeout": settings.redis_socket_timeout_s,
        "socket_connect_timeout": settings.redis_socket_timeout_s,
        "retry": Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=1.0),
            RECONNECT_RETRIES,
            supported_errors=(RedisConnectionError,),
        ),
        "retry_on_error": [RedisConnectionError],
        # A connection idle for this long is checked before use, so one that a Redis
        # restart closed is replaced instead of failing the next command.
        "health_check_interval": 10,
    }
    sentinel = parse_sentinel_url(settings.redis_url)
    if sentinel is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, password=password, **options
        )
        return aioredis.Redis.from_pool(pool)
    sentinels = Sentinel(  # type: ignore[no-untyped-call]
        sentinel.hosts,
        # The Sentinels too are reached over TLS with rediss+sentinel:// (their password
        # would otherwise cross the network in clear).
        sentinel_kwargs={
            "password": sentinel.password,
            "ssl": sentinel.tls,
            "socket_timeout": settings.redis_socket_timeout_s,
            "socket_connect_timeout": settings.redis_socket_timeout_s,
        },
    )
    client: aioredis.Redis = sentinels.master_for(
        sentinel.service,
        connection_pool_class=BlockingSentinelPool,
        db=sentinel.db,
        password=password,
        ssl=sentinel.tls,
        **options,
    )
    return client
