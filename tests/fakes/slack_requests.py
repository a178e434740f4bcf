"""Requests as Slack sends them: bodies built from Slack's payload shapes, signed with the
`v0` scheme (HMAC-SHA256 over `v0:<timestamp>:<body>`), and POSTed over HTTP."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, load

SIGNING_SECRET = "test-signing-secret-0001"
_event_ids = itertools.count(1)
_ts = itertools.count(1)


def sign(body: str | bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Slack's request signature for this body (its bytes, as sent) and timestamp."""
    raw = body if isinstance(body, bytes) else body.encode()
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def new_ts() -> str:
    return f"{1_790_000_000 + next(_ts)}.000{next(_ts) % 1000:03d}"


def mention_event(
    text: str,
    channel: str,
    *,
    thread_ts: str | None = None,
    user: str = "U0ALICE001",
    ext_shared: bool = False,
) -> dict[str, Any]:
    """An app_mention envelope, shaped like Slack's (tests/data/slack)."""
    body = copy.deepcopy(load("event_app_mention_in_thread"))
    ts = new_ts()
    event = body["event"]
    event.update(
        {
            "text": f"<@{BOT_USER_ID}> {text}",
            "channel": channel,
            "ts": ts,
            "event_ts": ts,
            "user": user,
        }
    )
    event.pop("blocks", None)
    if thread_ts is None:
        event.pop("thread_ts", None)
    else:
        event["thread_ts"] = thread_ts
    body["event_id"] = f"Ev{next(_event_ids):010d}"
    body["is_ext_shared_channel"] = ext_shared
    body["event_context"] = f"1-app_mention-{TEAM_ID}-{channel}"
    return body


def dm_event(
    text: str, channel: str, *, thread_ts: str | None = None, user: str = "U0ALICE001", **extra: Any
) -> dict[str, Any]:
    """A message.im envelope."""
    body = copy.deepcopy(load("event_message_im"))
    ts = new_ts()
    event = body["event"]
    event.update(
        {
            "text": text,
            "channel": channel,
            "ts": ts,
            "event_ts": ts,
            "user": user,
            "channel_type": "im",
        }
    )
    event.pop("blocks", None)
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    event.update(extra)
    body["event_id"] = f"Ev{next(_event_ids):010d}"
    return body


def slash_form(
    text: str, channel_id: str, channel_name: str, response_url: str, user: str = "U0ALICE001"
) -> str:
    """An `/ask` form body, with the field set Slack sends."""
    fields = dict(load("slash_command_ask.fields"))
    fields.update(
        {
            "text": text,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user,
            "response_url": response_url,
            "trigger_id": f"{next(_ts)}.7012345678901.0f1e2d3c",
        }
    )
    return urlencode(fields)


def message_action_form(
    message: dict[str, Any],
    channel: str,
    response_url: str,
    callback_id: str = "summarize_email",
    user: str = "U0BOB00002",
) -> str:
    """A message shortcut, shaped like Slack's (`payload=<urlencoded JSON>`)."""
    payload = copy.deepcopy(load("message_action.payload"))
    payload.update(
        {
            "callback_id": callback_id,
            "response_url": response_url,
            "message_ts": message["ts"],
            "message": message,
            "trigger_id": f"{next(_ts)}.7012345678901.a1b2c3d4",
        }
    )
    payload["channel"] = {"id": channel, "name": "privategroup"}
    payload["user"] = {"id": user, "username": "bob", "team_id": TEAM_ID, "name": "bob"}
    return urlencode({"payload": json.dumps(payload)})


class SlackSender:
    """Posts signed requests to the app's `/slack/events`."""

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str = SIGNING_SECRET):
        self._session = session
        self._url = url
        self._secret = secret

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, float]:
        """POST a body; returns status, response text and seconds until the response."""
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature or sign(body, ts, self._secret),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        started = time.monotonic()
        async with self._session.post(self._url, data=body.encode(), headers=all_headers) as resp:
            text = await resp.text()
            return resp.status, text, time.monotonic() - started

    async def post_raw(self, body: bytes, content_type: str, *, signed: bool = True) -> int:
        """POST raw bytes, signed over those very bytes (or with a wrong signature)."""
        ts = int(time.time())
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, self._secret) if signed else "v0=" + "0" * 64,
        }
        async with self._session.post(self._url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def event(self, envelope: dict[str, Any], **kwargs: Any) -> tuple[int, str, float]:
        return await self.post(json.dumps(envelope), "application/json", **kwargs)

    async def command(self, form: str, **kwargs: Any) -> tuple[int, str, float]:
        return await self.post(form, "application/x-www-form-urlencoded", **kwargs)


def _envelope(event: dict[str, Any]) -> dict[str, Any]:
    """An event_callback envelope around `event`, as Slack sends it."""
    body = copy.deepcopy(load("event_assistant_thread_started"))
    body["event"] = event
    body["event_id"] = f"Ev{next(_event_ids):010d}"
    body["event_time"] = int(time.time())
    body["event_context"] = f"1-{event['type']}-{TEAM_ID}"
    return body


def app_home_opened_event(user: str, tab: str, channel: str = "D0DMALICE1") -> dict[str, Any]:
    """`app_home_opened` (api.slack.com/events/app_home_opened): `tab` is "home" or
    "messages" (the Messages tab, the agent view)."""
    return _envelope(
        {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab,
         "event_ts": new_ts()}
    )  # fmt: skip


def assistant_thread_started_event(channel: str, thread_ts: str) -> dict[str, Any]:
    """`assistant_thread_started` (the older assistant side panel)."""
    body = copy.deepcopy(load("event_assistant_thread_started"))
    body["event_id"] = f"Ev{next(_event_ids):010d}"
    body["event"]["assistant_thread"].update({"channel_id": channel, "thread_ts": thread_ts})
    return body


def feedback_click_form(
    message: dict[str, Any], channel: str, value: str, user: str = "U0ALICE001"
) -> str:
    """A click on a feedback button: a `block_actions` interaction (`payload=<JSON>`), shaped
    like Slack's (docs: block_actions payload; feedback_buttons element)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": TEAM_ID},
        "api_app_id": "A0APP00001",
        "token": "LEGACYVERIFICATIONTOKEN",
        "container": {
            "type": "message", "message_ts": message["ts"], "channel_id": channel,
            "is_ephemeral": False, "thread_ts": message.get("thread_ts"),
        },
        "trigger_id": f"{next(_ts)}.7012345678901.a1b2c3d4",
        "team": {"id": TEAM_ID, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM0001/1/secret",
        "actions": [
            {"type": "feedback_buttons", "action_id": "hearthbot_feedback", "block_id": "fb",
             "value": value, "action_ts": new_ts()}
        ],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})
