"""Loopback model servers that speak the OpenAI `/v1/chat/completions` protocol and the
Ollama `/api/chat` protocol, streaming and not, and record every message they receive, so a
test can assert which server saw which text."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve_on_loopback


@dataclass
class FakeModelServer:
    """One model server. `name` appears in every answer; `down` makes it answer 503."""

    name: str
    protocol: str  # "openai" or "ollama"
    api_key: str | None = None
    down: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What the app is configured with: `/v1` for OpenAI-compatible, the root for Ollama."""
        return f"{self.url}/v1" if self.protocol == "openai" else self.url

    async def start(self) -> FakeModelServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_post("/api/chat", self._ollama_chat)
        app.router.add_get("/api/tags", self._ollama_tags)
        self._runner, self.url = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # What it saw ---------------------------------------------------------------------------

    def texts(self) -> list[str]:
        """Every message content received, across all requests."""
        return [str(m.get("content", "")) for r in self.requests for m in r.get("messages", [])]

    def saw(self, fragment: str) -> bool:
        return any(fragment in text for text in self.texts())

    def answer_for(self, messages: list[dict[str, Any]]) -> str:
        last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        return f"answer from {self.name} to: {str(last.get('content', ''))[:80]}"

    # Shared behaviour ------------------------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.Response | None:
        self.auth_headers.append(request.headers.get("Authorization"))
        if self.down:
            return web.json_response(
                {"error": {"message": "overloaded", "type": "server_error"}}, status=503
            )
        if (
            self.api_key is not None
            and request.headers.get("Authorization") != f"Bearer {self.api_key}"
        ):
            return web.json_response(
                {"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401
            )
        return None

    # OpenAI -------------------------------------------------------------------------------

    async def _openai_models(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return web.json_response({"object": "list", "data": [{"id": self.name, "object": "model"}]})

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.requests.append(body)
        text = self.answer_for(body.get("messages", []))
        created = int(time.time())
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = text.split(" ")
        for i, word in enumerate(words):
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": word if i == 0 else " " + word},
                        "finish_reason": None,
                    }
                ],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(f"data: {json.dumps(final)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            # OpenAI's protocol: one more chunk, with no choices, carrying the usage.
            usage = {
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                "model": body.get("model"), "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }  # fmt: skip
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # Ollama -------------------------------------------------------------------------------

    async def _ollama_tags(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return web.json_response({"models": [{"name": self.name, "model": self.name}]})

    async def _ollama_chat(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return web.json_response({"error": "model is overloaded"}, status=refused.status)
        body = await request.json()
        self.requests.append(body)
        text = self.answer_for(body.get("messages", []))
        stamp = "2026-11-29T00:00:00Z"
        done = {
            "model": body.get("model"),
            "created_at": stamp,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 10,
            "eval_count": 10,
        }
        if body.get("stream") is False:
            return web.json_response({**done, "message": {"role": "assistant", "content": text}})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for i, word in enumerate(text.split(" ")):
            line = {
                "model": body.get("model"),
                "created_at": stamp,
                "message": {"role": "assistant", "content": word if i == 0 else " " + word},
                "done": False,
            }
            await response.write((json.dumps(line) + "\n").encode())
        await response.write((json.dumps(done) + "\n").encode())
        await response.write_eof()
        return response
