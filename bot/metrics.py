"""Prometheus metrics, served at `GET /metrics` (prometheus-client's text exposition).

Every label value comes from hearthbot's own vocabulary (entry points, routes, reasons,
outcomes, configured model names, Slack method names and error codes) or from the
operator's policy (its custom category names): never from what people write. Reasons that
would carry anything else are not labels (see `reason_label`).

One registry of our own rather than prometheus-client's global one, so that nothing a
library registers there is exported by accident.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from bot.audit import AuditRecord

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: from a 5 ms local answer to a minute-long one (MODEL_TIMEOUT_S' default).
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
DETECTOR_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

REQUESTS = Counter(
    "hearthbot_requests",
    "Requests taken, by entry point (ask, mention, dm, email_shortcut; console).",
    ["entry"],
    registry=REGISTRY,
)
ANSWERS = Counter(
    "hearthbot_answers",
    "Requests finished, by route (local, closed, none), configured model and outcome.",
    ["route", "model", "outcome"],
    registry=REGISTRY,
)
ROUTE_REASONS = Counter(
    "hearthbot_route_reasons",
    "Why requests took their route: one count per reason of each routed request.",
    ["route", "reason"],
    registry=REGISTRY,
)
MODEL_SECONDS = Histogram(
    "hearthbot_model_seconds",
    "Time from asking a model to its last word (or structured summary).",
    ["route", "model"],
    buckets=MODEL_BUCKETS,
    registry=REGISTRY,
)
FIRST_TOKEN_SECONDS = Histogram(
    "hearthbot_model_first_token_seconds",
    "Time from asking a model to the first words of its streamed answer.",
    ["route", "model"],
    buckets=MODEL_BUCKETS,
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "hearthbot_model_tokens",
    "Tokens the models reported, by route, configured model and direction (input, output).",
    ["route", "model", "direction"],
    registry=REGISTRY,
)
SLACK_CALLS = Counter(
    "hearthbot_slack_api_calls",
    "HTTP calls to Slack's Web API by method and HTTP status ('error' when no response).",
    ["method", "status"],
    registry=REGISTRY,
)
SLACK_RETRIES = Counter(
    "hearthbot_slack_api_retries",
    "Slack calls retried, by method and cause (rate_limited, server_error, connection).",
    ["method", "cause"],
    registry=REGISTRY,
)
SLACK_ERRORS = Counter(
    "hearthbot_slack_api_errors",
    "Slack calls answered with ok=false (each attempt), by method and Slack's error code.",
    ["method", "error"],
    registry=REGISTRY,
)
DEDUP_HITS = Counter(
    "hearthbot_dedup_hits",
    "Slack events dropped because another delivery of the same event was taken.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "hearthbot_queue_depth",
    "Requests waiting in line for a free model, by route.",
    ["route"],
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "hearthbot_model_in_flight",
    "Answers being computed now, by route (at most MAX_IN_FLIGHT_<route>).",
    ["route"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "hearthbot_rate_limit_refusals",
    "Requests refused by RATE_LIMIT_PER_USER or RATE_LIMIT_PER_CHANNEL, by scope.",
    ["scope"],
    registry=REGISTRY,
)
DETECTOR_SECONDS = Histogram(
    "hearthbot_detector_seconds",
    "Time to classify one request (sensitive-data detection and the routing decision).",
    buckets=DETECTOR_BUCKETS,
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "hearthbot_feedback",
    "Clicks on the feedback buttons under answers, by the answer's route and the vote.",
    ["route", "vote"],
    registry=REGISTRY,
)

# Reasons are hearthbot's own words (`private_channel`, `sensitive:email`,
# `rate_limit:user`, `error:TimeoutError`…) or a category the policy names.
MAX_REASON_CHARS = 64


def reason_label(reason: str) -> str:
    """A reason as a label value: as is when short and printable ASCII, else `other` (a
    guard, so that a label can never grow without bound). Pure."""
    if len(reason) <= MAX_REASON_CHARS and reason.isascii() and reason.isprintable():
        return reason
    return "other"


def exposition() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)


@contextmanager
def timed(observe: Callable[[float], None]) -> Iterator[None]:
    """Observe how long the block took (also when it raised)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe(time.perf_counter() - started)


def slack_method(url: str) -> str:
    """The Web API method a Slack URL calls (`chat.postMessage`), or `response_url` for the
    URLs Slack hands out for replies (their paths carry tokens: never a label). Pure."""
    path = urlsplit(url).path
    if "/api/" in path:
        method = path.rsplit("/api/", 1)[1]
        if method and len(method) <= MAX_REASON_CHARS and method.replace(".", "").isalnum():
            return method
    return "response_url"


def slack_trace_config() -> aiohttp.TraceConfig:
    """Count every HTTP call the shared Slack session makes, by method and status (each
    attempt of a retried call counts)."""
    trace = aiohttp.TraceConfig()

    async def on_end(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any) -> None:
        SLACK_CALLS.labels(slack_method(str(params.url)), str(params.response.status)).inc()

    async def on_exception(
        _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any
    ) -> None:
        SLACK_CALLS.labels(slack_method(str(params.url)), "error").inc()

    async def on_body(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any) -> None:
        # aiohttp hands the whole body here once it is read. Only a failure's error code
        # is kept; the rest (which can hold message text) is dropped at once.
        error = slack_error_code(params.chunk)
        if error is not None:
            SLACK_ERRORS.labels(slack_method(str(params.url)), error).inc()

    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_exception)
    trace.on_response_chunk_received.append(on_body)
    return trace


def slack_error_code(body: bytes) -> str | None:
    """Slack's error code when a Web API body says `"ok": false`, else None. Pure."""
    head = body[:200]
    if b'"ok":false' not in head.replace(b" ", b""):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and len(error) <= MAX_REASON_CHARS and _CODE.fullmatch(error):
        return error
    return "other"


_CODE = re.compile(r"[a-z0-9_]+")


def observe_record(record: AuditRecord) -> None:
    """Count one audit record: every request ends in one (answered, refused or failed), and
    every click on a feedback button."""
    if record.kind == "feedback":
        FEEDBACK.labels(record.route, record.vote or "none").inc()
        return
    ANSWERS.labels(record.route, record.model, record.outcome).inc()
    for reason in record.reasons:
        ROUTE_REASONS.labels(record.route, reason_label(reason)).inc()
    if record.input_tokens:
        MODEL_TOKENS.labels(record.route, record.model, "input").inc(record.input_tokens)
    if record.output_tokens:
        MODEL_TOKENS.labels(record.route, record.model, "output").inc(record.output_tokens)
