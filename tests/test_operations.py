"""Operating `hearthbot serve`: `--host/--port`, `GET /metrics`, and the request id in every
log line. A real process, real Bolt over signed HTTP, real Redis, a real LangChain client
against a loopback model server; Slack is the fake."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import defaultdict

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from tests.conftest import CLOSED_KEY, TEST_REDIS_URL
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import ROOT, ServeRun, clean_env, free_port
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, mention_event, slash_form

QUESTION = "what did Mallory decide about the Tangerine merger"
SECRET_QUESTION = "the Tangerine deal terms for mallory@example.com"

Samples = dict[str, list[tuple[dict[str, str], float]]]


def samples(text: str) -> Samples:
    """Every sample of the exposition, by sample name."""
    found: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for got, v in found.get(name, []) if labels.items() <= got.items())


async def test_serve_flags_metrics_and_request_ids(
    slack: FakeSlack, local_server: FakeModelServer, closed_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    slack.channels["C0PUBLIC01"] = conversation("public", "C0PUBLIC01", "general")
    # One rate limit Slack's retry handler waits out, and one stream Slack refuses.
    slack.rate_limited["conversations.info"] = 1
    slack.rate_limited["chat.startStream"] = 1
    port = free_port()
    env = clean_env(
        TEST_REDIS_URL,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        # The flags must win over these, which could not be served.
        HOST="203.0.113.7",
        PORT="1",
        REDIS_PREFIX=f"hearthbot-ops-{port}",
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_BASE_URL=closed_server.base_url,
        OPENAI_API_KEY=CLOSED_KEY,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run = ServeRun(process, port)

    def answered_by(model: str) -> bool:
        return any(f"answer from {model}" in p.get("text", "") for p in slack.posts)

    try:
        await run.wait_healthy()
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, f"{run.base_url}/slack/events")
            status, _, _ = await sender.command(
                slash_form(SECRET_QUESTION, "C0PRIVATE1", "privategroup", slack.response_url())
            )
            assert status == 200
            await wait_until(lambda: answered_by("local-llama"), "the local answer")
            status, _, _ = await sender.event(mention_event(QUESTION, "C0PUBLIC01"))
            assert status == 200
            await wait_until(lambda: answered_by("closed-gpt"), "the closed answer")
            async with session.get(f"{run.base_url}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=")
                exposition = await resp.text()
    finally:
        run.signal()
        await run.stopped()
    assert run.returncode == 0, run.stderr

    found = samples(exposition)
    assert value(found, "hearthbot_requests_total", entry="ask") == 1
    assert value(found, "hearthbot_requests_total", entry="mention") == 1
    assert (
        value(
            found, "hearthbot_answers_total", route="local", model="local-llama", outcome="answered"
        )
        == 1
    )
    assert (
        value(
            found, "hearthbot_answers_total", route="closed", model="closed-gpt", outcome="answered"
        )
        == 1
    )
    assert (
        value(found, "hearthbot_route_reasons_total", route="local", reason="private_channel") == 1
    )
    assert (
        value(found, "hearthbot_route_reasons_total", route="local", reason="sensitive:email") == 1
    )
    assert (
        value(found, "hearthbot_route_reasons_total", route="closed", reason="public_channel") == 1
    )
    for route, model in (("local", "local-llama"), ("closed", "closed-gpt")):
        assert value(found, "hearthbot_model_seconds_count", route=route, model=model) == 1
        assert (
            value(found, "hearthbot_model_first_token_seconds_count", route=route, model=model) == 1
        )
    assert value(found, "hearthbot_detector_seconds_count") == 2
    # Slack: calls by method and status, the retried rate limit, the refused stream.
    assert (
        value(found, "hearthbot_slack_api_calls_total", method="conversations.info", status="429")
        == 1
    )
    assert (
        value(found, "hearthbot_slack_api_calls_total", method="conversations.info", status="200")
        >= 1
    )
    assert (
        value(
            found,
            "hearthbot_slack_api_retries_total",
            method="conversations.info",
            cause="rate_limited",
        )
        == 1
    )
    assert (
        value(
            found,
            "hearthbot_slack_api_errors_total",
            method="chat.startStream",
            error="ratelimited",
        )
        == 1
    )
    assert value(found, "hearthbot_queue_depth", route="local") == 0
    assert value(found, "hearthbot_model_in_flight", route="closed") == 0
    assert "process_resident_memory_bytes" in found

    # No label carries what people wrote, an address, a token or a response URL's path.
    label_values = {v for series in found.values() for labels, _ in series for v in labels.values()}
    for word in ("Tangerine", "Mallory", "mallory@example.com", BOT_TOKEN, "/response/"):
        assert not any(word.lower() in v.lower() for v in label_values), word

    # Every line logged while handling a request carries its id; the two requests have
    # different ids, and each id follows its request to the audit record.
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    audits = [line for line in lines if line.get("msg") == "route decision"]
    ids = {line.get("request_id") for line in audits}
    assert len(audits) == 2
    assert len(ids) == 2
    assert None not in ids
    msgs = [line["msg"] for line in lines]
    serving = lines[msgs.index("hearthbot serving") + 1 : msgs.index("hearthbot stopping")]
    assert len(serving) > len(audits)
    for line in serving:
        assert line.get("request_id") in ids, line
    assert QUESTION not in run.stderr
    assert "Tangerine" not in run.stderr


def test_metrics_labels_are_bounded() -> None:
    """Label values computed from outside input are ours or `other`/`response_url`."""
    assert metrics.slack_method("https://slack.com/api/chat.postMessage") == "chat.postMessage"
    assert metrics.slack_method("https://hooks.slack.com/commands/T1/2/abcSECRET") == "response_url"
    assert metrics.slack_method("https://slack.com/api/" + "x" * 500) == "response_url"
    assert metrics.slack_method("https://slack.com/api/chat.post?<script>") == "chat.post"
    assert metrics.reason_label("sensitive:credit_card") == "sensitive:credit_card"
    assert metrics.reason_label("x" * 65) == "other"
    assert metrics.reason_label("sensitive:café") == "other"
    assert metrics.slack_error_code(b'{"ok":true,"channel":"C1"}') is None
    assert metrics.slack_error_code(b'{"ok": false, "error": "channel_not_found"}') == (
        "channel_not_found"
    )
    assert metrics.slack_error_code(b'{"ok":false,"error":"Hello <@U1>"}') == "other"
    assert metrics.slack_error_code(b'{"ok":false,"error":') is None


def test_the_grafana_dashboard_uses_exactly_the_metrics_hearthbot_exports() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "hearthbot-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"\b((?:hearthbot|process)_[a-z_]+)\b", expr)
    }
    exported = {family.name for family in metrics.REGISTRY.collect()}
    assert used <= exported, used - exported
    ours = {name for name in exported if name.startswith("hearthbot_")}
    assert ours <= used, f"not on the dashboard: {ours - used}"
