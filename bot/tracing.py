"""OpenTelemetry tracing, off unless TRACING=otlp.

Spans say what happened to a request (its id, route, reasons, model, outcome, how long each
step took), never what was said: no span attribute is ever given message text, and no
instrumentation package (which would record prompts or HTTP bodies) is installed or
enabled. The exporter is OTLP over HTTP, configured by OpenTelemetry's own variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS…); the SDK is the optional extra
`hearthbot[otel]`. Without TRACING=otlp the API's no-op tracer is used and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import trace

from bot.settings import ConfigError, Settings

TRACER = trace.get_tracer("hearthbot")


def start_tracing(settings: Settings) -> Callable[[], None] | None:
    """Install the OTLP exporter when TRACING=otlp; return what flushes and stops it."""
    if settings.tracing != "otlp":
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError(
            "TRACING=otlp needs OpenTelemetry's SDK: pip install 'hearthbot[otel]'"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": "hearthbot"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider.shutdown
