"""Shared fixtures: a real Redis (a separate database and a key prefix per test), the Slack
fake, recording model servers, and the app itself served over HTTP on loopback."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bot.app import Services, build_bolt_app, build_services, build_web_app
from bot.console.web import console_access
from bot.settings import Settings
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender


def _test_redis_url() -> str:
    """The Redis at REDIS_URL, database 15: tests never touch the app's own database."""
    explicit = os.environ.get("HEARTHBOT_TEST_REDIS_URL")
    if explicit:
        return explicit
    parts = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit((parts.scheme, parts.netloc, "/15", "", ""))


TEST_REDIS_URL = _test_redis_url()
CLOSED_KEY = "sk-test-closed-provider-key"


@pytest.fixture
def redis_prefix() -> str:
    return f"hearthbot-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        await client.ping()
    except aioredis.ConnectionError as exc:  # pragma: no cover - .ci/run starts Redis
        pytest.fail(f"no Redis at {TEST_REDIS_URL}: {exc}")
    yield client
    async for key in client.scan_iter(match=f"{redis_prefix}:*"):
        await client.delete(key)
    await client.aclose()


def context_line(post: dict[str, Any]) -> str:
    """The routing context line under a posted answer (its last context block)."""
    blocks = post["blocks"]
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    contexts = [b for b in blocks if b.get("type") == "context"]
    assert contexts, f"no context line in {blocks!r}"
    return str(contexts[-1]["elements"][0]["text"])


def context_texts(post: dict[str, Any]) -> list[str]:
    """The context line under an answer and the notes beside it."""
    contexts = [b for b in post["blocks"] if b.get("type") == "context"]
    assert contexts, f"no context line in {post['blocks']!r}"
    return [str(e["text"]) for e in contexts[-1]["elements"]]


@pytest.fixture
def public(slack: FakeSlack) -> str:
    """A public channel, #general."""
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    return "C0PUBLIC01"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def closed_server() -> AsyncIterator[FakeModelServer]:
    server = await FakeModelServer("closed-gpt", "openai", api_key=CLOSED_KEY).start()
    yield server
    await server.stop()


@pytest.fixture
async def local_server() -> AsyncIterator[FakeModelServer]:
    server = await FakeModelServer("local-llama", "openai").start()
    yield server
    await server.stop()


@pytest.fixture
async def ollama_server() -> AsyncIterator[FakeModelServer]:
    server = await FakeModelServer("ollama-llama", "ollama").start()
    yield server
    await server.stop()


@dataclass
class RunningApp:
    """The app under test, served over HTTP, and a client that posts to it as Slack does."""

    url: str
    services: Services
    sender: SlackSender
    session: aiohttp.ClientSession


AppFactory = Callable[..., Awaitable[RunningApp]]


@pytest.fixture
async def make_app(
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> AsyncIterator[AppFactory]:
    """Build and serve the real app (real Bolt, real Redis, real LangChain clients)."""
    started: list[tuple[web.AppRunner, Services, aiohttp.ClientSession]] = []

    async def factory(**overrides: Any) -> RunningApp:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "slack_file_origin": slack.url,
            "redis_url": TEST_REDIS_URL,
            "redis_prefix": redis_prefix,
            "local_model": "openai:local-llama",
            "local_base_url": local_server.base_url,
            "closed_model": "openai:closed-gpt",
            "openai_api_key": CLOSED_KEY,
            "openai_base_url": closed_server.base_url,
            "model_timeout_s": 10,
            "policy_file": None,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        services = await build_services(settings)
        bolt = build_bolt_app(settings, services)
        # The console under `hearthbot console`'s rules for the settings' HOST and token.
        console = console_access(settings)
        runner, url = await serve_on_loopback(build_web_app(services, bolt, console))
        session = aiohttp.ClientSession()
        started.append((runner, services, session))
        return RunningApp(url, services, SlackSender(session, f"{url}/slack/events"), session)

    yield factory
    for runner, services, session in started:
        await session.close()
        await runner.cleanup()
        await services.aclose()
