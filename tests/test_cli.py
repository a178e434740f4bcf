"""The `hearthbot` command as an operator runs it: real processes, real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.fakes.loopback import wait_until
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.serve_process import clean_env, free_port, serving
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack, conversation, load
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, mention_event, slash_form

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    return clean_env(TEST_REDIS_URL, **extra)


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_local_openai_model_without_base_url_stops_start_up_with_one_clear_line() -> None:
    result = _run(["chat"], _env(LOCAL_MODEL="openai:qwen2.5"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "LOCAL_BASE_URL" in lines[0]
    assert result.stdout == ""


def test_a_bad_value_names_its_variable() -> None:
    result = _run(["chat"], _env(PORT="seventy", CLOSED_MODEL="gemini:pro"))
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "CLOSED_MODEL" in result.stderr


def test_serve_over_http_without_a_signing_secret_refuses_to_start() -> None:
    # With an app token set, --http used to start and then answer every request with 500.
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        LOCAL_MODEL="openai:nowhere",
        LOCAL_BASE_URL="http://127.0.0.1:9/v1",
        PORT=str(free_port()),
    )
    result = _run(["serve", "--http"], env)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET: required to serve Slack over HTTP" in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_with_a_token_slack_rejects_refuses_to_start(slack: FakeSlack) -> None:
    env = _env(
        SLACK_BOT_TOKEN="xoxb-0000-revoked",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        LOCAL_MODEL="openai:nowhere",
        LOCAL_BASE_URL="http://127.0.0.1:9/v1",
        PORT=str(free_port()),
    )
    # Asynchronously: the Slack fake answers on this test's event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--http", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    stderr = err.decode()
    assert process.returncode == 2
    assert "SLACK_BOT_TOKEN: Slack refused it (invalid_auth)" in stderr
    assert "xoxb-0000-revoked" not in stderr
    assert "Traceback" not in stderr


async def test_chat_prints_answers_with_their_route_line(
    local_server: FakeModelServer, closed_server: FakeModelServer
) -> None:
    env = _env(
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_API_KEY="sk-test-closed-provider-key",
        OPENAI_BASE_URL=closed_server.base_url,
        CONFIDENTIAL_CHANNELS="#legal",
    )
    runs = {
        ("--channel", "general"): "☁️ closed-gpt",
        ("--channel", "legal"): "🔒 on-prem · local-llama · confidential channel",
        ("--dm",): "🔒 on-prem · local-llama · direct message",
        ("--private",): "🔒 on-prem · local-llama · private channel",
    }
    for args, line in runs.items():
        result = await asyncio.to_thread(_run, ["chat", *args], env, "hello there\n\n")
        assert result.returncode == 0, result.stderr
        assert line in result.stdout
        assert "answer from" in result.stdout
        assert "hello there" not in result.stderr  # no message text in the logs
        # The conversation is not interleaved with INFO log lines (the audit has them).
        assert "route decision" not in result.stderr
        assert "route decision" not in result.stdout


async def test_serve_answers_slack_over_http(
    slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    port = free_port()
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        HOST="127.0.0.1",
        PORT=str(port),
        REDIS_PREFIX=f"hearthbot-cli-{port}",
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
    )
    async with serving(env) as run, aiohttp.ClientSession() as session:
        base = run.base_url
        await run.wait_healthy()
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        sender = SlackSender(session, f"{base}/slack/events")
        status, _, _ = await sender.command(
            slash_form("the secret merger", "C0PRIVATE1", "privategroup", slack.response_url())
        )
        assert status == 200
        _, answer = await slack.wait_for_posts(2)
        assert "answer from local-llama to: the secret merger" in answer["text"]
        # Beside Slack the console needs CONSOLE_TOKEN, even on loopback (a proxy in front
        # of /slack/events would otherwise publish it).
        async with session.get(f"{base}/console/playground", allow_redirects=False) as resp:
            assert resp.status == 403
            assert "CONSOLE_TOKEN" in await resp.text()
    assert run.returncode == 0
    # The identity was confirmed once, before any request (they are acknowledged first).
    (auth_test,) = slack.calls_to("auth.test")
    assert auth_test.at < slack.calls_to("chat.postMessage")[0].at
    logs = run.stderr
    assert "the secret merger" not in logs  # message text never reaches the log at INFO
    assert BOT_TOKEN not in logs
    assert SIGNING_SECRET not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    (record,) = [line["audit"] for line in lines if line.get("msg") == "route decision"]
    assert record["route"] == "local"
    assert record["reasons"] == ["private_channel"]
    assert record["outcome"] == "answered"


def test_route_explains_a_decision_without_calling_a_model(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "confidential_channels: ['#legal']\n"
        "sensitive:\n  custom_patterns:\n    - name: codename\n      pattern: '\\bfalcon\\b'\n"
    )
    env = _env(
        # An unreachable local model proves no model is called.
        LOCAL_MODEL="openai:nowhere",
        LOCAL_BASE_URL="http://127.0.0.1:9/v1",
        CLOSED_MODEL="openai:gpt-4.1-mini",
        OPENAI_API_KEY="sk-test-not-used",
        POLICY_FILE=str(policy),
    )
    public = _run(["route", "how do I write a haiku?", "--channel", "#general"], env)
    assert public.returncode == 0, public.stderr
    assert "route:   closed" in public.stdout
    assert "public_channel" in public.stdout

    card = _run(["route", "card 4111 1111 1111 1111 and falcon", "--json"], env)
    payload = json.loads(card.stdout)
    assert payload["route"] == "local"
    assert payload["reasons"] == ["sensitive:credit_card", "sensitive:custom:codename"]
    assert payload["redacted"] == "card [credit_card] and [custom:codename]"

    legal = _run(["route", "hello", "--channel", "#legal", "--json"], env)
    assert json.loads(legal.stdout)["reasons"] == ["listed_channel"]
    private = _run(["route", "hello", "--channel", "C0123", "--kind", "private", "--json"], env)
    # No --name given, and the policy lists channels by name: the name rule may apply.
    assert json.loads(private.stdout)["reasons"] == ["channel_name_unknown", "private_channel"]


def test_bad_policy_file_stops_with_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("sensitive:\n  custom_patterns:\n    - name: bad\n      pattern: '('\n")
    result = _run(["route", "x"], _env(POLICY_FILE=str(policy)))
    assert result.returncode == 2
    assert "not a valid regular expression: missing )" in result.stderr
    assert "Value error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_audit_tail_and_stats_read_the_stream(local_server: FakeModelServer) -> None:
    prefix = f"hearthbot-audit-{os.getpid()}-{time.monotonic_ns()}"
    env = _env(
        LOCAL_MODEL="openai:local-llama",
        LOCAL_BASE_URL=local_server.base_url,
        REDIS_PREFIX=prefix,
    )
    chatted = await asyncio.to_thread(
        _run, ["chat", "--dm"], env, "first question\nsecond with jane@corp.io\n\n"
    )
    assert chatted.returncode == 0, chatted.stderr
    tail = _run(["audit", "tail", "-n", "5", "--json"], env)
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    # The DM made the first turn confidential, so the second is also a confidential thread.
    assert [r["reasons"] for r in records] == [
        ["direct_message"],
        ["direct_message", "sensitive:email", "sticky_thread"],
    ]
    assert all(r["outcome"] == "answered" for r in records)
    assert "jane@corp.io" not in tail.stdout
    stats = json.loads(_run(["audit", "stats", "--since", "1h", "--json"], env).stdout)
    assert stats["requests"] == 2
    assert stats["by_route"] == {"local": 2}
    assert stats["by_reason"]["direct_message"] == 2
    human = _run(["audit", "stats", "--since", "1h"], env).stdout
    assert "2 requests" in human
    bad = _run(["audit", "stats", "--since", "yesterday"], env)
    assert bad.returncode == 2
    assert "--since" in bad.stderr


async def test_the_summary_evaluation_runs(local_server: FakeModelServer) -> None:
    env = _env(LOCAL_MODEL="openai:local-llama", LOCAL_BASE_URL=local_server.base_url)
    command = [sys.executable, "scripts/eval_summaries.py", "--limit", "3"]
    # In a thread: the fake model server runs on this test's event loop.
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["emails"] == 3
    assert figures["model"] == "openai:local-llama"
    # The fake answers with a schema instance: valid JSON, first enum values (intent
    # "question", urgency "low"), facts that are not the email's.
    assert figures["valid_first_try"] == 1.0
    assert figures["intent_accuracy"] == pytest.approx(1 / 3)
    assert figures["key_fact_recall"] == 0.0


async def test_serve_in_socket_mode_answers_over_the_websocket(
    slack: FakeSlack, local_server: FakeModelServer
) -> None:
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    port = free_port()
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url,
        HOST="127.0.0.1", PORT=str(port), REDIS_PREFIX=f"hearthbot-socket-{port}",
        LOCAL_MODEL="openai:local-llama", LOCAL_BASE_URL=local_server.base_url,
    )  # fmt: skip
    async with serving(env) as run:
        event = mention_event("the secret merger", "C0PRIVATE1")
        envelope_id = await slack.socket_send("events_api", event)
        (answer,) = await slack.wait_for_posts(1)
        assert "answer from local-llama to: the secret merger" in answer["text"]
        assert {"envelope_id": envelope_id} in slack.socket_acks  # acknowledged over the socket
        command = dict(load("slash_command_ask.fields"))
        command.update(
            {"channel_id": "C0PRIVATE1", "text": "", "response_url": slack.response_url()}
        )
        await slack.socket_send("slash_commands", command)
        await wait_until(lambda: len(slack.socket_acks) == 2, "the command's ack", 20)
        assert "/ask --local" in slack.socket_acks[1]["payload"]["text"]  # usage, in the ack
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            assert resp.status == 200
            async with session.post(f"http://127.0.0.1:{port}/slack/events", data=b"{}") as post:
                assert post.status == 404  # no HTTP endpoint for Slack in Socket Mode
    assert run.returncode == 0


def test_a_missing_embedded_model_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    result = _run(["chat"], _env(EMBEDDED_MODEL_PATH=str(missing)))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"hearthbot: EMBEDDED_MODEL_PATH: no such file: {missing}"
    )
