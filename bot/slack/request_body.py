"""What a request to `/slack/events` must look like before Bolt sees it: pure checks.

Bolt parses the body inside its dispatch and a malformed one (bad JSON, bytes that are not
UTF-8, JSON that is not an object) escaped as an HTTP 500 with a traceback. Slack's own
requests are always UTF-8 and either a JSON object (Events API) or a form (slash commands,
and interactivity with a JSON object in its `payload` field); anything else is answered 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

# Slack's payloads are small; the largest are message events with 40,000 characters of text
# and blocks. Twice the largest seen, in bytes of UTF-8.
MAX_BODY_BYTES = 1024 * 1024


class BadBody(Exception):
    """The body cannot be a request from Slack; the message says why (no body content)."""


def decode_body(raw: bytes) -> str:
    """The body as text; raises `BadBody` unless it is UTF-8."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadBody(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None


def parse_body(body: str, content_type: str | None) -> dict[str, Any]:
    """The request as Slack meant it; raises `BadBody` for what Slack would never send.

    Makes Bolt's choice between JSON and a form (a JSON body, or a form with the JSON in its
    `payload` field), except that a form is interactivity only when it *has* a `payload`
    field: Bolt takes any form whose text merely contains the word "payload" (say
    `/ask what is the payload size?`) for interactivity, parses it to `{}` and answers 404.
    """
    if not body:
        raise BadBody("empty body")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or body.startswith("{"):
        return _json_object(body, "body")
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in form:
        return _json_object(form["payload"], "payload")
    _check_shapes(form)  # a form's fields are strings: none may be one Bolt reads as an object
    return dict(form)


# The fields Bolt (and hearthbot) navigate into, with the JSON types Slack sends for them:
# Bolt calls `.get` on them, takes `len` of them or tests `"id" in` them, so any other type
# (say `"event": null`) crashed it with a 500.
OBJECT_FIELDS = frozenset(
    {
        "event", "view", "message", "previous_message", "container", "item",
        "assistant_thread", "function_data", "state", "bot_profile", "metadata",
    }
)  # fmt: skip
ID_OR_OBJECT_FIELDS = frozenset({"team", "user", "channel", "enterprise", "inputs"})
LIST_OF_OBJECT_FIELDS = frozenset({"authorizations", "actions", "files", "blocks"})
# Fields Bolt and hearthbot compare, hash or slice as text ("text" is not one: in blocks it
# is an object).
STRING_FIELDS = frozenset(
    {
        "type", "subtype", "ts", "thread_ts", "event_ts", "channel_type", "callback_id",
        "trigger_id", "response_url", "command", "event_id", "team_id", "user_id",
        "channel_id", "enterprise_id", "api_app_id", "bot_id",
    }
)  # fmt: skip
# Objects that Bolt indexes a key of without looking.
REQUIRED_KEYS = {"view": "type"}
# The objects Bolt navigates into, where the checks above apply too.
NAVIGATED_FIELDS = frozenset(
    {
        "event", "view", "message", "previous_message", "container", "item",
        "assistant_thread", "function_data", "authorizations", "actions", "team", "user",
        "channel", "enterprise",
    }
)  # fmt: skip


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise BadBody(f"{what} is not valid JSON") from None
    except RecursionError:
        raise BadBody(f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise BadBody(f"{what} is not a JSON object")
    _check_shapes(value)
    return value


def _check_shapes(root: Mapping[str, object]) -> None:
    """Raise `BadBody` where a field Bolt reads holds a type Slack never sends there.

    Checked at the top of the body and inside the objects Bolt navigates into (the event,
    the message, the view, the authorizations...), not inside attachments, blocks or
    metadata, whose contents the apps that posted them chose (an attachment's `ts` may be
    a number; metadata may hold any `type`).
    """
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            _check_field(key, value)
            if key in NAVIGATED_FIELDS and isinstance(value, dict | list):
                stack.append(value)


def _check_field(key: str, value: object) -> None:
    if key in OBJECT_FIELDS and not isinstance(value, dict):
        raise BadBody(f"{key} is not an object")
    if key in ID_OR_OBJECT_FIELDS and not (value is None or isinstance(value, str | dict)):
        raise BadBody(f"{key} is neither an ID nor an object")
    if key in STRING_FIELDS and not (value is None or isinstance(value, str)):
        raise BadBody(f"{key} is not a string")
    if key in REQUIRED_KEYS and isinstance(value, dict) and REQUIRED_KEYS[key] not in value:
        raise BadBody(f"{key} has no {REQUIRED_KEYS[key]}")
    if key in LIST_OF_OBJECT_FIELDS and not (
        isinstance(value, list) and all(isinstance(item, dict) for item in value)
    ):
        raise BadBody(f"{key} is not a list of objects")
