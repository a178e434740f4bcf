"""Structured logging: one JSON object per line. Message text never goes into a log record
at INFO or above; the chatty client libraries, which log request bodies at DEBUG, are held
at WARNING whatever LOG_LEVEL says."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from contextvars import ContextVar
from typing import Any

# The request being handled: set when Slack's request arrives, inherited by every task and
# thread started for it (asyncio copies the context), and written into every log line.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# How the HTTP front hands the id to Bolt's middleware (which also serves Socket Mode).
REQUEST_ID_HEADER = "x-hearthbot-request-id"


def new_request_id() -> str:
    """A fresh id for one request: 16 hex digits, random (it names nothing)."""
    return uuid.uuid4().hex[:16]


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


# Libraries that log request or response bodies (message text, prompts) at DEBUG.
BODY_LOGGING_LIBRARIES = (
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "httpx2",
    "httpcore",
    "openai",
    "anthropic",
    "urllib3",
    "aiohttp.access",
)

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def setup_logging(level: str) -> None:
    """Send JSON lines to stderr at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in BODY_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
