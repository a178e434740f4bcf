"""Model clients and health endpoints: each client talks only to its own server."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import CLOSED_KEY, AppFactory, context_line
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.slack_api import FakeSlack, conversation
from tests.fakes.slack_requests import dm_event, mention_event


async def test_local_openai_client_ignores_the_closed_providers_environment(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    local_server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The OpenAI SDK reads these when it is given no URL or key; the local client must not.
    monkeypatch.setenv("OPENAI_BASE_URL", closed_server.base_url)
    monkeypatch.setenv("OPENAI_API_BASE", closed_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", CLOSED_KEY)
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app(openai_base_url=None)
    await app.sender.event(dm_event("payroll export", "D0DMALICE1"))
    await slack.wait_for_posts(1)
    assert local_server.saw("payroll export")
    assert closed_server.auth_headers == []
    assert all(CLOSED_KEY not in (h or "") for h in local_server.auth_headers)


async def test_local_ollama_model_answers_confidential_requests(
    make_app: AppFactory,
    slack: FakeSlack,
    closed_server: FakeModelServer,
    ollama_server: FakeModelServer,
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    app = await make_app(local_model="ollama:ollama-llama", local_base_url=ollama_server.base_url)
    await app.sender.event(mention_event("term sheet", "C0PRIVATE1"))
    (post,) = await slack.wait_for_posts(1)
    assert ollama_server.saw("term sheet")
    assert ollama_server.requests[0]["model"] == "ollama-llama"
    assert "answer from ollama-llama to: term sheet" in post["text"]
    assert closed_server.requests == []


async def test_readyz_checks_only_what_answering_needs_and_tells_no_internals(
    make_app: AppFactory,
    local_server: FakeModelServer,
    closed_server: FakeModelServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await make_app()
    async with app.session.get(f"{app.url}/healthz") as resp:
        assert resp.status == 200
    for _ in range(3):
        async with app.session.get(f"{app.url}/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"] == {"redis": "ok", "local_model": "ok"}
    # The closed API is optional for answering; probing it would spend its key each time.
    assert closed_server.auth_headers == []
    local_server.down = True
    with caplog.at_level(logging.WARNING):
        async with app.session.get(f"{app.url}/readyz") as resp:
            assert resp.status == 503
            text = await resp.text()
    assert json.loads(text) == {
        "status": "unavailable",
        "checks": {"redis": "ok", "local_model": "failing"},
    }
    # The reason goes to the log, for the operator.
    assert any(getattr(r, "check", None) == "local_model" for r in caplog.records)
    assert "503" in " ".join(str(getattr(r, "error", "")) for r in caplog.records)


async def test_readyz_reports_redis_down_without_its_error(make_app: AppFactory) -> None:
    app = await make_app(redis_url="redis://127.0.0.1:1/0", redis_socket_timeout_s=1)
    async with app.session.get(f"{app.url}/readyz") as resp:
        assert resp.status == 503
        text = await resp.text()
    assert json.loads(text)["checks"]["redis"] == "failing"
    assert "127.0.0.1" not in text
    assert "Error" not in text


async def test_tracing_that_would_upload_prompts_is_switched_off(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGSMITH_GATEWAY", "true")
    await make_app()
    assert os.environ["LANGSMITH_TRACING"] == "false"
    assert os.environ["LANGCHAIN_TRACING_V2"] == "false"
    assert os.environ["LANGSMITH_GATEWAY"] == "false"


@pytest.mark.parametrize("acknowledgement", ["yes", "true", "1", "confidential-prompts"])
async def test_anything_short_of_the_acknowledgement_keeps_uploads_off(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, acknowledgement: str
) -> None:
    import os

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_UPLOADS_ACKNOWLEDGED", acknowledgement)
    await make_app()
    assert os.environ["LANGSMITH_TRACING"] == "false"


async def test_the_acknowledgement_leaves_langsmith_tracing_on(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_UPLOADS_ACKNOWLEDGED", "confidential-prompts-leave-the-premises")
    await make_app()
    assert os.environ["LANGSMITH_TRACING"] == "true"


@pytest.mark.embedded
async def test_embedded_model_answers_end_to_end(
    make_app: AppFactory, slack: FakeSlack, closed_server: FakeModelServer
) -> None:
    slack.channels["D0DMALICE1"] = conversation("im", "D0DMALICE1")
    app = await make_app(
        local_model="embedded",
        local_base_url=None,
        closed_model="none",
        max_answer_tokens=24,
        model_timeout_s=60,
    )
    assert app.services.embedded is not None
    await app.sender.event(dm_event("What is the capital of France?", "D0DMALICE1"))
    (post,) = await slack.wait_for_posts(1, timeout=60)
    assert post["text"].strip()
    assert not post["text"].startswith("Sorry")
    assert "🔒 on-prem · smollm2-135m-instruct · direct message" in context_line(post)
    async with app.session.get(f"{app.url}/readyz") as resp:
        assert resp.status == 200
