"""Answering one question: memory in, router, memory out, audit record. Shared by Slack and
`hearthbot chat`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from redis.exceptions import RedisError

from bot import metrics
from bot.audit import AuditLog, AuditRecord
from bot.capacity import Busy, Gate, WaitNotice
from bot.cpu_work import cpu_work
from bot.customer_email.parse import MAX_BODY_CHARS, ParsedEmail
from bot.customer_email.schema import EmailSummary
from bot.customer_email.summarize import SummaryAttempt, summarize_with
from bot.llm.context_budget import TooLong
from bot.llm.prompts import Prompts
from bot.llm.router import (
    AnswerRouter,
    LocalModelUnavailable,
    Piece,
    RouterInput,
    model_errors,
    rejected_request,
)
from bot.memory import ConversationKey, ConversationMemory, RedisChatHistory
from bot.routing.channel import ChannelFacts
from bot.routing.decision import Route, RouteDecision
from bot.routing.sensitive import SensitiveDetector
from bot.tracing import span

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCAL_UNAVAILABLE_TEXT = (
    "The on-prem model is unavailable right now, so I could not answer. "
    "Nothing was sent anywhere else. Please try again in a few minutes."
)
EMPTY_ANSWER_TEXT = "(The model returned an empty answer.)"
MEMORY_UNAVAILABLE_TEXT = (
    "My memory store is unavailable right now, so I could not tell whether this conversation "
    "is confidential and did not answer. Nothing was sent anywhere. Please try again in a "
    "minute."
)
MEMORY_NOT_SAVED_NOTE = (
    "⚠️ My memory store is unavailable: this exchange was not saved, so a follow-up may not "
    "know about it."
)
CUT_OFF_NOTE = (
    "⚠️ The answer reached its length limit and was cut off: ask for the rest in a follow-up."
)
BUSY_TEXT = (
    "I am answering too many questions right now to take yours. Nothing was sent anywhere; "
    "please ask again in a few minutes."
)
TOO_LONG_REJECTED_TEXT = (
    "The on-prem model rejected the request as too long for it. Please ask a shorter question "
    "(or start a new thread, which carries less context)."
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """`text` with lone surrogates (JSON's `\\ud800` decodes to one; no encoder, tokenizer or
    HTTP client takes it) replaced by U+FFFD. Pure."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def timeout_text(seconds: float) -> str:
    """What the asker sees when the model did not finish in time."""
    return (
        f"The model did not finish answering within {seconds:g} seconds, so I stopped it. "
        "Please try again, or ask a shorter question."
    )


def waited_too_long_text(seconds: float) -> str:
    """What the asker sees when the deadline passed while the question waited in line."""
    return (
        f"I could not get to your question within {seconds:g} seconds: too many questions are "
        "ahead of it. Nothing was sent anywhere; please ask again in a few minutes."
    )


def too_long_text(error: TooLong, model: str) -> str:
    """What the asker sees when the question alone does not fit the model's context."""
    return (
        f"Your question is too long for {model}: it is about {error.tokens:,} tokens and at "
        f"most {error.budget:,} fit. Nothing was sent anywhere; please shorten it."
    )


TRUNCATED_EMAIL_NOTE = (
    f"⚠️ The email is longer than {MAX_BODY_CHARS:,} characters: only its start was read."
)


class Outcome(StrEnum):
    """How a request ended."""

    ANSWERED = "answered"
    FALLBACK = "fallback"
    REFUSED = "refused"  # the on-prem model was unavailable; nothing sent elsewhere
    TIMEOUT = "timeout"  # the model did not finish within MODEL_TIMEOUT_S
    BUSY = "busy"  # the line for the route was full
    TOO_LONG = "too_long"  # the request did not fit the model's context
    UNAVAILABLE = "unavailable"  # the memory store (Redis) was unavailable
    UNDELIVERED = "undelivered"  # answered, but Slack would not take the answer
    STOPPED = "stopped"  # the asker stopped the answer while it was written
    LIMITED = "rate_limited"  # the asker or the channel asked more often than allowed
    ERROR = "error"


class AnswerFailed(Exception):
    """An unexpected failure while answering, already in the audit trail (see __cause__)."""


class CannotAnswer(Exception):
    """A request that ended before any model saw it, with the sentence to tell the asker."""

    def __init__(self, text: str, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.text = text
        self.outcome = outcome


@dataclass(frozen=True)
class AnswerLimits:
    """Load limits: the deadline of a whole answer and a gate per route."""

    deadline_s: float
    local: Gate
    closed: Gate

    def gate(self, route: Route) -> Gate:
        """The gate of a route."""
        return self.closed if route is Route.CLOSED else self.local


@dataclass(frozen=True)
class Question:
    """One question, with everything known about where it was asked."""

    conversation: ConversationKey
    facts: ChannelFacts
    user_id: str
    text: str
    force_local: bool = False
    thread: Sequence[str] = field(default_factory=tuple)
    # Categories of sensitive data its author wrote privately (in a slash command): no data
    # of these categories is published by the bot, however the model writes it.
    withheld: frozenset[str] = frozenset()
    # ...and the private values themselves (normalised), matched however they are written.
    withheld_values: tuple[str, ...] = ()
    # The Slack thread already holds an on-prem answer (its message metadata says so).
    sticky: bool = False
    # Part of the input (a shared file) could not be decoded with confidence, so the
    # detector cannot vouch for it.
    uncertain_input: bool = False
    # The Slack thread could not be read whole, so its on-prem marks cannot be vouched for.
    thread_unreadable: bool = False
    # Set when the asker has gone (the console's page was closed): the request leaves the
    # line, or the model call is cancelled, and is recorded as stopped with its route.
    asker_gone: asyncio.Event | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Answer:
    """The answer text, the route decision, and who actually answered."""

    text: str
    decision: RouteDecision
    outcome: Outcome
    answered_by: str | None
    # Set for email summaries that came back as valid structured output.
    summary: EmailSummary | None = None
    # Things the reader must know about the input, e.g. that only part of it was read.
    notes: tuple[str, ...] = ()


class Stopped(Exception):
    """The asker stopped the answer while it was written (raised by the text sink)."""


# Receives each piece of an answer's text as the model writes it; may raise `Stopped`.
TextSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Generated:
    """What the generation step produced: the text, who wrote it, and what it cost."""

    text: str
    answered_by: str | None
    fell_back: bool
    pieces: Sequence[Piece] = ()
    summary: EmailSummary | None = None
    stopped: bool = False
    cut_off: bool = False


# The one step that differs between answering and summarising.
Generate = Callable[[RouteDecision, RouterInput], Awaitable["Generated | Answer"]]


class AnswerService:
    """Runs every request along one path: context, decision, generation, memory, audit.

    Only the generation step differs: streamed text (`answer`) or a validated structured
    summary (`summarize_email`). Delivery is the caller's (Slack or the terminal).
    """

    def __init__(
        self,
        router: AnswerRouter,
        memory: ConversationMemory,
        audit: AuditLog,
        detector: SensitiveDetector,
        prompts: Prompts,
        limits: AnswerLimits,
    ) -> None:
        self._router = router
        self._memory = memory
        self._audit = audit
        self._detector = detector
        self._prompts = prompts
        self.limits = limits

    @property
    def detector(self) -> SensitiveDetector:
        """The sensitive-content detector the router uses."""
        return self._detector

    @property
    def audit(self) -> AuditLog:
        """Where every request's outcome is recorded."""
        return self._audit

    async def answer(
        self,
        question: Question,
        on_wait: WaitNotice | None = None,
        on_text: TextSink | None = None,
    ) -> Answer:
        """Answer a question; a local-model outage becomes a refusal, never a cloud call.

        `on_text` gets the answer's text as the model writes it, and may stop it by raising
        `Stopped` (the model call is cancelled, the partial answer kept). Raises
        `CannotAnswer` (with the sentence for the asker) when the memory store is
        unavailable; `on_wait` is awaited if the request has to wait in line for its route.
        """
        if log.isEnabledFor(logging.DEBUG):
            log.debug("question", extra={"text": self._detector.redact(question.text)})
        pieces: list[Piece] = []

        async def generate(decision: RouteDecision, request: RouterInput) -> Generated | Answer:
            return await self._generate_text(decision, request, pieces, on_text)

        return await self._run(question, question.text, generate, on_wait, pieces)

    async def summarize_email(
        self, question: Question, email: ParsedEmail, on_wait: WaitNotice | None = None
    ) -> Answer:
        """Summarise a customer email (structured, with a reply draft), routed like a question.

        The email is scanned with everything else, so in practice it routes local; the
        summary is stored in the thread's memory under the same confidentiality mark.
        """
        email_text = well_formed(email.as_prompt_text())
        request_text = f"{question.text}\n\n[customer email]\n{email_text}".strip()

        async def generate(decision: RouteDecision, request: RouterInput) -> Generated | Answer:
            return await self._summarize(question, decision, email_text, request)

        answer = await self._run(question, request_text, generate, on_wait, [])
        if email.truncated and answer.outcome in (Outcome.ANSWERED, Outcome.FALLBACK):
            answer = replace(answer, notes=(TRUNCATED_EMAIL_NOTE, *answer.notes))
        return answer

    async def _run(
        self,
        question: Question,
        request_text: str,
        generate: Generate,
        on_wait: WaitNotice | None,
        pieces: Sequence[Piece],
    ) -> Answer:
        """The one path every request takes, traced as one span (no text in it)."""
        question = replace(
            question,
            text=well_formed(question.text),
            thread=tuple(well_formed(t) for t in question.thread),
        )
        request_text = well_formed(request_text)
        with span("answer") as current:
            answer = await self._steps(question, request_text, generate, on_wait, pieces)
            decision = answer.decision
            current.set_attributes(
                {
                    "hearthbot.route": decision.route.value,
                    "hearthbot.reasons": list(decision.reasons),
                    "hearthbot.model": decision.model,
                    "hearthbot.answered_by": answer.answered_by or "",
                    "hearthbot.outcome": answer.outcome.value,
                }
            )
            return answer

    async def _steps(
        self,
        question: Question,
        request_text: str,
        generate: Generate,
        on_wait: WaitNotice | None,
        pieces: Sequence[Piece],
    ) -> Answer:
        started = time.monotonic()
        history = self._memory.history(question.conversation)
        request = await self._router_input(question, history, request_text, started)
        # Scanning a long request is CPU work: off the event loop.
        try:
            item = dict(request)
            with (
                span("classify"),
                metrics.timed(metrics.DETECTOR_SECONDS.observe),
            ):
                decision = await cpu_work(self._router.scan_work(item), self._router.classify, item)
        except Exception as exc:
            await self._record_failure(question, Outcome.ERROR, "routing_failed", started)
            raise AnswerFailed(type(exc).__name__) from exc
        try:
            # Before the line: a question that cannot fit is told so at once.
            self._router.fit_for(dict(request), decision.route)
        except TooLong as exc:
            too_long = Answer(too_long_text(exc, decision.model), decision, Outcome.TOO_LONG, None)
            await self._record(question, too_long, started, ())
            return too_long
        try:
            result = await self._within_limits(
                decision, on_wait, lambda: generate(decision, request), question.asker_gone
            )
        except Exception as exc:
            await self._record(question, Answer("", decision, Outcome.ERROR, None), started, pieces)
            raise AnswerFailed(type(exc).__name__) from exc
        if isinstance(result, Answer):
            if result.outcome is Outcome.STOPPED and pieces:
                # Stopped while the model was writing: it did answer, in part.
                result = replace(result, answered_by=pieces[-1].model)
            await self._record(question, result, started, pieces)
            return result
        text = result.text.strip() or EMPTY_ANSWER_TEXT
        outcome = Outcome.ANSWERED
        if result.stopped:
            outcome = Outcome.STOPPED
        elif result.fell_back:
            outcome = Outcome.FALLBACK
        answer = Answer(text, decision, outcome, result.answered_by, summary=result.summary)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answer", extra={"text": self._detector.redact(text)})
        # Memory and audit are independent writes: together, one wait instead of two.
        notes, _ = await asyncio.gather(
            self._remember(
                history, [HumanMessage(request_text), AIMessage(text)], decision.confidential
            ),
            self._record(question, answer, started, result.pieces),
        )
        if result.cut_off:
            notes = (CUT_OFF_NOTE, *notes)
        return replace(answer, notes=notes)

    async def _generate_text(
        self,
        decision: RouteDecision,
        request: RouterInput,
        pieces: list[Piece],
        on_text: TextSink | None,
    ) -> Generated | Answer:
        """The answer streamed from the chosen model, each piece handed to `on_text`."""
        stream = self._router.astream_answer(request, decision)
        stopped = False
        asked: float | None = time.perf_counter()
        try:
            async for piece in stream:
                if piece.text and asked is not None:
                    metrics.FIRST_TOKEN_SECONDS.labels(
                        decision.route.value, decision.model
                    ).observe(time.perf_counter() - asked)
                    asked = None
                pieces.append(piece)
                if on_text is not None and piece.text:
                    await on_text(piece.text)
        except Stopped:
            stopped = True
            log.info("answer stopped by the asker; model call cancelled")
        except TooLong as exc:
            return Answer(too_long_text(exc, decision.model), decision, Outcome.TOO_LONG, None)
        except LocalModelUnavailable as exc:
            return _local_failure(decision, exc.__cause__)
        finally:
            # Closing the stream ends the model's HTTP call: no tokens nobody reads.
            await _close(stream)
        return Generated(
            text="".join(p.text for p in pieces),
            answered_by=next((p.model for p in reversed(pieces)), decision.model),
            fell_back=any(p.fallback for p in pieces),
            pieces=tuple(pieces),
            stopped=stopped,
            cut_off=any(p.cut_off for p in pieces),
        )

    async def _within_limits(
        self,
        decision: RouteDecision,
        on_wait: WaitNotice | None,
        work: Callable[[], Awaitable[T]],
        gone: asyncio.Event | None = None,
    ) -> T | Answer:
        """Run `work` in the route's gate and within the deadline; an answer that says why
        when the line is full, the deadline passes or the asker has gone (`gone` set).

        The deadline runs from arrival: time in line counts, so with a hung model nobody
        waits for the people ahead of them to time out first.
        """
        if gone is None:
            return await self._limited(decision, on_wait, work)
        limited = asyncio.ensure_future(self._limited(decision, on_wait, work))
        left = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({limited, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
            if not limited.done():
                # Gone, or this request cancelled: out of the line, the model call closed.
                limited.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await limited
        if not limited.cancelled():
            return limited.result()
        log.info("asker gone: request stopped", extra={"route": decision.route.value})
        return Answer("", decision, Outcome.STOPPED, None)

    async def _limited(
        self,
        decision: RouteDecision,
        on_wait: WaitNotice | None,
        work: Callable[[], Awaitable[T]],
    ) -> T | Answer:
        deadline = self.limits.deadline_s
        answering = False
        try:
            async with (
                asyncio.timeout(deadline),
                self.limits.gate(decision.route).slot(on_wait),
            ):
                answering = True
                route, model = decision.route.value, decision.model
                attributes = {"hearthbot.route": route, "hearthbot.model": model}
                with (
                    span("model", attributes),
                    metrics.timed(metrics.MODEL_SECONDS.labels(route, model).observe),
                ):
                    return await work()
        except Busy:
            log.warning("line full; request turned away", extra={"route": decision.route.value})
            return Answer(BUSY_TEXT, decision, Outcome.BUSY, None)
        except TimeoutError:
            if not answering:
                log.warning("deadline passed in line", extra={"route": decision.route.value})
                return Answer(waited_too_long_text(deadline), decision, Outcome.BUSY, None)
            log.warning("model did not finish in time", extra={"deadline_s": deadline})
            return Answer(timeout_text(deadline), decision, Outcome.TIMEOUT, None)

    async def _summarize(
        self,
        question: Question,
        decision: RouteDecision,
        email_text: str,
        request: RouterInput,
    ) -> Generated | Answer:
        """The summary from the first model the decision allows that gives one; a refusal
        when the on-prem model is unavailable for a confidential email."""
        choices = self._router.choices(decision)
        for choice in choices:
            # Each model gets the memory fitted to its own window (the on-prem fallback too).
            on_prem = decision.route is Route.LOCAL or choice.fallback
            route = Route.LOCAL if on_prem else Route.CLOSED
            try:
                context = self._router.fit_for(dict(request), route)["history"]
            except TooLong as exc:
                return Answer(too_long_text(exc, choice.label), decision, Outcome.TOO_LONG, None)
            try:
                attempt = await summarize_with(
                    choice.model,
                    choice.provider,
                    self._prompts,
                    email_text=email_text,
                    instruction=question.text,
                    context=context,
                )
            except model_errors() as exc:
                if choice is not choices[-1]:
                    log.warning("closed model failed on a summary; trying on-prem")
                    continue
                if decision.route is Route.LOCAL:
                    return _local_failure(decision, exc)
                raise
            return _summary_generated(attempt, choice.label, choice.fallback)
        raise AssertionError("a decision always allows at least one model")

    async def _remember(
        self, history: RedisChatHistory, turn: list[BaseMessage], confidential: bool
    ) -> tuple[str, ...]:
        """Store a turn; when the memory store fails the answer is still given, with a note.

        The thread's confidential mark also lives in the answer's Slack metadata, so a
        follow-up stays on-prem although the memory missed this turn.
        """
        # What each message holds, stored with it so no later turn scans it again: the
        # question was scanned for the route (the detector's cache answers), the answer is
        # new.
        detector = self._detector
        texts = [m.text for m in turn]
        scanned = await cpu_work(
            detector.scan_work(texts), lambda: [detector.remembered(t) for t in texts]
        )
        try:
            await history.aadd_turn(turn, confidential=confidential, scanned=scanned)
        except RedisError as exc:
            log.warning(
                "memory store unavailable; turn not saved", extra={"error": type(exc).__name__}
            )
            return (MEMORY_NOT_SAVED_NOTE,)
        return ()

    async def _router_input(
        self, question: Question, history: RedisChatHistory, text: str, started: float
    ) -> RouterInput:
        """What the router needs: the question with the conversation's memory and mark.
        Raises `CannotAnswer` when the memory store is unavailable."""
        try:
            stored = await history.aload()
        except RedisError as exc:
            log.warning(
                "memory store unavailable; not answered", extra={"error": type(exc).__name__}
            )
            await self._record_failure(question, Outcome.UNAVAILABLE, "memory_unavailable", started)
            raise CannotAnswer(MEMORY_UNAVAILABLE_TEXT, Outcome.UNAVAILABLE) from exc
        kept = self._memory.fit_to_budget(stored.messages)
        scanned = {id(m): found for m, found in zip(stored.messages, stored.scanned, strict=False)}
        return {
            "facts": question.facts,
            "force_local": question.force_local,
            "sticky": question.sticky or stored.confidential,
            "uncertain_input": question.uncertain_input,
            "thread_unreadable": question.thread_unreadable,
            "question": text,
            # Everything is scanned and routed; the router then fits it to the chosen model.
            "history": kept,
            "history_scanned": [scanned.get(id(m)) for m in kept],
            "thread": question.thread,
        }

    async def _record_failure(
        self, question: Question, outcome: Outcome, reason: str, started: float
    ) -> None:
        """An audit record for a request that ended before (or without) a route decision."""
        await self._audit.record(
            failure_record(
                team=question.conversation.team_id,
                channel=question.conversation.channel_id,
                thread=question.conversation.thread_ts,
                user=question.user_id,
                outcome=outcome,
                reason=reason,
                started=started,
            )
        )

    async def _record(
        self, question: Question, answer: Answer, started: float, pieces: Sequence[Piece]
    ) -> None:
        inputs = [p.input_tokens for p in pieces if p.input_tokens is not None]
        outputs = [p.output_tokens for p in pieces if p.output_tokens is not None]
        await self._audit.record(
            AuditRecord(
                team=question.conversation.team_id,
                channel=question.conversation.channel_id,
                thread=question.conversation.thread_ts,
                user=question.user_id,
                route=answer.decision.route.value,
                reasons=answer.decision.reasons,
                model=answer.decision.model,
                answered_by=answer.answered_by,
                outcome=answer.outcome.value,
                latency_ms=round((time.monotonic() - started) * 1000),
                input_tokens=sum(inputs) if inputs else None,
                output_tokens=sum(outputs) if outputs else None,
            )
        )


def failure_record(
    *,
    team: str,
    channel: str,
    thread: str,
    user: str,
    outcome: Outcome,
    reason: str,
    started: float,
) -> AuditRecord:
    """The audit record of a request no model answered: route `none`, the reason why."""
    return AuditRecord(
        team=team,
        channel=channel,
        thread=thread,
        user=user,
        route="none",
        reasons=(reason,),
        model="-",
        answered_by=None,
        outcome=outcome.value,
        latency_ms=round((time.monotonic() - started) * 1000),
    )


def _local_failure(decision: RouteDecision, error: BaseException | None) -> Answer:
    """What the asker is told when the on-prem model failed: never a cloud call instead."""
    if rejected_request(error):
        log.warning("on-prem model rejected the request (too long?)")
        return Answer(TOO_LONG_REJECTED_TEXT, decision, Outcome.TOO_LONG, None)
    log.warning(
        "local model unavailable; refused without sending elsewhere",
        extra={"error": type(error).__name__},
    )
    return Answer(LOCAL_UNAVAILABLE_TEXT, decision, Outcome.REFUSED, None)


def _summary_generated(attempt: SummaryAttempt, label: str, fell_back: bool) -> Generated:
    """A summary attempt as generated text: the structured summary, or the plain one."""
    if attempt.summary is not None:
        text = attempt.summary.as_text()
    else:
        text = (attempt.plain_text or EMPTY_ANSWER_TEXT) + (
            "\n(The model did not return a structured summary; this is its plain summary.)"
        )
    usage = Piece("", label, fell_back, attempt.input_tokens, attempt.output_tokens)
    return Generated(text, label, fell_back, (usage,), summary=attempt.summary)


async def _close(stream: AsyncIterator[Any]) -> None:
    """Close a router stream early (after a timeout or an error), so its HTTP call ends."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
