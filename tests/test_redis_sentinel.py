"""Redis run by Sentinel (`REDIS_URL=redis+sentinel://…`): the app finds the master through
real Sentinels, answers with memory, audit, de-duplication and rate limits there, and
follows a failover to the promoted replica without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.redis_urls import SentinelUrl, parse_sentinel_url
from bot.settings import ConfigError, load_settings
from tests.conftest import AppFactory
from tests.fakes.redis_process import RedisProcess, free_port
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import mention_event

SERVICE = "hearthbot-test"
PASSWORD = "sentinel-test-password"


class SentinelProcess:
    """`redis-server --sentinel` watching one master, deciding alone (quorum 1)."""

    def __init__(self, master_port: int, directory: Path) -> None:
        self.port = free_port()
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 1\n"
            f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} 500\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> SentinelProcess:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", str(self.config), "--sentinel",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.Redis(port=self.port)
        try:
            for _ in range(200):
                try:
                    await client.execute_command("SENTINEL", "MASTERS")
                    return self
                except aioredis.ConnectionError:
                    await asyncio.sleep(0.02)
            raise RuntimeError("redis-sentinel did not start")
        finally:
            await client.aclose()

    async def master_port(self) -> int:
        client = aioredis.Redis(port=self.port, decode_responses=True)
        try:
            _, port = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(port)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            await self._process.wait()


@pytest.fixture
async def sentinel_setup(
    tmp_path: Path,
) -> AsyncIterator[tuple[RedisProcess, RedisProcess, SentinelProcess]]:
    auth = ("--requirepass", PASSWORD, "--masterauth", PASSWORD)
    master = await RedisProcess(*auth, password=PASSWORD).start()
    replica = await RedisProcess(
        *auth, "--replicaof", "127.0.0.1", str(master.port), password=PASSWORD
    ).start()
    sentinel = await SentinelProcess(master.port, tmp_path).start()
    client = aioredis.Redis(port=replica.port, password=PASSWORD, decode_responses=True)
    try:
        for _ in range(250):
            if (await client.info("replication")).get("master_link_status") == "up":
                break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("the replica did not connect to its master")
    finally:
        await client.aclose()
    yield master, replica, sentinel
    await sentinel.stop()
    for server in (replica, master):
        await server.cleanup()


async def test_the_app_answers_through_sentinel_and_follows_a_failover(
    make_app: AppFactory,
    slack: FakeSlack,
    sentinel_setup: tuple[RedisProcess, RedisProcess, SentinelProcess],
) -> None:
    master, replica, sentinel = sentinel_setup
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    app = await make_app(
        redis_url=f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}/3",
        redis_password=PASSWORD,
    )
    prefix = app.services.settings.redis_prefix
    direct = aioredis.Redis(port=master.port, password=PASSWORD, db=3, decode_responses=True)

    async def ask(text: str, count: int) -> None:
        status, _, _ = await app.sender.event(mention_event(text, "C0PUBLIC01"))
        assert status == 200
        await slack.wait_for_posts(count)

    try:
        await ask("first question", 1)
        # Everything the request wrote is on the master Sentinel named, in db 3.
        keys = await direct.keys(f"{prefix}:*")
        kinds = {key.split(":")[1] for key in keys}
        assert {"event", "audit", "limits", "memory", "channel"} <= kinds, kinds
        # Replication is asynchronous: let the replica catch up before the master dies (a
        # real failover can lose the last writes; README, "Redis").
        assert await direct.execute_command("WAIT", 1, 5000) == 1
    finally:
        await direct.aclose()

    # The master dies; Sentinel promotes the replica; the same app carries on.
    await master.stop()
    deadline = time.monotonic() + 30
    while await sentinel.master_port() != replica.port:
        assert time.monotonic() < deadline, "Sentinel did not fail over"
        await asyncio.sleep(0.2)
    await ask("second question after the failover", 2)
    promoted = aioredis.Redis(port=replica.port, password=PASSWORD, db=3)
    try:
        # The audit record is written beside the answer's delivery: wait for it.
        for _ in range(100):
            if await promoted.xlen(f"{prefix}:audit") == 2:
                break
            await asyncio.sleep(0.05)
        assert await promoted.xlen(f"{prefix}:audit") == 2
    finally:
        await promoted.aclose()


def test_sentinel_urls_are_parsed_and_bad_ones_named() -> None:
    assert parse_sentinel_url("redis://localhost:6379/0") is None
    assert parse_sentinel_url("redis+sentinel://a:26379,[::1]:26380/mymaster/2") == (
        SentinelUrl([("a", 26379), ("::1", 26380)], "mymaster", 2)
    )
    parsed = parse_sentinel_url("rediss+sentinel://:s%40cret@s1:26379/svc")
    assert parsed == SentinelUrl([("s1", 26379)], "svc", 0, "s@cret", tls=True)
    for bad, says in (
        ("redis+sentinel://s1/svc", "host:port"),
        ("redis+sentinel://s1:26379", "/<service>"),
        ("redis+sentinel://s1:26379/svc/x", "must be a number"),
        ("redis+sentinel://s1:99999/svc", "host:port"),
    ):
        with pytest.raises(ConfigError, match=says):
            load_settings(_env_file=None, redis_url=bad)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings(_env_file=None, redis_url="http://localhost:6379")


def test_tls_sentinel_urls_reach_the_sentinels_over_tls_too() -> None:
    from redis.asyncio.connection import SSLConnection

    from bot.redis_client import open_redis

    settings = load_settings(_env_file=None, redis_url="rediss+sentinel://:pw@s1:26379/svc/1")
    client = open_redis(settings)
    pool = client.connection_pool
    assert issubclass(pool.connection_class, SSLConnection)  # the master
    (sentinel,) = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert issubclass(sentinel.connection_pool.connection_class, SSLConnection)
    assert sentinel.connection_pool.connection_kwargs["password"] == "pw"
