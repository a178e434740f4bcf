"""Structured logging: one JSON object per line. Message text never goes into a log record
at INFO or above; the chatty client libraries, which log request bodies at DEBUG, are held
at WARNING whatever LOG_LEVEL says."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in BODY_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
