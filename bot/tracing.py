"""OpenTelemetry tracing, off unless TRACING=otlp.

Spans say what happened to a request (its id, route, reasons, model, outcome, how long each
step took), never what was said: no span attribute is ever given message text, and no
instrumentation package (which would record prompts or HTTP bodies) is installed or
enabled. The exporter is OTLP over HTTP, configured by OpenTelemetry's own variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS…); the SDK is the optional extra
`hearthbot[otel]`. Without TRACING=otlp the API's no-op tracer is used and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

from bot.settings import ConfigError, Settings

TRACER = trace.get_tracer("hearthbot")


@contextmanager
def span(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Iterator[Span]:
    """A span of ours. An exception is recorded as its type's name only: OpenTelemetry's
    default would store its message and stack trace, chained causes included, and those
    can quote what someone wrote."""
    with TRACER.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_attribute("error.type", type(exc).__name__)
            current.set_status(StatusCode.ERROR)
            raise


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
