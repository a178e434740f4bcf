"""A loopback stand-in for the Slack Web API and for response URLs.

It answers the methods hearthbot calls with Slack's response shapes (from tests/data/slack),
records every call, and enforces the Slack behaviour the app must cope with: bearer-token
auth, `not_in_channel` / `channel_not_found`, `no_text`, block limits, `msg_too_long` on
chat.update and chat.postEphemeral, text truncation at 40,000 characters, and response URLs
that accept at most 5 posts.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.loopback import serve_on_loopback, wait_until

DATA = Path(__file__).resolve().parents[1] / "data" / "slack"
BOT_TOKEN = "xoxb-test-0000-hearthbot"
APP_TOKEN = "xapp-1-A0APP00001-0000-hearthbot"
TEAM_ID = "T0TEAM0001"
BOT_USER_ID = "U0BOTUSER1"
BOT_ID = "B0BOTID001"

SECTION_TEXT_MAX = 3000
BLOCKS_MAX = 50
POST_TEXT_MAX = 40_000
UPDATE_TEXT_MAX = 4000
RESPONSE_URL_USES = 5
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


@dataclass
class Call:
    """One request the app made."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]


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
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    response_posts: list[dict[str, Any]] = field(default_factory=list)
    # The same posts by response URL key.
    response_posts_by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Uploaded files: id -> (file object, content).
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    file_downloads: list[str] = field(default_factory=list)
    # Socket Mode: what the app sent back over the WebSocket (acks carry the envelope_id).
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _socket: web.WebSocketResponse | None = None
    url: str = ""
    _runner: web.AppRunner | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _response_url_uses: dict[str, int] = field(default_factory=dict)

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

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Parameters of every successful chat.postMessage."""
        return [c.params for c in self.calls_to("chat.postMessage") if c.params.get("_ok")]

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

    # The Web API -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        params: dict[str, Any] = dict(request.query)
        if raw.startswith("{"):
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw, keep_blank_values=True)))
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)
        # apps.connections.open takes the app-level token; every other method the bot token.
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if request.headers.get("Authorization") != f"Bearer {token}":
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
        answer = json.loads(response.text or "{}")
        params["_ok"] = answer.get("ok", False)
        params["_ts"] = answer.get("ts")  # the ts Slack gave a posted message
        return response

    def _fault(self, method: str) -> web.Response | None:
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

    def _check_blocks(self, params: dict[str, Any]) -> str | None:
        blocks = params.get("blocks")
        if blocks is None:
            return None
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if len(blocks) > BLOCKS_MAX:
            return "invalid_blocks"
        for block in blocks:
            text = (block.get("text") or {}).get("text", "")
            if block.get("type") == "section" and len(text) > SECTION_TEXT_MAX:
                return "invalid_blocks"
            if block.get("type") == "context" and len(block.get("elements", [])) > 10:
                return "invalid_blocks"
        return None

    def _chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel", ""))
        if channel not in self.channels:
            return self._error("channel_not_found")
        if channel in self.not_member:
            return self._error("not_in_channel")
        if not params.get("text") and not params.get("blocks"):
            return self._error("no_text")
        error = self._check_blocks(params)
        if error:
            return self._error(error)
        ts = f"{1_800_000_000 + next(self._ts)}.000100"
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": str(params.get("text", ""))[:POST_TEXT_MAX],
        }
        if params.get("metadata"):
            metadata = params["metadata"]
            message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
            self.threads.setdefault((channel, str(params["thread_ts"])), []).append(message)
        else:  # a top-level message is the root of the thread people may start under it
            self.threads.setdefault((channel, ts), []).append(message)
        body: dict[str, Any] = {"channel": channel, "ts": ts, "message": message}
        if len(str(params.get("text", ""))) > POST_TEXT_MAX:
            body["response_metadata"] = {"warnings": ["message_truncated"]}
        return self._ok(body)

    def _chat_update(self, params: dict[str, Any]) -> web.Response:
        if len(str(params.get("text", ""))) > UPDATE_TEXT_MAX:
            return self._error("msg_too_long")
        error = self._check_blocks(params)
        if error:
            return self._error(error)
        return self._ok(
            {
                "channel": params.get("channel"),
                "ts": params.get("ts"),
                "text": params.get("text", ""),
            }
        )

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
        self.response_posts.append(body)
        self.response_posts_by_key.setdefault(key, []).append(body)
        return web.Response(text="ok", content_type="text/plain")
