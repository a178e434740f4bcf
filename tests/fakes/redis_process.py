"""A Redis server of the test's own, on a free loopback port, that the test can stop and
start again (outages), unlike the shared Redis every other test uses."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import tempfile

import redis.asyncio as aioredis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """`redis-server` on 127.0.0.1:<port>, nothing kept on disk unless `extra_args` say
    otherwise (they come last, so they win)."""

    def __init__(self, *extra_args: str, password: str | None = None) -> None:
        self._extra_args = extra_args
        self._password = password
        binary = shutil.which("redis-server")
        if binary is None:  # pragma: no cover - scripts/test.sh installs it
            raise RuntimeError("redis-server is not installed")
        self._binary = binary
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="hearthbot-redis-")
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> RedisProcess:
        self._process = await asyncio.create_subprocess_exec(
            self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self._dir, *self._extra_args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.Redis.from_url(self.url, password=self._password)
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return self
                except aioredis.ConnectionError:
                    await asyncio.sleep(0.02)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections stay open and nothing answers, as a hung host."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        """Kill it, as a crash or a restart does."""
        if self._process is not None:
            self.resume()
            self._process.kill()
            await self._process.wait()
            self._process = None

    async def cleanup(self) -> None:
        await self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
