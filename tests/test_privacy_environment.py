"""No environment variable of a provider or of the HTTP stack changes where or how
confidential text travels: the on-prem client obeys hearthbot's own settings only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import AppFactory
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.recording_proxy import RecordingProxy
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import mention_event

SECRET_QUESTION = "why was card 4111 1111 1111 1111 declined for ACME?"


@pytest.fixture
async def sink() -> AsyncIterator[RecordingProxy]:
    proxy = await RecordingProxy().start()
    yield proxy
    await proxy.stop()


def point_everything_at(monkeypatch: pytest.MonkeyPatch, sink: RecordingProxy) -> None:
    """Every variable an operator might set for the cloud provider or for egress."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "OPENAI_PROXY"):  # fmt: skip
        monkeypatch.setenv(name, sink.url)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sink.url}/v1")
    monkeypatch.setenv("OPENAI_API_BASE", f"{sink.url}/v1")
    monkeypatch.setenv("OLLAMA_HOST", sink.url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sink.url)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-leak")
    monkeypatch.setenv("OPENAI_ORGANIZATION", "org-leak")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-leak")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: custom-header")
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-cloud-key-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-leak")
    monkeypatch.setenv("NO_PROXY", "")


def assert_untouched(local: FakeModelServer, sink: RecordingProxy) -> None:
    assert local.saw("4111 1111 1111 1111"), "the on-prem server did not get the question"
    local_host = local.url.removeprefix("http://")
    assert local_host not in sink.hosts(), "confidential text travelled through the proxy"
    assert all(r.target.startswith("http://") for r in sink.requests), "a base URL was obeyed"
    for headers in local.headers:
        assert "openai-organization" not in headers
        assert "openai-project" not in headers
        assert "x-leak" not in headers
        assert "leak" not in headers.get("authorization", "")


@pytest.mark.parametrize("provider", ["openai", "ollama"])
async def test_provider_and_proxy_variables_never_reach_the_on_prem_client(
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    sink: RecordingProxy,
    make_app: AppFactory,
    slack: FakeSlack,
    local_server: FakeModelServer,
    ollama_server: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    point_everything_at(monkeypatch, sink)
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    local = local_server if provider == "openai" else ollama_server
    overrides = (
        {}
        if provider == "openai"
        else {"local_model": "ollama:ollama-llama", "local_base_url": ollama_server.base_url}
    )
    app = await make_app(**overrides)
    await app.sender.event(mention_event(SECRET_QUESTION, "C0PRIVATE1"))
    (post,) = await slack.wait_for_posts(1)
    assert_untouched(local, sink)
    assert closed_server.requests == []
    assert f"answer from {local.name}" in post["text"]


async def test_local_proxy_is_the_one_way_to_proxy_the_on_prem_client(
    sink: RecordingProxy,
    make_app: AppFactory,
    slack: FakeSlack,
    local_server: FakeModelServer,
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    app = await make_app(local_proxy=sink.url)
    await app.sender.event(mention_event(SECRET_QUESTION, "C0PRIVATE1"))
    await slack.wait_for_posts(1)
    assert local_server.url.removeprefix("http://") in sink.hosts()
    assert local_server.saw("4111 1111 1111 1111")
