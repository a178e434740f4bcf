"""OpenTelemetry tracing: off by default, and when on (TRACING=otlp) spans reach an OTLP
collector over HTTP with what happened and never what was said. A real `hearthbot serve`,
the real OTLP exporter, and a collector that decodes OpenTelemetry's protobuf."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import TEST_REDIS_URL
from tests.fakes.loopback import serve_on_loopback, wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import clean_env, serving
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, slash_form

QUESTION = "summarise the Bluefin acquisition for mallory@example.com"


class Collector:
    """An OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._receive)
        self._runner, self.url = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    server = await Collector().start()
    yield server
    await server.stop()


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            found[kv.key] = [v.string_value for v in value.array_value.values]
        else:
            found[kv.key] = getattr(value, kind)
    return found


async def ask_once(env: dict[str, str], slack: FakeSlack) -> str:
    async with serving(env) as run, aiohttp.ClientSession() as session:
        await run.wait_healthy()
        sender = SlackSender(session, f"{run.base_url}/slack/events")
        status, _, _ = await sender.command(
            slash_form(QUESTION, "C0PRIVATE1", "privategroup", slack.response_url())
        )
        assert status == 200

        def answered() -> bool:
            return any("answer from local-llama" in p.get("text", "") for p in slack.posts)

        await wait_until(answered, "the answer")
    assert run.returncode == 0, run.stderr
    return run.stderr


async def test_spans_say_what_happened_and_never_what_was_said(
    slack: FakeSlack, local_server: FakeModelServer, collector: Collector
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    base = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "LOCAL_MODEL": "openai:local-llama",
        "LOCAL_BASE_URL": local_server.base_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
    }
    # Off by default: the endpoint alone sends nothing.
    run_id = uuid.uuid4().hex[:8]  # a fresh key prefix: nothing remembered from other runs
    await ask_once(clean_env(TEST_REDIS_URL, REDIS_PREFIX=f"trace-off-{run_id}", **base), slack)
    await asyncio.sleep(0.5)
    assert collector.spans == []

    env = clean_env(TEST_REDIS_URL, REDIS_PREFIX=f"trace-on-{run_id}", TRACING="otlp", **base)
    log = await ask_once(env, slack)  # the spans are flushed when serve stops
    by_name: dict[str, list[Any]] = {}
    for span in collector.spans:
        by_name.setdefault(span.name, []).append(span)
    assert {"slack.request", "answer", "classify", "model"} <= by_name.keys()
    (answer,) = by_name["answer"]
    facts = attributes(answer)
    assert facts["hearthbot.route"] == "local"
    assert facts["hearthbot.model"] == "local-llama"
    assert facts["hearthbot.outcome"] == "answered"
    assert set(facts["hearthbot.reasons"]) == {"private_channel", "sensitive:email"}
    # One trace from Slack's request to the model's answer.
    (request,) = [s for s in by_name["slack.request"] if s.trace_id == answer.trace_id]
    # The id the front gave the request is the one its log lines carry (handed to Bolt).
    request_id = attributes(request)["hearthbot.request_id"]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    (audit,) = [line for line in lines if line.get("msg") == "route decision"]
    assert audit["request_id"] == request_id
    assert by_name["model"][0].trace_id == answer.trace_id
    for name in ("classify", "model"):
        assert by_name[name][0].parent_span_id == answer.span_id
    # Nothing anyone wrote, in any span's name or attribute.
    for span in collector.spans:
        shown = f"{span.name} {attributes(span)}"
        for word in ("Bluefin", "mallory", "example.com", BOT_TOKEN):
            assert word not in shown, (word, shown)


def test_a_failed_step_records_its_exception_type_and_never_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenTelemetry's default would keep the message and the stack trace of the exception
    and of its cause, which can quote the question."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from bot import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "TRACER", provider.get_tracer("hearthbot"))

    def fail() -> None:
        try:
            raise ValueError(f"could not parse {QUESTION}")
        except ValueError as exc:
            raise RuntimeError("RuntimeError") from exc

    with pytest.raises(RuntimeError), tracing.span("answer"):
        fail()
    (recorded,) = exporter.get_finished_spans()
    assert recorded.attributes == {"error.type": "RuntimeError"}
    assert recorded.status.status_code.name == "ERROR"
    assert not recorded.status.description
    assert recorded.events == ()  # no exception event, no stack trace
