"""Loopback model servers that speak the OpenAI `/v1/chat/completions` protocol and the
Ollama `/api/chat` protocol, streaming and not, and record every message they receive, so a
test can assert which server saw which text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve_on_loopback

# What a model writes when it runs out of tokens in the middle of a JSON object.
BROKEN_JSON = '{"subject": "Order problem", "summary": "unterminated'


@dataclass
class FakeModelServer:
    """One model server. `name` appears in every answer; `down` makes it answer 503."""

    name: str
    protocol: str  # "openai" or "ollama"
    api_key: str | None = None
    down: bool = False
    # How many structured-output (JSON schema) requests get broken JSON before valid ones.
    json_failures: int = 0
    # What the model writes instead of its usual answer (untrusted output, in tests).
    reply: str | None = None
    # Written into every string of a structured (JSON schema) answer.
    inject: str = ""
    # Faults: seconds before the first byte of an answer; seconds between streamed words;
    # accept requests and never answer; answer every chat request with this HTTP status
    # and the server's "too long" error (llama.cpp and OpenAI say 400 for that).
    delay_s: float = 0.0
    word_delay_s: float = 0.0
    hang: bool = False
    reject_status: int | None = None
    # Chat requests being answered now, and the most there ever were at once.
    in_flight: int = 0
    # Words written to streamed answers (a cancelled call stops adding to it).
    words_sent: int = 0
    # Streamed answers end as a model's do at its token limit (`length`).
    cut_off: bool = False
    max_in_flight: int = 0
    # More models the server lists (Ollama's /api/tags, OpenAI's /v1/models) besides `name`.
    other_models: tuple[str, ...] = ()
    # Words of filler after the usual answer (a longer answer, for benchmarks).
    extra_words: int = 0
    # Per streamed OpenAI answer: (question, request arrived, first word written, last
    # word written), on this process's monotonic clock.
    timings: list[tuple[str, float, float, float]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What the app is configured with: `/v1` for OpenAI-compatible, the root for Ollama."""
        return f"{self.url}/v1" if self.protocol == "openai" else self.url

    async def start(self, port: int = 0) -> FakeModelServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_post("/api/chat", self._ollama_chat)
        app.router.add_get("/api/tags", self._ollama_tags)
        self._runner, self.url = await serve_on_loopback(app, port)
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

    def answer_for(
        self, messages: list[dict[str, Any]], schema: dict[str, Any] | None = None
    ) -> str:
        """Plain text naming this server; with a JSON schema, a JSON instance of it (or, while
        `json_failures` lasts, the kind of broken JSON small models write)."""
        last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        if schema is None:
            if self.reply is not None:
                return self.reply
            filler = "".join(f" word{i}" for i in range(self.extra_words))
            return f"answer from {self.name} to: {str(last.get('content', ''))[:80]}{filler}"
        if self.json_failures > 0:
            self.json_failures -= 1
            return BROKEN_JSON
        marker = f"{self.inject} from {self.name}".strip()
        instance = schema_instance(schema, schema.get("$defs", {}), marker)
        return json.dumps(instance)

    # Shared behaviour ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _answering(self, request: web.Request) -> AsyncIterator[None]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Hung: nothing is sent until the client gives up (closes its connection); aiohttp
            # has no event for that, so it is polled.
            while (  # noqa: ASYNC110
                self.hang and request.transport is not None and not request.transport.is_closing()
            ):
                await asyncio.sleep(0.05)
            await asyncio.sleep(self.delay_s)
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the client went away")
            yield
        finally:
            self.in_flight -= 1

    def _rejected(self) -> web.Response | None:
        if self.reject_status is None:
            return None
        message = "the request exceeds the available context size, try increasing it"
        return web.json_response(
            {"error": {"message": message, "type": "exceed_context_size_error", "code": 400}},
            status=self.reject_status,
        )

    def _refuse(self, request: web.Request) -> web.Response | None:
        self.auth_headers.append(request.headers.get("Authorization"))
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
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
        models = [{"id": m, "object": "model"} for m in (self.name, *self.other_models)]
        return web.json_response({"object": "list", "data": models})

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request) or self._rejected()
        if refused is not None:
            return refused
        arrived = time.monotonic()
        body = await request.json()
        self.requests.append(body)
        try:
            async with self._answering(request):
                return await self._openai_answer(request, body, arrived)
        except ConnectionResetError:  # the client gave up (a timeout): nothing left to send
            return web.Response(status=499)

    async def _openai_answer(
        self, request: web.Request, body: dict[str, Any], arrived: float
    ) -> web.StreamResponse:
        response_format = body.get("response_format") or {}
        schema = (response_format.get("json_schema") or {}).get("schema")
        text = self.answer_for(body.get("messages", []), schema)
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
                            # A cut-off answer ends with "length", as OpenAI and llama.cpp say.
                            "finish_reason": "length" if text == BROKEN_JSON else "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = text.split(" ")
        first_word_at = arrived
        for i, word in enumerate(words):
            if i:
                await asyncio.sleep(self.word_delay_s)
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
            self.words_sent += 1
            if i == 0:
                first_word_at = time.monotonic()
        question = next(
            (str(m.get("content", "")) for m in reversed(body.get("messages", []))
             if m.get("role") == "user"),
            "",
        )  # fmt: skip
        self.timings.append((question, arrived, first_word_at, time.monotonic()))
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "length" if self.cut_off else "stop"}
            ],
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
        names = (self.name, *self.other_models)
        return web.json_response({"models": [{"name": n, "model": n} for n in names]})

    async def _ollama_chat(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return web.json_response({"error": "model is overloaded"}, status=refused.status)
        if self.reject_status is not None:
            return web.json_response(
                {"error": "input length exceeds the context length"}, status=self.reject_status
            )
        body = await request.json()
        self.requests.append(body)
        try:
            async with self._answering(request):
                return await self._ollama_answer(request, body)
        except ConnectionResetError:  # the client gave up (a timeout): nothing left to send
            return web.Response(status=499)

    async def _ollama_answer(
        self, request: web.Request, body: dict[str, Any]
    ) -> web.StreamResponse:
        schema = body.get("format") if isinstance(body.get("format"), dict) else None
        text = self.answer_for(body.get("messages", []), schema)
        stamp = "2026-11-29T00:00:00Z"
        done = {
            "model": body.get("model"),
            "created_at": stamp,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length" if self.cut_off else "stop",
            "prompt_eval_count": 10,
            "eval_count": 10,
        }
        if body.get("stream") is False:
            return web.json_response({**done, "message": {"role": "assistant", "content": text}})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for i, word in enumerate(text.split(" ")):
            if i:
                await asyncio.sleep(self.word_delay_s)
            line = {
                "model": body.get("model"),
                "created_at": stamp,
                "message": {"role": "assistant", "content": word if i == 0 else " " + word},
                "done": False,
            }
            await response.write((json.dumps(line) + "\n").encode())
            self.words_sent += 1
        await response.write((json.dumps(done) + "\n").encode())
        await response.write_eof()
        return response


def schema_instance(schema: dict[str, Any], defs: dict[str, Any], marker: str) -> Any:
    """A value that satisfies a (pydantic-generated) JSON schema: first enum values, one item
    per array, `marker` inside strings, so a test can tell which server wrote it."""
    if "$ref" in schema:
        return schema_instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, marker)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return schema_instance(options[0], defs, marker) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_instance(sub, defs, f"{name} {marker}") for name, sub in props.items()}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), defs, marker)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return marker[: schema.get("maxLength", 200)]
