"""`hearthbot doctor` as an operator runs it (a real process), on a machine configured
fully, half or not at all: Slack is the fake, Redis real servers, the models loopback
fakes speaking the providers' protocols."""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.cli.doctor import doctor as run_doctor
from bot.cli.doctor import render
from bot.doctor import Result, check_environment, judge_local_models, judge_redis
from bot.llm.model_spec import ModelSpec
from bot.llm.safety import ACKNOWLEDGEMENT, ACKNOWLEDGEMENT_VARIABLE
from tests.conftest import CLOSED_KEY
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.model_servers import FakeModelServer
from tests.fakes.redis_process import RedisProcess, free_port
from tests.fakes.serve_process import clean_env
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET

REDIS_PASSWORD = "doctor-test-password"
ANTHROPIC_KEY = "sk-ant-test-doctor"


async def doctor_process(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Run `hearthbot doctor` as a process; its exit code and its report's lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert "Traceback" not in err.decode(), err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode().splitlines()


async def doctor(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """The same report from the CLI's own function in this process (quicker), with exactly
    `env` as the environment and `cwd` as the working directory."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        out = io.StringIO()
        code = await run_doctor(out)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return code, out.getvalue().splitlines()


def line(lines: list[str], name: str) -> str:
    (found,) = [text for text in lines if re.match(rf"^[✓!✗] {re.escape(name)}:", text)]
    return found


def hint_after(lines: list[str], name: str) -> str:
    at = lines.index(line(lines, name))
    assert lines[at + 1].startswith("    → "), lines[at : at + 2]
    return lines[at + 1]


@pytest.fixture
async def persistent_redis() -> AsyncIterator[RedisProcess]:
    """A Redis set up as the README asks: append-only file, noeviction, a password."""
    server = await RedisProcess(
        "--appendonly", "yes", "--maxmemory-policy", "noeviction",
        "--requirepass", REDIS_PASSWORD, password=REDIS_PASSWORD,
    ).start()  # fmt: skip
    yield server
    await server.stop()


@pytest.fixture
async def ollama() -> AsyncIterator[FakeModelServer]:
    server = await FakeModelServer("llama3.2:3b", "ollama").start()
    yield server
    await server.stop()


async def test_nothing_configured_says_what_to_do_first(tmp_path: Path) -> None:
    """An empty environment, no .env, nothing listening at REDIS_URL."""
    env = clean_env(f"redis://127.0.0.1:{free_port()}/0")
    code, lines = await doctor_process(env, tmp_path)
    assert code == 1
    assert line(lines, "Slack bot token").startswith("✗")
    assert "OAuth & Permissions" in hint_after(lines, "Slack bot token")
    assert line(lines, "Slack request secret").startswith("✗")
    assert line(lines, "Redis").startswith("✗")
    assert "REDIS_URL" in hint_after(lines, "Redis")
    assert line(lines, "Local model").startswith("✓ Local model: embedded")
    assert line(lines, "Closed model").startswith("✓")
    assert "built-in defaults" in line(lines, "Routing policy")
    assert lines[-1] == "3 failed, 1 warnings, 5 ok"


async def test_every_check_green_on_a_configured_machine(
    tmp_path: Path,
    slack: FakeSlack,
    persistent_redis: RedisProcess,
    ollama: FakeModelServer,
    closed_server: FakeModelServer,
) -> None:
    (tmp_path / "policy.yaml").write_text(
        "confidential_channels: ['#legal']\n"
        "sensitive:\n  custom_patterns:\n    - name: codename\n      pattern: '\\bfalcon\\b'\n"
    )
    env = clean_env(
        persistent_redis.url,
        REDIS_PASSWORD=REDIS_PASSWORD,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        LOCAL_MODEL="ollama:llama3.2:3b",
        LOCAL_BASE_URL=ollama.url,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_API_KEY=CLOSED_KEY,
        OPENAI_BASE_URL=closed_server.base_url,
        MEMORY_ENCRYPTION_KEY="x" * 43 + "=",
    )
    code, lines = await doctor_process(env, tmp_path)
    assert code == 0, "\n".join(lines)
    assert all(text.startswith("✓") for text in lines[:-2]), "\n".join(lines)
    assert "@ask-bot in Acme Corp; all 13 scopes granted" in line(lines, "Slack bot token")
    assert re.search(r"Redis 7\.\d+\.\d+; persistence: append-only file; maxmemory-policy "
                     "noeviction", line(lines, "Redis"))  # fmt: skip
    assert f"ollama at {ollama.url} serves llama3.2:3b" in line(lines, "Local model")
    assert "accepts OPENAI_API_KEY and offers closed-gpt" in line(lines, "Closed model")
    policy = line(lines, "Routing policy")
    assert "listed channels: #legal" in policy
    assert "custom patterns: codename" in policy
    assert lines[-1] == "0 failed, 0 warnings, 9 ok"
    # No secret is printed.
    report = "\n".join(lines)
    for secret in (BOT_TOKEN, SIGNING_SECRET, CLOSED_KEY, REDIS_PASSWORD):
        assert secret not in report


async def test_a_wrong_token_missing_scopes_and_redis_down_are_each_named(
    tmp_path: Path, slack: FakeSlack, ollama: FakeModelServer
) -> None:
    base = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "LOCAL_MODEL": "ollama:llama3.2:3b",
        "LOCAL_BASE_URL": ollama.url,
    }
    down = f"redis://127.0.0.1:{free_port()}/0"
    code, lines = await doctor(clean_env(down, SLACK_BOT_TOKEN="xoxb-wrong", **base), tmp_path)
    assert code == 1
    assert line(lines, "Slack bot token") == "✗ Slack bot token: Slack refused it (invalid_auth)"
    assert line(lines, "Redis").startswith(f"✗ Redis: no answer at {down}")
    assert line(lines, "Local model").startswith("✓")  # the rest still checked

    slack.scopes.remove("files:read")
    code, lines = await doctor(clean_env(down, SLACK_BOT_TOKEN=BOT_TOKEN, **base), tmp_path)
    assert code == 1
    token = line(lines, "Slack bot token")
    assert token.startswith("✗")
    assert "missing scopes: files:read (pasted and shared" in token
    assert "reinstall" in hint_after(lines, "Slack bot token")


async def test_models_the_servers_do_not_serve_and_refused_keys(
    tmp_path: Path, ollama: FakeModelServer, closed_server: FakeModelServer
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    env = clean_env(
        down,
        LOCAL_MODEL="ollama:qwen2.5:7b",
        LOCAL_BASE_URL=ollama.url,
        CLOSED_MODEL="openai:closed-gpt",
        OPENAI_API_KEY="sk-wrong",
        OPENAI_BASE_URL=closed_server.base_url,
    )
    code, lines = await doctor(env, tmp_path)
    assert code == 1
    local = line(lines, "Local model")
    assert local.startswith("✗")
    assert "does not serve qwen2.5:7b (it serves: llama3.2:3b)" in local
    assert hint_after(lines, "Local model") == "    → ollama pull qwen2.5:7b"
    assert "openai refused OPENAI_API_KEY (HTTP 401)" in line(lines, "Closed model")
    ollama.down = True
    code, lines = await doctor({**env, "LOCAL_MODEL": "ollama:llama3.2:3b"}, tmp_path)
    assert "HTTP 503" in line(lines, "Local model")


async def test_anthropic_key_and_model_are_checked(tmp_path: Path) -> None:
    """Anthropic's /v1/models (x-api-key, anthropic-version), as its API reference shows."""
    served = ["claude-sonnet-4-6"]

    async def models(request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != ANTHROPIC_KEY:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return web.json_response({"type": "error", "error": error}, status=401)
        assert request.headers.get("anthropic-version")
        data = [{"type": "model", "id": m, "display_name": "Claude"} for m in served]
        return web.json_response({"data": data, "has_more": False})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    runner, url = await serve_on_loopback(app)
    try:
        env = clean_env(
            f"redis://127.0.0.1:{free_port()}/0",
            CLOSED_MODEL="anthropic:claude-sonnet-4-6",
            ANTHROPIC_API_KEY=ANTHROPIC_KEY,
            ANTHROPIC_BASE_URL=url,
        )
        _, lines = await doctor(env, tmp_path)
        assert line(lines, "Closed model").startswith("✓ Closed model: anthropic accepts")
        _, lines = await doctor({**env, "CLOSED_MODEL": "anthropic:claude-opus-4-8"}, tmp_path)
        assert "does not offer claude-opus-4-8" in line(lines, "Closed model")
        # A model the provider retires: still served, and the date is shown.
        served.append("claude-sonnet-4-5")
        _, lines = await doctor({**env, "CLOSED_MODEL": "anthropic:claude-sonnet-4-5"}, tmp_path)
        assert line(lines, "Closed model").startswith("! Closed model: anthropic accepts")
        assert "reaches end of life on November 30th, 2026" in line(lines, "Closed model")
        _, lines = await doctor({**env, "ANTHROPIC_API_KEY": "sk-ant-wrong"}, tmp_path)
        assert "anthropic refused ANTHROPIC_API_KEY (HTTP 401)" in line(lines, "Closed model")
    finally:
        await runner.cleanup()


async def test_bad_settings_and_cloud_models_are_one_red_line_each(tmp_path: Path) -> None:
    env = clean_env(
        f"redis://127.0.0.1:{free_port()}/0",
        LOCAL_MODEL="ollama:gpt-oss:120b-cloud",
        LANGSMITH_TRACING="true",
        HTTPS_PROXY="http://proxy.example:3128",
    )
    code, lines = await doctor_process(env, tmp_path)
    assert code == 1
    settings = line(lines, "Settings")
    assert settings.startswith("✗ Settings: LOCAL_MODEL: 'gpt-oss:120b-cloud' is one of Ollama's")
    # The environment is still judged.
    assert line(lines, "Hosted tracing").startswith("! Hosted tracing: LANGSMITH_TRACING set")
    assert line(lines, "Proxy").startswith("! Proxy: HTTPS_PROXY set")


def test_environment_verdicts() -> None:
    assert [r.status for r in check_environment({})] == ["ok"]
    acknowledged = check_environment(
        {"LANGSMITH_TRACING": "true", ACKNOWLEDGEMENT_VARIABLE: ACKNOWLEDGEMENT}
    )
    assert "every prompt, confidential ones included" in acknowledged[0].detail
    # Anything short of the sentence is not an acknowledgement.
    half = check_environment({"LANGSMITH_TRACING": "1", ACKNOWLEDGEMENT_VARIABLE: "yes"})
    assert "switches it off" in half[0].detail
    assert check_environment({"LANGSMITH_TRACING": "false"})[0].status == "ok"


def test_redis_verdicts() -> None:
    server = {"redis_version": "7.2.4"}
    evicting = judge_redis(server, {"aof_enabled": 1}, {"maxmemory_policy": "allkeys-lru"}, "")
    assert evicting.status == "fail"
    assert "maxmemory-policy is allkeys-lru" in evicting.detail
    forgetful = judge_redis(server, {"aof_enabled": 0}, {"maxmemory_policy": "noeviction"}, "")
    assert forgetful.status == "fail"
    assert "keeps nothing on disk" in forgetful.detail
    snapshots = judge_redis(server, {"aof_enabled": 0}, {}, "3600 1 300 100")
    assert snapshots.status == "ok"
    assert "snapshots (3600 1 300 100)" in snapshots.detail


def test_local_model_verdicts() -> None:
    spec = ModelSpec("ollama", "llama3.2")
    tags = {"models": [{"name": "llama3.2:latest"}, {"name": "gpt-oss:120b-cloud"}]}
    served = judge_local_models(spec, "http://ollama:11434", tags)
    assert served.status == "warn"  # served, but the server also offers cloud models
    assert "gpt-oss:120b-cloud" in served.detail
    openai = judge_local_models(ModelSpec("openai", "Qwen/Qwen2.5-7B"), "http://v", {"data": []})
    assert openai.status == "fail"
    assert "it serves: none" in openai.detail
    assert judge_local_models(spec, "u", "not json").status == "fail"


def test_render_marks_and_hints() -> None:
    assert render(Result("ok", "Redis", "fine", "unused")) == "✓ Redis: fine\n"
    assert render(Result("fail", "Redis", "down", "start it")) == (
        "✗ Redis: down\n    → start it\n"
    )
    assert "\033[31m✗\033[0m" in render(Result("fail", "R", "d"), colour=True)


async def test_passwords_are_never_printed_and_garbage_answers_are_red_lines(
    tmp_path: Path,
) -> None:
    """Redis and Sentinel passwords in REDIS_URL; servers answering JSON of the wrong
    shape."""

    async def garbage(_: web.Request) -> web.Response:
        return web.json_response({"models": 5, "data": 7, "ok": True})

    app = web.Application()
    app.router.add_get("/api/tags", garbage)
    app.router.add_get("/v1/models", garbage)
    runner, url = await serve_on_loopback(app)
    try:
        with_password = url.replace("http://", "http://admin:GpuPw@")
        for redis_url in (
            f"redis://:TopSecretPw@127.0.0.1:{free_port()}/0",
            f"redis://127.0.0.1:{free_port()}/0?password=QueryPw",
            f"redis+sentinel://:SentinelPw@127.0.0.1:{free_port()}/mymaster",
        ):
            env = clean_env(
                redis_url,
                LOCAL_MODEL="ollama:llama3.2:3b",
                LOCAL_BASE_URL=with_password,
                CLOSED_MODEL="openai:gpt-5.4-mini",
                OPENAI_API_KEY="sk-doctor",
                OPENAI_BASE_URL=f"{url}/v1?api_key=KeyInQuery",
                TRACING="otlp",
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://user:OtlpPw@otlp.example/v1/traces",
            )
            code, lines = await doctor(env, tmp_path)
            report = "\n".join(lines)
            for secret in ("TopSecretPw", "QueryPw", "SentinelPw", "OtlpPw", "GpuPw",
                           "KeyInQuery", "sk-doctor"):  # fmt: skip
                assert secret not in report
            assert code == 1
            assert "***" in line(lines, "Redis")
            assert "does not serve llama3.2:3b (it serves: none)" in line(lines, "Local model")
            # The query lands after the path: the server answers 404, and the line masks it.
            assert "v1?api_key=*** answered HTTP 404" in line(lines, "Closed model")
            assert line(lines, "Tracing") == (
                "✓ Tracing: OpenTelemetry spans (no message text) go to "
                "https://user:***@otlp.example/v1/traces"
            )
    finally:
        await runner.cleanup()


async def test_a_local_alias_of_a_cloud_model_is_red(tmp_path: Path) -> None:
    """Ollama lists a cloud model, or a local name copied from one, with its remote host;
    its OpenAI-compatible /v1 does not, so /api/tags beside it is asked too."""

    async def tags(_: web.Request) -> web.Response:
        entry = {"name": "llama3.2:3b", "remote_host": "https://ollama.com:443"}
        return web.json_response({"models": [entry]})

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "llama3.2:3b"}]})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/v1/models", models)
    runner, url = await serve_on_loopback(app)
    try:
        for local_model, base in (("ollama:llama3.2:3b", url), ("openai:llama3.2:3b", f"{url}/v1")):
            env = clean_env(
                f"redis://127.0.0.1:{free_port()}/0", LOCAL_MODEL=local_model, LOCAL_BASE_URL=base
            )
            code, lines = await doctor(env, tmp_path)
            assert code == 1
            assert line(lines, "Local model") == (
                f"✗ Local model: llama3.2:3b on {base} runs on https://ollama.com:443, not on "
                "this server"
            )
    finally:
        await runner.cleanup()


def test_managed_redis_that_refuses_config_is_a_warning() -> None:
    result = judge_redis({"redis_version": "7.2"}, {"aof_enabled": 0}, {}, "unknown")
    assert result.status == "warn"
    assert "persistence unknown (CONFIG refused)" in result.detail
