"""`hearthbot serve` as a real process, as an operator runs it: for the CLI, shutdown and
two-replica tests and for scripts/chaos.py."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a process started by hand: nothing of the test's own but the path."""
    keep = {
        k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR"}
    }
    return {**keep, "REDIS_URL": redis_url, **extra}


@dataclass
class ServeRun:
    """A `hearthbot serve` process; `returncode` and `stderr` are set once it has stopped."""

    process: asyncio.subprocess.Process
    port: int | None = None
    returncode: int | None = None
    stderr: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_healthy(self, timeout_s: float = 30) -> None:
        """Until `/healthz` answers (the process has started serving)."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{self.base_url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.process.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError("hearthbot serve did not come up")
                await asyncio.sleep(0.1)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)

    async def stopped(self, timeout_s: float = 60) -> None:
        """Wait for the process to exit (after a signal), collecting its log (once)."""
        if self.returncode is not None:
            return
        try:
            _, stderr = await asyncio.wait_for(self.process.communicate(), timeout_s)
        except TimeoutError:
            self.process.kill()
            _, stderr = await self.process.communicate()
        self.returncode, self.stderr = self.process.returncode, stderr.decode()


async def start_serving(env: dict[str, str], *args: str) -> ServeRun:
    """Start `hearthbot serve` (HTTP on a free loopback port unless `env` says otherwise)."""
    port = int(env.get("PORT") or free_port())
    full_env = {"HOST": "127.0.0.1", **env, "PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", *args, env=full_env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return ServeRun(process, port)


@asynccontextmanager
async def serving(env: dict[str, str], *args: str) -> AsyncIterator[ServeRun]:
    """Run `hearthbot serve` for the block; SIGTERM and collect its log after."""
    run = await start_serving(env, *args)
    try:
        yield run
    finally:
        run.signal()
        await run.stopped()


@dataclass
class ConsoleRun:
    """The web console as a process, and the address it printed."""

    process: asyncio.subprocess.Process
    url: str
    printed: str

    async def stop(self) -> str:
        """SIGTERM, then its stderr (its log)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, stderr = await asyncio.wait_for(self.process.communicate(), 60)
        except TimeoutError:
            self.process.kill()
            _, stderr = await self.process.communicate()
        return stderr.decode()


@asynccontextmanager
async def console_process(
    env: dict[str, str], *command: str, timeout_s: float = 180
) -> AsyncIterator[ConsoleRun]:
    """Run `command` (`scripts/run.sh`, or `hearthbot console`) until it prints the console's
    address, as a newcomer would see it; stop it after the block."""
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    printed = ""
    run: ConsoleRun | None = None
    try:
        async with asyncio.timeout(timeout_s):
            while "/console" not in printed:
                line = await process.stdout.readline()
                if not line:
                    _, stderr = await process.communicate()
                    raise AssertionError(f"exited before printing the address:\n{stderr.decode()}")
                printed += line.decode()
        url = next(w for w in printed.split() if w.startswith("http://"))
        run = ConsoleRun(process, url, printed)
        yield run
    finally:
        if run is not None:
            await run.stop()
        elif process.returncode is None:
            process.kill()
            await process.communicate()
