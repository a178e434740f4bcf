"""A loopback stand-in for the Slack Web API and for response URLs.

It answers the methods hearthbot calls with Slack's response shapes (from tests/data/slack),
records every call, keeps every message the bot created (posted or streamed) as Slack would,
and enforces the rules of Slack's method reference (docs.slack.dev, as mirrored in
slack-ruby/slack-api-ref) that the app must cope with:
- auth: bearer token; `not_in_channel` / `channel_not_found`; `no_text`;
- size: blocks (50, section 3,000, markdown block 12,000, about 12,000 characters of text
  per message → `msg_blocks_too_long`, context_actions 5 elements, feedback buttons' text 75
  and value 2,000), `markdown_text` 12,000 and never with `text` or `blocks`
  (`markdown_text_conflict`), chat.update `text` 4,000 (`msg_too_long`), text truncated at
  40,000;
- streaming: chat.startStream needs `thread_ts`, and `recipient_user_id` /
  `recipient_team_id` outside DMs; appendStream needs `markdown_text`; a stream can be
  refused (`channel_type_not_supported`…), expires (`message_not_in_streaming_state`), can be
  stopped by its reader (`stopped_by_user`), and cannot be edited while it streams
  (`streaming_state_conflict`);
- assistant.threads.setStatus (10 loading messages of 1-50 characters),
  setSuggestedPrompts (4 prompts with title and message), setTitle, views.publish (100
  blocks, 250 kB);
- response URLs: at most 5 posts, no `markdown_text`;
- optionally (`enforce_tiers`), the published per-minute floor of each method's tier, as
  HTTP 429 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml
from aiohttp import WSMsgType, web

from tests.fakes.loopback import serve_on_loopback, wait_until

DATA = Path(__file__).resolve().parents[1] / "data" / "slack"
MANIFEST_SCOPES = tuple(
    yaml.safe_load((DATA.parents[2] / "deploy" / "slack-manifest.yml").read_text())["oauth_config"][
        "scopes"
    ]["bot"]
)
BOT_TOKEN = "xoxb-test-0000-hearthbot"
APP_TOKEN = "xapp-1-A0APP00001-0000-hearthbot"
TEAM_ID = "T0TEAM0001"
OIDC_CLIENT_ID = "1111111111.2222222222"
OIDC_CLIENT_SECRET = "fake-client-secret-0123456789"
BOT_USER_ID = "U0BOTUSER1"
BOT_ID = "B0BOTID001"

SECTION_TEXT_MAX = 3000
BLOCKS_MAX = 50
POST_TEXT_MAX = 40_000
UPDATE_TEXT_MAX = 4000
MARKDOWN_TEXT_MAX = 12_000
# Text across a message's blocks (docs: cumulative markdown-block limit; bolt-js#2509).
BLOCKS_TEXT_MAX = 12_000
CONTEXT_ACTIONS_MAX = 5
FEEDBACK_TEXT_MAX = 75
FEEDBACK_VALUE_MAX = 2000
LOADING_MESSAGES_MAX = 10
LOADING_MESSAGE_CHARS = 50
SUGGESTED_PROMPTS_MAX = 4
HOME_BLOCKS_MAX = 100
VIEW_BYTES_MAX = 250_000
RESPONSE_URL_USES = 5
# Requests per minute guaranteed by each method's tier (Tier 2: 20, Tier 3: 50, Tier 4: 100).
TIER_PER_MINUTE = {
    "chat.startStream": 20,
    "chat.stopStream": 20,
    "chat.update": 50,
    "chat.appendStream": 100,
    "assistant.threads.setSuggestedPrompts": 100,
    "assistant.threads.setTitle": 100,
    "views.publish": 100,
}
# Bytes per network write when a file is downloaded.
DOWNLOAD_CHUNK = 16 * 1024


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def conversation(kind: str, channel_id: str, name: str | None = None) -> dict[str, Any]:
    """A conversations.info `channel` object of the given kind, with this ID and name."""
    files = {
        "public": "conversations.info.public_channel",
        "private": "conversations.info.private_channel",
        "mpim": "conversations.info.mpim",
        "ext_shared": "conversations.info.ext_shared_channel",
        "im": "conversations.info.im",
    }
    channel: dict[str, Any] = copy.deepcopy(load(files[kind])["channel"])
    channel["id"] = channel_id
    if name is not None and "name" in channel:
        channel["name"] = name
        channel["name_normalized"] = name
    return channel


def _text_chars(node: Any) -> int:
    if isinstance(node, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else _text_chars(v)
            for k, v in node.items()
        )
    if isinstance(node, list):
        return sum(_text_chars(item) for item in node)
    return 0


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class SlackMessage:
    """A message the bot created, as Slack keeps it."""

    channel: str
    ts: str
    thread_ts: str | None
    record: dict[str, Any]  # what conversations.replies returns for it
    text: str = ""
    markdown: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    streamed: bool = False
    streaming: bool = False
    started: float = 0.0
    updated: bool = False
    stopped_by_user: bool = False

    def shown(self) -> str:
        """What a reader sees as the message's body: its Markdown (streamed or posted), else
        its blocks' Markdown and sections (a message's `text` is then only its notification),
        else its text. Context lines and buttons are left out."""
        parts = [self.markdown] if self.markdown else []
        for block in self.blocks:
            if block.get("type") == "markdown":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "section":
                parts.append(str((block.get("text") or {}).get("text", "")))
        if not self.markdown and not self.blocks:
            parts.append(self.text)
        return "\n".join(p for p in parts if p)

    def as_post(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "thread_ts": self.thread_ts,
            "text": self.shown(),
            "blocks": self.blocks,
            "metadata": self.metadata,
            "markdown": self.markdown,
            "_ts": self.ts,
            "_ok": True,
            "_streamed": self.streamed,
        }


@dataclass
class Call:
    """One request the app made."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class FakeSlack:
    """The fake Web API. Configure `channels` and `threads`, then read `calls` and `posts`."""

    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Channels where conversations.info fails with this error.
    info_errors: dict[str, str] = field(default_factory=dict)
    # Threads where conversations.replies fails with this error.
    replies_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    # Channels where the bot is not a member (chat.postMessage → not_in_channel).
    not_member: set[str] = field(default_factory=set)
    # Faults, as Slack delivers them: method -> how many of its next calls get HTTP 429
    # (`Retry-After: retry_after_s`, `{"ok": false, "error": "ratelimited"}`) or HTTP 500.
    rate_limited: dict[str, int] = field(default_factory=dict)
    server_errors: dict[str, int] = field(default_factory=dict)
    retry_after_s: int = 1
    # How many of the next response-URL posts get HTTP 429.
    response_url_rate_limited: int = 0
    # Streaming: channels where chat.startStream is refused (with this error), how long a
    # stream lives, and after how many appends its reader presses stop.
    streaming_refused: dict[str, str] = field(default_factory=dict)
    stream_lifetime_s: float = 300.0
    user_stops_after_appends: int | None = None
    user_stop_error: str = "stopped_by_user"
    # Slack's per-message limit on text across blocks (unpublished; about 12,000).
    blocks_text_max: int = BLOCKS_TEXT_MAX
    # assistant.threads.setStatus refused everywhere with this error.
    status_refused: str | None = None
    # The tiers' per-minute floors as HTTP 429 (off by default: most tests are not about it).
    enforce_tiers: bool = False
    # Calls to these methods are not answered until their event is set (Slack being slow).
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    # Told of every Web API call once it is answered (a benchmark's clock).
    observers: list[Callable[[Call], None]] = field(default_factory=list)
    messages: dict[tuple[str, str], SlackMessage] = field(default_factory=dict)
    statuses: list[tuple[float, str, str, str]] = field(default_factory=list)
    suggested_prompts: list[dict[str, Any]] = field(default_factory=list)
    titles: list[dict[str, Any]] = field(default_factory=list)
    published_views: list[dict[str, Any]] = field(default_factory=list)
    _tier_calls: dict[str, list[float]] = field(default_factory=dict)
    _appends: int = 0
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    response_posts: list[dict[str, Any]] = field(default_factory=list)
    # The same posts by response URL key.
    response_posts_by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Uploaded files: id -> (file object, content).
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    file_downloads: list[str] = field(default_factory=list)
    # The scopes the bot token was granted: Slack names them in every Web API response's
    # `x-oauth-scopes` header. Default: what deploy/slack-manifest.yml asks for.
    scopes: list[str] = field(default_factory=lambda: list(MANIFEST_SCOPES))
    # Socket Mode: what the app sent back over the WebSocket (acks carry the envelope_id).
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _socket: web.WebSocketResponse | None = None
    url: str = ""
    _runner: web.AppRunner | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _response_url_uses: dict[str, int] = field(default_factory=dict)
    # Sign in with Slack: the app's credentials, who approves at /openid/connect/authorize
    # (user ID, team ID, name), or that they cancel; codes handed out, used once.
    oidc_client_id: str = OIDC_CLIENT_ID
    oidc_client_secret: str = OIDC_CLIENT_SECRET
    oidc_user: tuple[str, str, str] = ("U0ADMIN001", TEAM_ID, "Ada Admin")
    oidc_cancels: bool = False
    oidc_codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.url}/commands/{TEAM_ID}/{key}/secret{key}"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/commands/{team}/{key}/{secret}", self._response_url)
        app.router.add_post("/app/{team}/{key}/{secret}", self._response_url)
        app.router.add_get("/files-pri/{team}-{file_id}/download/{name}", self._download)
        app.router.add_get("/link", self._socket_mode)
        app.router.add_get("/openid/connect/authorize", self._openid_authorize)
        self._runner, self.url = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add_file(self, name: str, content: bytes, mimetype: str, **extra: Any) -> dict[str, Any]:
        """Store an uploaded file; returns the file object Slack puts in message events."""
        file_id = f"F{len(self.files) + 1:09d}"
        url = f"{self.url}/files-pri/{TEAM_ID}-{file_id}/download/{name}"
        obj = {
            "id": file_id, "name": name, "title": name, "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1], "size": len(content),
            "url_private": url, "url_private_download": url, **extra,
        }  # fmt: skip
        self.files[file_id] = (obj, content)
        return obj

    def start_thread(
        self, channel: str, ts: str, text: str = "hi", user: str = "U0BOB00002"
    ) -> list[dict[str, Any]]:
        """A thread whose root a person wrote; returns its message list (append to it)."""
        messages = [{"type": "message", "user": user, "text": text, "ts": ts}]
        self.threads[(channel, ts)] = messages
        return messages

    # Reading what happened -------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def _is_streaming(self, message: SlackMessage) -> bool:
        if message.streaming and time.monotonic() - message.started > self.stream_lifetime_s:
            message.streaming = False  # Slack ends a stream after its lifetime
        return message.streaming

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Every message the bot published (posted, or streamed and no longer streaming),
        in the order they were created: `text` is what a reader sees."""
        return [m.as_post() for m in self.messages.values() if not self._is_streaming(m)]

    def still_streaming(self) -> list[SlackMessage]:
        """Messages the app started streaming and never stopped (Slack shows them as being
        written until it expires them)."""
        return [m for m in self.messages.values() if self._is_streaming(m)]

    def thread_posts(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's published messages in one thread."""
        return [p for p in self.posts if p["channel"] == channel and p["thread_ts"] == thread_ts]

    def statuses_of(self, thread_ts: str) -> list[str]:
        """Every status set on a thread, in order ("" clears it)."""
        return [status for _, _, ts, status in self.statuses if ts == thread_ts]

    async def wait_for_posts(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """At least `count` successful chat.postMessage calls."""
        await wait_until(lambda: len(self.posts) >= count, f"{count} posts", timeout)
        return self.posts

    async def wait_for_response_posts(
        self, count: int, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """At least `count` posts to response URLs."""
        await wait_until(lambda: len(self.response_posts) >= count, f"{count} responses", timeout)
        return self.response_posts

    async def wait_for_answers_by_response_url(
        self, count: int, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """At least `count` response-URL posts for the channel (not the asker's private
        "working on it" notices)."""

        def answers() -> list[dict[str, Any]]:
            return [p for p in self.response_posts if p.get("response_type") == "in_channel"]

        await wait_until(lambda: len(answers()) >= count, f"{count} answers", timeout)
        return answers()

    # The Web API -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        params: dict[str, Any] = dict(request.query)
        if raw.startswith("{"):
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw, keep_blank_values=True)))
        basic = request.headers.get("Authorization", "")
        if method == "openid.connect.token" and basic.startswith("Basic "):
            # Slack takes the app's credentials as HTTP Basic auth too (slack_sdk sends them so).
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            params.setdefault("client_id", client_id)
            params.setdefault("client_secret", secret)
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)
        if method in self.held:
            await self.held[method].wait()
        # apps.connections.open takes the app-level token; openid.connect.token the app's
        # client ID and secret; every other method the bot token.
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if (
            method != "openid.connect.token"
            and request.headers.get("Authorization") != f"Bearer {token}"
        ):
            return self._error(
                "not_authed" if "Authorization" not in request.headers else "invalid_auth"
            )
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._error("unknown_method")
        fault = self._fault(method)
        if fault is not None:
            params["_ok"] = False
            params["_status"] = fault.status
            return fault
        response: web.Response = handler(params)
        response.headers["x-oauth-scopes"] = ",".join(self.scopes)
        answer = json.loads(response.text or "{}")
        params["_ok"] = answer.get("ok", False)
        params["_ts"] = answer.get("ts")  # the ts Slack gave a posted message
        if not params["_ok"]:
            params["_error"] = answer.get("error")
        for observer in self.observers:
            observer(call)
        return response

    def _fault(self, method: str) -> web.Response | None:
        if self.enforce_tiers and method in TIER_PER_MINUTE:
            now = time.monotonic()
            recent = [t for t in self._tier_calls.get(method, []) if now - t < 60]
            if len(recent) >= TIER_PER_MINUTE[method]:
                self._tier_calls[method] = recent
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(self.retry_after_s)},
                )
            self._tier_calls[method] = [*recent, now]
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if self.server_errors.get(method, 0) > 0:
            self.server_errors[method] -= 1
            return web.Response(status=500, text="Internal Server Error")
        return None

    @staticmethod
    def _ok(body: dict[str, Any]) -> web.Response:
        return web.json_response({"ok": True, **body})

    @staticmethod
    def _error(code: str, status: int = 200) -> web.Response:
        return web.json_response({"ok": False, "error": code}, status=status)

    def _auth_test(self, _: dict[str, Any]) -> web.Response:
        return web.json_response(load("auth.test.ok"))

    @property
    def openid_url(self) -> str:
        """Where the app sends people to sign in (Slack's /openid/connect/authorize)."""
        return f"{self.url}/openid/connect/authorize"

    async def _openid_authorize(self, request: web.Request) -> web.Response:
        """The person approves (or cancels) and is sent back to `redirect_uri` with a code
        and the app's `state`, as Slack does."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if (
            query.get("client_id") != self.oidc_client_id
            or query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").replace(",", " ").split()
            or not redirect_uri
        ):
            return web.Response(status=400, text="invalid authorize request")
        back = {"state": query.get("state", "")}
        if self.oidc_cancels:
            back["error"] = "access_denied"
        else:
            code = f"code-{next(self._ts)}"
            self.oidc_codes[code] = {
                "redirect_uri": redirect_uri,
                "nonce": query.get("nonce"),
                "team": query.get("team"),
            }
            back["code"] = code
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(back)}")

    def _openid_connect_token(self, params: dict[str, Any]) -> web.Response:
        """The code for an access token and an ID token (a JWT; its signature is a
        placeholder: the app takes it straight from Slack over TLS and does not check it)."""
        if params.get("client_id") != self.oidc_client_id:
            return self._error("invalid_client_id")
        if params.get("client_secret") != self.oidc_client_secret:
            return self._error("bad_client_secret")
        grant = self.oidc_codes.pop(str(params.get("code")), None)
        if grant is None:
            return self._error("invalid_code")
        if params.get("redirect_uri") != grant["redirect_uri"]:
            return self._error("bad_redirect_uri")
        user, team, name = self.oidc_user
        now = int(time.time())
        claims = {
            "iss": "https://slack.com",
            "sub": user,
            "aud": self.oidc_client_id,
            "exp": now + 3600,
            "iat": now,
            "auth_time": now,
            "nonce": grant["nonce"],
            "https://slack.com/user_id": user,
            "https://slack.com/team_id": team,
            "name": name,
        }

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        id_token = f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"
        return self._ok(
            {"access_token": f"xoxp-{user}", "token_type": "Bearer", "id_token": id_token}
        )

    def _conversations_info(self, params: dict[str, Any]) -> web.Response:
        channel_id = str(params.get("channel", ""))
        if channel_id in self.info_errors:
            return self._error(self.info_errors[channel_id])
        if channel_id not in self.channels:
            return self._error("channel_not_found")
        return self._ok({"channel": self.channels[channel_id]})

    def _conversations_replies(self, params: dict[str, Any]) -> web.Response:
        key = (str(params.get("channel")), str(params.get("ts")))
        if key[0] not in self.channels:
            return self._error("channel_not_found")
        if key in self.replies_errors:
            return self._error(self.replies_errors[key])
        messages = self.threads.get(key)
        if not messages:
            return self._error("thread_not_found")
        # Pages of at most 1,000 (Slack's maximum), oldest first, with a cursor.
        limit = min(int(params.get("limit") or 1000), 1000)
        offset = int(params.get("cursor") or 0)
        page = messages[offset : offset + limit]
        if str(params.get("include_all_metadata", "")).lower() not in {"1", "true"}:
            # Slack returns message metadata only when asked for it.
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = offset + limit < len(messages)
        return self._ok(
            {
                "messages": page,
                "has_more": more,
                "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
            }
        )

    def _check_blocks(self, params: dict[str, Any], max_blocks: int = BLOCKS_MAX) -> str | None:
        blocks = params.get("blocks")
        if blocks is None:
            return None
        blocks = _json(blocks)
        if len(blocks) > max_blocks:
            return "invalid_blocks"
        for block in blocks:
            kind = block.get("type")
            text = (block.get("text") or {}).get("text", "") if kind == "section" else ""
            if kind == "section" and len(text) > SECTION_TEXT_MAX:
                return "invalid_blocks"
            if kind == "markdown" and len(str(block.get("text", ""))) > MARKDOWN_TEXT_MAX:
                return "invalid_blocks"
            if kind == "context" and len(block.get("elements", [])) > 10:
                return "invalid_blocks"
            if kind == "context_actions" and not self._valid_context_actions(block):
                return "invalid_blocks"
        if max_blocks == BLOCKS_MAX and _text_chars(blocks) > self.blocks_text_max:
            return "msg_blocks_too_long"
        return None

    @staticmethod
    def _valid_context_actions(block: dict[str, Any]) -> bool:
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= CONTEXT_ACTIONS_MAX:
            return False
        for element in elements:
            if element.get("type") != "feedback_buttons":
                continue
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if not isinstance(button, dict):
                    return False
                text = (button.get("text") or {}).get("text", "")
                if (button.get("text") or {}).get("type") != "plain_text":
                    return False
                if not text or len(text) > FEEDBACK_TEXT_MAX:
                    return False
                if len(str(button.get("value", ""))) > FEEDBACK_VALUE_MAX:
                    return False
        return True

    @staticmethod
    def _check_markdown(params: dict[str, Any]) -> str | None:
        markdown = params.get("markdown_text")
        if markdown is None:
            return None
        if params.get("text") or params.get("blocks"):
            return "markdown_text_conflict"
        if len(str(markdown)) > MARKDOWN_TEXT_MAX:
            return "msg_too_long"
        return None

    def _new_message(
        self, channel: str, thread_ts: str | None, record_text: str, **extra: Any
    ) -> SlackMessage:
        ts = f"{1_800_000_000 + next(self._ts)}.000100"
        record: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": record_text[:POST_TEXT_MAX],
        }
        if thread_ts:
            record["thread_ts"] = thread_ts
            self.threads.setdefault((channel, thread_ts), []).append(record)
            shown = self.statuses_of(thread_ts)
            if shown and shown[-1]:
                # "It clears after 2 minutes or when the app replies" (changelog 2026/03/05).
                self.statuses.append((time.monotonic(), channel, thread_ts, ""))
        else:  # a top-level message is the root of the thread people may start under it
            self.threads.setdefault((channel, ts), []).append(record)
        message = SlackMessage(channel, ts, thread_ts, record, **extra)
        self.messages[(channel, ts)] = message
        return message

    def _set_metadata(self, message: SlackMessage, metadata: Any) -> None:
        if metadata:
            message.metadata = _json(metadata)
            message.record["metadata"] = message.metadata

    def _chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel", ""))
        if channel not in self.channels:
            return self._error("channel_not_found")
        if channel in self.not_member:
            return self._error("not_in_channel")
        if not params.get("text") and not params.get("blocks") and not params.get("markdown_text"):
            return self._error("no_text")
        error = self._check_markdown(params) or self._check_blocks(params)
        if error:
            return self._error(error)
        text = str(params.get("text", ""))
        message = self._new_message(
            channel,
            str(params["thread_ts"]) if params.get("thread_ts") else None,
            text or str(params.get("markdown_text", "")),
            text=text[:POST_TEXT_MAX],
            markdown=str(params.get("markdown_text", "")),
            blocks=_json(params.get("blocks") or []),
        )
        self._set_metadata(message, params.get("metadata"))
        body: dict[str, Any] = {"channel": channel, "ts": message.ts, "message": message.record}
        if len(text) > POST_TEXT_MAX:
            body["response_metadata"] = {"warnings": ["message_truncated"]}
        return self._ok(body)

    def _chat_update(self, params: dict[str, Any]) -> web.Response:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        message = self.messages.get((channel, ts))
        if message is None:
            return self._error("message_not_found")
        if self._is_streaming(message):
            return self._error("streaming_state_conflict")
        if len(str(params.get("text", ""))) > UPDATE_TEXT_MAX:
            return self._error("msg_too_long")
        error = self._check_markdown(params) or self._check_blocks(params)
        if error:
            return self._error(error)
        message.text = str(params.get("text", ""))
        message.markdown = str(params.get("markdown_text", ""))
        message.blocks = _json(params.get("blocks") or [])
        message.updated = True
        message.record["text"] = message.text or message.markdown
        if "metadata" in params:
            self._set_metadata(message, params.get("metadata"))
        return self._ok({"channel": channel, "ts": ts, "text": message.text})

    # Streaming ---------------------------------------------------------------------------

    def _chat_startStream(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel", ""))
        if channel not in self.channels:
            return self._error("channel_not_found")
        if channel in self.not_member:
            return self._error("not_in_channel")
        if channel in self.streaming_refused:
            return self._error(self.streaming_refused[channel])
        if not params.get("thread_ts"):
            return self._error("invalid_arguments")  # streamed messages are replies
        if not self.channels[channel].get("is_im"):
            if not params.get("recipient_user_id"):
                return self._error("missing_recipient_user_id")
            if not params.get("recipient_team_id"):
                return self._error("missing_recipient_team_id")
        error = self._check_markdown(params)
        if error:
            return self._error(error)
        markdown = str(params.get("markdown_text") or "")
        message = self._new_message(
            channel,
            str(params["thread_ts"]),
            markdown,
            markdown=markdown,
            streamed=True,
            streaming=True,
            started=time.monotonic(),
        )
        return self._ok({"channel": channel, "ts": message.ts})

    def _streaming_message(self, params: dict[str, Any]) -> SlackMessage | str:
        message = self.messages.get((str(params.get("channel", "")), str(params.get("ts", ""))))
        if message is None:
            return "message_not_found"
        if not self._is_streaming(message):
            return "message_not_in_streaming_state"
        return message

    def _chat_appendStream(self, params: dict[str, Any]) -> web.Response:
        message = self._streaming_message(params)
        if isinstance(message, str):
            return self._error(message)
        markdown = params.get("markdown_text")
        if not markdown:
            return self._error("no_text")
        if len(str(markdown)) > MARKDOWN_TEXT_MAX:
            return self._error("msg_too_long")
        self._appends += 1
        if self.user_stops_after_appends is not None and (
            self._appends > self.user_stops_after_appends
        ):
            message.streaming = False  # the reader pressed stop
            message.stopped_by_user = True
            return self._error(self.user_stop_error)
        message.markdown += str(markdown)
        message.record["text"] = message.markdown
        return self._ok({"channel": message.channel, "ts": message.ts})

    def _chat_stopStream(self, params: dict[str, Any]) -> web.Response:
        message = self._streaming_message(params)
        if isinstance(message, str):
            return self._error(message)
        error = self._check_blocks(params)
        if error:
            return self._error(error)
        markdown = params.get("markdown_text")
        if markdown is not None and len(str(markdown)) > MARKDOWN_TEXT_MAX:
            return self._error("msg_too_long")
        message.markdown += str(markdown or "")
        message.record["text"] = message.markdown
        message.blocks = _json(params.get("blocks") or [])
        self._set_metadata(message, params.get("metadata"))
        message.streaming = False
        return self._ok({"channel": message.channel, "ts": message.ts, "message": message.record})

    # The assistant surfaces and the Home tab ---------------------------------------------

    def _assistant_threads_setStatus(self, params: dict[str, Any]) -> web.Response:
        channel, thread_ts = str(params.get("channel_id", "")), params.get("thread_ts")
        if "status" not in params or not thread_ts:
            return self._error("invalid_arguments")
        if self.status_refused:
            return self._error(self.status_refused)
        if channel not in self.channels:
            return web.json_response(
                {"ok": False, "error": "channel_not_found", "detail": "Invalid channel_id"}
            )
        loading = _json(params.get("loading_messages"))
        if loading is not None and (
            not 1 <= len(loading) <= LOADING_MESSAGES_MAX
            or any(not 1 <= len(str(m)) <= LOADING_MESSAGE_CHARS for m in loading)
        ):
            return self._error("invalid_arguments")
        self.statuses.append((time.monotonic(), channel, str(thread_ts), str(params["status"])))
        return self._ok({})

    def _assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> web.Response:
        prompts = _json(params.get("prompts"))
        if str(params.get("channel_id", "")) not in self.channels:
            return self._error("channel_not_found")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= SUGGESTED_PROMPTS_MAX:
            return self._error("invalid_arguments")
        if any(not p.get("title") or not p.get("message") for p in prompts):
            return self._error("invalid_arguments")
        self.suggested_prompts.append(params)
        return self._ok({})

    def _assistant_threads_setTitle(self, params: dict[str, Any]) -> web.Response:
        if not params.get("thread_ts") or not params.get("title"):
            return self._error("invalid_arguments")
        if str(params.get("channel_id", "")) not in self.channels:
            return self._error("channel_not_found")
        self.titles.append(params)
        return self._ok({})

    def _views_publish(self, params: dict[str, Any]) -> web.Response:
        if not str(params.get("user_id", "")).startswith(("U", "W")):
            return self._error("invalid_arguments")
        raw = params.get("view")
        view = _json(raw)
        if len(json.dumps(view).encode()) > VIEW_BYTES_MAX:
            return self._error("view_too_large")
        if view.get("type") != "home":
            return self._error("invalid_arguments")
        if self._check_blocks({"blocks": view.get("blocks")}, max_blocks=HOME_BLOCKS_MAX):
            return self._error("invalid_blocks")
        self.published_views.append({"user_id": params["user_id"], "view": view})
        return self._ok({"view": {"id": "V0HOME0001", **view}})

    def _chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        if len(str(params.get("text", ""))) > UPDATE_TEXT_MAX:
            return self._error("msg_too_long")
        if str(params.get("channel", "")) not in self.channels:
            return self._error("channel_not_found")
        return self._ok({"message_ts": f"{1_800_000_000 + next(self._ts)}.000200"})

    def _apps_connections_open(self, _: dict[str, Any]) -> web.Response:
        return self._ok({"url": self.url.replace("http://", "ws://") + "/link"})

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {"type": "hello", "num_connections": 1,
             "debug_info": {"host": "fake", "approximate_connection_time": 18060},
             "connection_info": {"app_id": "A0APP00001"}}
        )  # fmt: skip
        self._socket = ws
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return ws

    async def socket_send(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Deliver an event or command over Socket Mode; returns its envelope_id."""
        await wait_until(lambda: self._socket is not None, "a Socket Mode connection", 30)
        assert self._socket is not None
        envelope_id = f"env-{len(self.socket_acks)}-{next(self._ts)}"
        await self._socket.send_json(
            {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
             "accepts_response_payload": envelope_type != "events_api",
             "retry_attempt": 0, "retry_reason": ""}
        )  # fmt: skip
        return envelope_id

    def _files_info(self, params: dict[str, Any]) -> web.Response:
        entry = self.files.get(str(params.get("file", "")))
        if entry is None:
            return self._error("file_not_found")
        return self._ok({"file": entry[0]})

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self.file_downloads.append(file_id)
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            # Slack answers a sign-in page, with 200, to a download without a valid token.
            return web.Response(
                text="<!DOCTYPE html><html>Sign in</html>", content_type="text/html"
            )
        entry = self.files.get(file_id)
        if entry is None:
            return web.Response(status=404, text="not found")
        # As over a real network: the body arrives in pieces, with chunked transfer encoding
        # (no Content-Length) unless the file says otherwise.
        response = web.StreamResponse(headers={"Content-Type": entry[0]["mimetype"]})
        if entry[0].get("_content_length") is not None:
            response.content_length = int(entry[0]["_content_length"])
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        content = entry[1]
        cut_after = entry[0].get("_cut_after")
        if cut_after is not None:
            # The connection drops part-way, as networks do.
            await response.write(content[: int(cut_after)])
            if request.transport is not None:
                request.transport.close()
            return response
        for start in range(0, len(content), DOWNLOAD_CHUNK):
            await response.write(content[start : start + DOWNLOAD_CHUNK])
            await asyncio.sleep(0.001)
        await response.write_eof()
        return response

    def _users_info(self, params: dict[str, Any]) -> web.Response:
        user = str(params.get("user", ""))
        if not user.startswith("U"):
            return self._error("user_not_found")
        return self._ok(
            {
                "user": {
                    "id": user,
                    "team_id": TEAM_ID,
                    "name": user.lower(),
                    "is_bot": user == BOT_USER_ID,
                }
            }
        )

    # Response URLs ---------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if request.headers.get("Authorization"):
            return web.Response(status=400, text="unexpected_authorization")
        if self.response_url_rate_limited > 0:
            self.response_url_rate_limited -= 1
            return web.Response(
                status=429, text="rate_limited", headers={"Retry-After": str(self.retry_after_s)}
            )
        uses = self._response_url_uses.get(key, 0)
        if uses >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        self._response_url_uses[key] = uses + 1
        body = await request.json()
        if "markdown_text" in body:
            return web.Response(status=400, text="invalid_payload")  # response URLs take mrkdwn
        if self._check_blocks(body):
            return web.Response(status=400, text="invalid_blocks")
        self.response_posts.append(body)
        self.response_posts_by_key.setdefault(key, []).append(body)
        return web.Response(text="ok", content_type="text/plain")
