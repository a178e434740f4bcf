"""The playground: channels of every kind, threads, and answers streamed from the same
`AnswerService` Slack uses (same router, memory and audit), with the route decision and the
sensitive spans beside each answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from langchain_core.messages import BaseMessage

from bot import metrics
from bot.answers import (
    Answer,
    AnswerFailed,
    CannotAnswer,
    Outcome,
    Question,
    Stopped,
    failure_record,
    well_formed,
)
from bot.console.channels import (
    CONSOLE_TEAM,
    CONSOLE_USER,
    PlaygroundChannel,
    find_channel,
    is_listed,
    playground_channels,
)
from bot.console.guard import session_of
from bot.console.rendering import REPLY_GUARD_KEY, render, services_of
from bot.memory import ConversationKey
from bot.redis_client import BEST_EFFORT_TIMEOUT_S
from bot.routing.classifier import Classifier
from bot.routing.decision import describe_reason
from bot.routing.report import scan
from bot.slack.command_text import parse_ask_text
from bot.slack.delivery import LAST_WORD_TIMEOUT_S, RESTARTED_TEXT, Asker
from bot.slack.email_requests import email_in_text
from bot.slack.formatting import USAGE_TEXT, context_line

log = logging.getLogger(__name__)

THREAD_ID = re.compile(r"^[a-z0-9]{6,32}$")
ASK_COMMAND = re.compile(r"^\s*/ask(?=\s|$)", re.IGNORECASE)
# As much as one Slack message can hold.
MAX_QUESTION_CHARS = 40_000
THREADS_LISTED = 20
# How often a streaming answer checks that its page is still open.
DISCONNECT_POLL_S = 0.25


def _thread_id(value: str | None) -> str | None:
    return value if value and THREAD_ID.match(value) else None


def asker_id(request: web.Request) -> str:
    """Who asks: the Slack user signed in with Slack, else the console's own user ID."""
    return session_of(request).user or CONSOLE_USER


def conversation(channel: PlaygroundChannel, thread: str) -> ConversationKey:
    """The memory key of a playground thread (under the console's own team ID)."""
    return ConversationKey(CONSOLE_TEAM, channel.facts.channel_id, thread)


def _message_text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


def _threads_key(request: web.Request, channel: PlaygroundChannel) -> str:
    services = services_of(request)
    return f"{services.settings.redis_prefix}:console:threads:{channel.facts.channel_id}"


async def _threads(request: web.Request, channel: PlaygroundChannel) -> list[str]:
    """The channel's newest threads (IDs only), from the console's own sorted set: no SCAN
    over a keyspace that holds every Slack conversation."""
    ids = await services_of(request).redis.zrevrange(
        _threads_key(request, channel), 0, THREADS_LISTED - 1
    )
    names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
    return [t for t in map(_thread_id, names) if t is not None]


async def _remember_thread(request: web.Request, channel: PlaygroundChannel, thread: str) -> None:
    """List the thread (as long as memory keeps conversations); best effort."""
    services = services_of(request)
    key, now, ttl = _threads_key(request, channel), time.time(), services.settings.memory_ttl_s
    try:
        async with asyncio.timeout(BEST_EFFORT_TIMEOUT_S):
            pipe = services.redis.pipeline(transaction=False)
            pipe.zadd(key, {thread: now})
            pipe.zremrangebyscore(key, "-inf", now - ttl)
            pipe.expire(key, ttl)
            await pipe.execute()
    except (aioredis.RedisError, OSError, TimeoutError):
        log.warning("console could not list a thread", exc_info=True)


async def page(request: web.Request) -> web.Response:
    """The playground page for a channel and thread (a new thread when none is given)."""
    services = services_of(request)
    policy = services.classifier.policy
    channels = playground_channels(policy)
    channel = find_channel(channels, request.query.get("channel"))
    thread = _thread_id(request.query.get("thread")) or secrets.token_hex(6)
    messages: list[dict[str, str]] = []
    threads: list[str] = []
    memory_error = None
    try:
        history = services.memory.history(conversation(channel, thread))
        messages = [
            {"who": "you" if m.type == "human" else "hearthbot", "text": _message_text(m)}
            for m in await history.aget_messages()
        ]
        threads = await _threads(request, channel)
    except (aioredis.RedisError, OSError, TimeoutError):
        log.warning("console could not read memory", exc_info=True)
        memory_error = "The memory store (Redis) did not answer: earlier messages are not shown."
    return render(
        request,
        "playground.html",
        channels=[{"channel": c, "listed": is_listed(policy, c)} for c in channels],
        channel=channel,
        listed=is_listed(policy, channel),
        thread=thread,
        threads=threads,
        messages=messages,
        memory_error=memory_error,
    )


def _scanned(classifier: Classifier, question: str, memory: list[str]) -> list[dict[str, Any]]:
    texts = [scan(classifier, "question", question).as_json()]
    texts += [
        scan(classifier, f"memory, message {i}", text).as_json()
        for i, text in enumerate(memory, start=1)
    ]
    return texts


def _answer_event(answer: Answer, scanned: list[dict[str, Any]]) -> dict[str, Any]:
    decision = answer.decision
    return {
        "type": "answer",
        "text": answer.text,
        "context": context_line(answer),
        "notes": list(answer.notes),
        "route": decision.route.value,
        "model": decision.model,
        "answered_by": answer.answered_by,
        "outcome": answer.outcome.value,
        "reasons": [[r, describe_reason(r)] for r in decision.reasons],
        "scanned": scanned,
    }


async def ask(request: web.Request) -> web.StreamResponse:
    """Answer a question (or summarise a pasted customer email) as `/ask` would, streaming
    newline-delimited JSON: `text` pieces as the model writes, then the `answer` with its
    decision and what was scanned."""
    services = services_of(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return web.json_response({"error": "the body must be JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    channels = playground_channels(services.classifier.policy)
    channel = next((c for c in channels if c.slug == body.get("channel")), None)
    thread = _thread_id(body.get("thread") if isinstance(body.get("thread"), str) else None)
    text = body.get("text")
    if channel is None or thread is None or not isinstance(text, str):
        return web.json_response({"error": "channel, thread and text are required"}, status=400)
    if len(text) > MAX_QUESTION_CHARS:
        return web.json_response(
            {"error": f"at most {MAX_QUESTION_CHARS:,} characters, as in a Slack message"},
            status=413,
        )
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)

    async def send(event: dict[str, Any]) -> None:
        try:
            await response.write(json.dumps(event, ensure_ascii=False).encode() + b"\n")
        except (ConnectionResetError, RuntimeError) as exc:
            # The page was closed: stop the model (its call is cancelled).
            raise Stopped from exc

    # What follows `/ask` in Slack; typing the command itself, as in Slack, works too.
    parsed = parse_ask_text(ASK_COMMAND.sub("", well_formed(text), count=1))
    if parsed.wants_help:
        await send({"type": "help", "text": USAGE_TEXT})
        return response
    key = conversation(channel, thread)
    metrics.REQUESTS.labels("console").inc()
    await _remember_thread(request, channel, thread)
    force_local = parsed.force_local or body.get("local") is True
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_page(request, gone))
    started = time.monotonic()
    try:
        with services.in_flight.track():  # a graceful shutdown waits for it
            await _answer(request, send, channel, key, parsed.question, force_local, gone)
    except asyncio.CancelledError:
        # Shutdown's deadline passed (the answer service has recorded nothing): the page
        # hears so, and the audit trail says so, as in Slack.
        log.warning("console answer cut off by shutdown")
        task = asyncio.current_task()
        if task is not None:
            # Accepted: the handler ends here, its response finished properly (aiohttp
            # would otherwise drop the connection mid-chunk, the last words with it).
            task.uncancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(LAST_WORD_TIMEOUT_S):
                await send({"type": "error", "text": RESTARTED_TEXT})
                await response.write_eof()
                await services.audit.record(
                    failure_record(
                        team=CONSOLE_TEAM,
                        channel=channel.facts.channel_id,
                        thread=thread,
                        user=asker_id(request),
                        outcome=Outcome.ERROR,
                        reason="shutdown",
                        started=started,
                    )
                )
    finally:
        watcher.cancel()
    return response


async def _watch_page(request: web.Request, gone: asyncio.Event) -> None:
    """Set `gone` once the browser has closed the connection (aiohttp has no event for it):
    the answer service then takes the question out of the line, or stops the model, and
    records it as stopped with its route."""
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(DISCONNECT_POLL_S)
    gone.set()


async def _answer(
    request: web.Request,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    channel: PlaygroundChannel,
    key: ConversationKey,
    text: str,
    force_local: bool,
    gone: asyncio.Event,
) -> None:
    """Answer through the answer service, as Slack's entry points do, within the same
    per-person and per-channel limits."""
    services = services_of(request)
    guard = request.app[REPLY_GUARD_KEY]
    try:
        await guard.admit(
            Asker(CONSOLE_TEAM, channel.facts.channel_id, key.thread_ts, asker_id(request))
        )
    except CannotAnswer as exc:
        await send({"type": "error", "text": exc.text})
        return
    email = email_in_text(text)
    question = Question(
        conversation=key,
        facts=channel.facts,
        user_id=asker_id(request),
        text=email.instruction if email else text,
        force_local=force_local,
        asker_gone=gone,
    )
    try:
        memory = [_message_text(m) for m in await services.memory.history(key).aget_messages()]
    except (aioredis.RedisError, OSError, TimeoutError):
        memory = []

    async def waiting(ahead: int) -> None:
        # A notice, sent beside the wait (a closed page is the watcher's to notice).
        with contextlib.suppress(Stopped):
            await send({"type": "waiting", "ahead": ahead})

    async def on_text(piece: str) -> None:
        if gone.is_set():
            raise Stopped  # the model call is cancelled, what was written is kept
        await send({"type": "text", "text": piece})

    try:
        if email is not None:
            answer = await services.answers.summarize_email(question, email.email, waiting)
        else:
            answer = await services.answers.answer(question, waiting, on_text)
    except CannotAnswer as exc:
        await send({"type": "error", "text": exc.text})
        return
    except Stopped:
        return
    except Exception as exc:  # every failure ends in a sentence for the page
        # The type only: an exception's message may quote the question.
        cause = exc.__cause__ if isinstance(exc, AnswerFailed) else exc
        log.warning("console answer failed", extra={"error": type(cause).__name__})
        await send({"type": "error", "text": "Something went wrong; nothing was answered."})
        return
    if gone.is_set():
        return
    scanned = await asyncio.to_thread(_scanned, services.classifier, text, memory)
    with contextlib.suppress(Stopped):  # the page was closed after the answer was written
        await send(_answer_event(answer, scanned))


def add_routes(app: web.Application) -> None:
    """GET /playground, POST /api/ask."""
    app.router.add_get("/playground", page)
    app.router.add_post("/api/ask", ask)
