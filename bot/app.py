"""Composition root: builds the clients, the router and the memory from the settings, and
wires them into the Bolt app and the HTTP server."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot import health, metrics
from bot.answers import AnswerLimits, AnswerService
from bot.audit import AuditLog
from bot.capacity import Gate
from bot.console.access import ConsoleAccess
from bot.console.web import mount_console
from bot.customer_email.worker import EmailFileParser
from bot.in_flight import InFlight
from bot.llm.context_budget import ContextBudget
from bot.llm.embedded import EmbeddedModelServer
from bot.llm.models import build_closed_model, build_local_model
from bot.llm.prompts import Prompts
from bot.llm.router import AnswerRouter
from bot.llm.safety import disable_prompt_uploads
from bot.memory import ConversationMemory, MessageCodec
from bot.rate_limits import RequestLimits, parse_limit
from bot.redis_client import open_redis
from bot.routing.classifier import Classifier
from bot.routing.decision import Route
from bot.routing.policy import load_policy
from bot.routing.sensitive import SensitiveDetector
from bot.routing.sensitive.scan_cache import ScanCache
from bot.settings import ConfigError, Settings
from bot.slack.app_home import HomeFacts
from bot.slack.channels import ChannelDirectory
from bot.slack.dedup import EventDeduplicator
from bot.slack.delivery import ReplyGuard
from bot.slack.email_requests import EmailFinder
from bot.slack.entry_points import register
from bot.slack.files import FileReader
from bot.slack.front import SlackFront
from bot.slack.identity import BotIdentity
from bot.slack.replies import SlackDeps
from bot.slack.request_body import MAX_BODY_BYTES
from bot.slack.web_clients import slack_session, web_client

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything built from the settings, shared by Slack and the terminal chat."""

    settings: Settings
    redis: aioredis.Redis
    classifier: Classifier
    router: AnswerRouter
    memory: ConversationMemory
    audit: AuditLog
    answers: AnswerService
    checks: dict[str, health.Check]
    # Per-person and per-channel request limits (Slack's entry points and the console's).
    request_limits: RequestLimits
    embedded: EmbeddedModelServer | None = None
    email_parser: EmailFileParser = field(default_factory=EmailFileParser)
    in_flight: InFlight = field(default_factory=InFlight)
    # Every Slack call's connections (kept open between calls).
    slack_http: aiohttp.ClientSession | None = field(default=None, repr=False)
    # Who the bot is in Slack (set with the Bolt app).
    identity: BotIdentity | None = None
    _http: Any = field(default=None, repr=False)

    async def aclose(self) -> None:
        """Close connections, stop the email worker and the embedded model."""
        self.email_parser.close()
        await self.redis.aclose()
        for session in (self._http, self.slack_http):
            if session is not None:
                await session.close()
        if self.embedded is not None:
            self.embedded.stop()


def build_classifier(settings: Settings) -> Classifier:
    """The routing policy, the detector and the model names: no network, no model loaded."""
    policy = load_policy(settings.resolved_policy_file(), settings.confidential_channels)
    closed = settings.closed
    return Classifier(
        policy,
        SensitiveDetector(policy.sensitive.detector_config(), cache=ScanCache()),
        local_model=settings.local.label,
        closed_model=closed.label if closed else None,
    )


async def build_services(settings: Settings) -> Services:
    """Build the router, memory and checks; start the embedded model when it is configured."""
    disable_prompt_uploads()
    embedded: EmbeddedModelServer | None = None
    local_spec = settings.local
    local_url: str
    local_key: str | None
    if local_spec.provider == "embedded":
        embedded = EmbeddedModelServer(
            settings.embedded_model_path,
            context_tokens=settings.embedded_context_tokens,
            parallel=settings.embedded_parallel,
        )
        endpoint = embedded.start()
        local_url, local_key = endpoint.base_url, endpoint.api_key
    else:
        url = settings.local_url
        if url is None:  # guarded by Settings; kept so a future provider cannot skip it
            raise ConfigError("LOCAL_BASE_URL: required for this LOCAL_MODEL")
        local_url = url
        local_key = settings.local_api_key.get_secret_value() if settings.local_api_key else None
    local_model = build_local_model(settings, local_url, local_key)
    # Opened once the model has started, so a model that fails to start leaves nothing open.
    redis_client = open_redis(settings)
    closed_spec = settings.closed
    closed_model = build_closed_model(settings)

    classifier = build_classifier(settings)
    prompts = Prompts.load()
    router = AnswerRouter(
        classifier=classifier,
        prompts=prompts,
        local_model=local_model,
        local_label=local_spec.label,
        closed_model=closed_model,
        closed_label=closed_spec.label if closed_spec else None,
        local_provider=local_spec.provider,
        closed_provider=closed_spec.provider if closed_spec else None,
        budgets=context_budgets(settings, prompts),
    )
    memory = ConversationMemory(
        redis_client,
        prefix=settings.redis_prefix,
        ttl_s=settings.memory_ttl_s,
        max_messages=settings.memory_max_messages,
        token_budget=settings.memory_token_budget,
        codec=MessageCodec(
            settings.memory_keys,
            accept_legacy=settings.memory_accept_legacy,
            scan_version=classifier.detector.version,
        ),
    )
    audit = AuditLog(
        redis_client, prefix=settings.redis_prefix, max_entries=settings.audit_max_entries
    )
    http = aiohttp.ClientSession()
    local_probe = health.probe_for(
        "ollama" if local_spec.provider == "ollama" else "openai", local_url, local_key
    )
    # Readiness is what answering needs: Redis and the on-prem model. The closed API is
    # not probed: it is optional for answering (public questions fall back on-prem) and a
    # probe would spend its key on every check.
    checks: dict[str, health.Check] = {
        "redis": lambda: health.check_redis(redis_client),
        "local_model": lambda: health.check_http(http, local_probe),
    }
    return Services(
        settings=settings,
        redis=redis_client,
        classifier=classifier,
        router=router,
        memory=memory,
        audit=audit,
        answers=AnswerService(
            router, memory, audit, classifier.detector, prompts, answer_limits(settings)
        ),
        checks=checks,
        request_limits=RequestLimits(
            redis_client,
            prefix=settings.redis_prefix,
            per_user=parse_limit(settings.rate_limit_per_user),
            per_channel=parse_limit(settings.rate_limit_per_channel),
        ),
        embedded=embedded,
        slack_http=slack_session(),
        _http=http,
    )


def answer_limits(settings: Settings) -> AnswerLimits:
    """The deadline and the gate per route, from the settings."""
    local_limit = settings.max_in_flight_local
    if settings.local.provider == "embedded":
        # More than the embedded server's slots would only wait inside it, on the clock.
        local_limit = min(local_limit, settings.embedded_parallel)
    limits = AnswerLimits(
        deadline_s=settings.model_timeout_s,
        local=Gate(local_limit, settings.max_queued),
        closed=Gate(settings.max_in_flight_closed, settings.max_queued),
    )
    for route in Route:
        gate = limits.gate(route)
        metrics.QUEUE_DEPTH.labels(route.value).set_function(functools.partial(_waiting, gate))
        metrics.IN_FLIGHT.labels(route.value).set_function(functools.partial(_holding, gate))
    return limits


def _waiting(gate: Gate) -> int:
    return gate.waiting


def _holding(gate: Gate) -> int:
    return gate.holding


def context_budgets(settings: Settings, prompts: Prompts) -> dict[Route, ContextBudget]:
    """Each route's context window, less the answer and the prompts sent with every request
    (answers and email summaries share it: reserved for the longer prompts)."""
    fixed = prompts.answer_system + prompts.thread_context + prompts.email_summary
    windows = {Route.LOCAL: settings.context_tokens, Route.CLOSED: settings.closed_context_tokens}
    return {
        route: ContextBudget(
            window=window,
            answer_tokens=settings.max_answer_tokens,
            fixed_text=fixed,
            memory_tokens=settings.memory_token_budget,
        )
        for route, window in windows.items()
    }


def build_bolt_app(
    settings: Settings, services: Services, *, socket_mode: bool = False
) -> AsyncApp:
    """The Bolt app, with signature verification on (Bolt's default) and every listener.

    Over HTTP a signing secret is required: without one every request would be refused
    (or, worse, nothing could be verified).
    """
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN: required to serve Slack")
    if socket_mode and settings.slack_app_token is None:
        raise ConfigError("SLACK_APP_TOKEN: required for Socket Mode")
    if not socket_mode and settings.slack_signing_secret is None:
        raise ConfigError(
            "SLACK_SIGNING_SECRET: required to serve Slack over HTTP (or use Socket Mode "
            "with SLACK_APP_TOKEN)"
        )
    if services.slack_http is None:
        services.slack_http = slack_session()
    services.identity = BotIdentity(
        web_client(
            settings.slack_bot_token.get_secret_value(), settings.slack_api_url, services.slack_http
        )
    )
    app = AsyncApp(
        # Bolt copies this client's URL, session and retry handlers into the client it makes
        # for each request, with the token `authorize` returns.
        client=web_client(None, settings.slack_api_url, services.slack_http),
        authorize=services.identity.authorize,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        # Answers take seconds: acknowledge first, answer after (Bolt's default for AsyncApp).
        process_before_response=False,
    )
    deps = SlackDeps(
        answers=services.answers,
        channels=ChannelDirectory(
            services.redis,
            prefix=settings.redis_prefix,
            ttl_s=settings.channel_cache_ttl_s,
            signing_key=settings.cache_signing_key,
        ),
        emails=EmailFinder(FileReader(settings.slack_file_origin), services.email_parser),
        guard=ReplyGuard(services.audit, services.in_flight, services.request_limits),
        home=HomeFacts(
            policy=services.classifier.policy,
            categories=frozenset(services.classifier.detector.config.categories),
            local_model=settings.local.label,
            closed_model=settings.closed.label if settings.closed else None,
        ),
    )
    dedup = EventDeduplicator(
        services.redis, prefix=settings.redis_prefix, ttl_s=settings.dedup_ttl_s
    )
    register(app, deps, dedup)
    return app


def build_web_app(
    services: Services, bolt_app: AsyncApp | None, console: ConsoleAccess | None = None
) -> web.Application:
    """`POST /slack/events` (when serving Slack over HTTP), `GET /healthz`, `GET /readyz`,
    `GET /metrics`, and the console at `/console` under `console`'s rules (None: off)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        results = await health.run_checks(services.checks)
        failing = sorted(name for name, result in results.items() if result != "ok")
        for name in failing:
            # The details (which may name hosts and errors) go to the log, not the caller.
            log.warning("readiness check failed", extra={"check": name, "error": results[name]})
        checks = {name: "ok" if result == "ok" else "failing" for name, result in results.items()}
        draining = services.in_flight.draining
        if failing or draining:
            status = "stopping" if draining else "unavailable"
            return web.json_response({"status": status, "checks": checks}, status=503)
        return web.json_response({"status": "ok", "checks": checks})

    async def metrics_page(_: web.Request) -> web.Response:
        # Served with the health endpoints: scrape it from inside the cluster; do not route
        # it through the Ingress (it names the policy's categories and the models).
        headers = {"Content-Type": metrics.CONTENT_TYPE}
        return web.Response(body=metrics.exposition(), headers=headers)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/readyz", readyz)
    mount_console(app, services, console)
    if bolt_app is not None:
        secret = services.settings.slack_signing_secret
        front = SlackFront(
            bolt_app,
            secret.get_secret_value() if secret else None,
            services.in_flight,
            services.slack_http,
        )
        app.router.add_post("/slack/events", front.handle)
    return app
