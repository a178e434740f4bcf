"""Answering one question: memory in, router, memory out, audit record. Shared by Slack and
`hearthbot chat`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from langchain_core.messages import AIMessage, HumanMessage

from bot.audit import AuditLog, AuditRecord
from bot.customer_email.parse import MAX_BODY_CHARS, ParsedEmail
from bot.customer_email.schema import EmailSummary
from bot.customer_email.summarize import SummaryAttempt, summarize_with
from bot.llm.prompts import Prompts
from bot.llm.router import MODEL_ERRORS, AnswerRouter, LocalModelUnavailable, Piece, RouterInput
from bot.memory import ConversationKey, ConversationMemory, RedisChatHistory
from bot.routing.channel import ChannelFacts
from bot.routing.decision import Route, RouteDecision
from bot.routing.sensitive import SensitiveDetector

log = logging.getLogger(__name__)

LOCAL_UNAVAILABLE_TEXT = (
    "The on-prem model is unavailable right now, so I could not answer. "
    "Nothing was sent anywhere else. Please try again in a few minutes."
)
EMPTY_ANSWER_TEXT = "(The model returned an empty answer.)"
TRUNCATED_EMAIL_NOTE = (
    f"⚠️ The email is longer than {MAX_BODY_CHARS:,} characters: only its start was read."
)


class Outcome(StrEnum):
    """How a request ended."""

    ANSWERED = "answered"
    FALLBACK = "fallback"
    REFUSED = "refused"
    ERROR = "error"


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


class AnswerService:
    """Runs one question through memory and the router, and records the decision."""

    def __init__(
        self,
        router: AnswerRouter,
        memory: ConversationMemory,
        audit: AuditLog,
        detector: SensitiveDetector,
        prompts: Prompts,
    ) -> None:
        self._router = router
        self._memory = memory
        self._audit = audit
        self._detector = detector
        self._prompts = prompts

    @property
    def detector(self) -> SensitiveDetector:
        """The sensitive-content detector the router uses."""
        return self._detector

    async def answer(self, question: Question) -> Answer:
        """Answer a question; a local-model outage becomes a refusal, never a cloud call."""
        started = time.monotonic()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("question", extra={"text": self._detector.redact(question.text)})
        history = self._memory.history(question.conversation)
        request = await self._router_input(question, history, question.text)
        decision: RouteDecision | None = None
        pieces: list[Piece] = []
        try:
            async for event in self._router.astream(request):
                if isinstance(event, RouteDecision):
                    decision = event
                else:
                    pieces.append(event)
        except LocalModelUnavailable as exc:
            assert decision is not None  # the decision is always the first event
            log.warning(
                "local model unavailable; refused without sending elsewhere",
                extra={"error": type(exc.__cause__).__name__},
            )
            answer = Answer(LOCAL_UNAVAILABLE_TEXT, decision, Outcome.REFUSED, None)
            await self._record(question, answer, started, pieces)
            return answer
        except Exception:
            if decision is not None:
                failed = Answer("", decision, Outcome.ERROR, None)
                await self._record(question, failed, started, pieces)
            raise
        assert decision is not None
        text = "".join(p.text for p in pieces).strip() or EMPTY_ANSWER_TEXT
        fell_back = any(p.fallback for p in pieces)
        answered_by = next((p.model for p in reversed(pieces)), decision.model)
        await history.aadd_turn(
            [HumanMessage(question.text), AIMessage(text)], confidential=decision.confidential
        )
        answer = Answer(
            text, decision, Outcome.FALLBACK if fell_back else Outcome.ANSWERED, answered_by
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answer", extra={"text": self._detector.redact(text)})
        await self._record(question, answer, started, pieces)
        return answer

    async def summarize_email(self, question: Question, email: ParsedEmail) -> Answer:
        """Summarise a customer email (structured, with a reply draft), routed like a question.

        The email is scanned with everything else, so in practice it routes local; the
        summary is stored in the thread's memory under the same confidentiality mark.
        """
        started = time.monotonic()
        history = self._memory.history(question.conversation)
        email_text = email.as_prompt_text()
        request_text = f"{question.text}\n\n[customer email]\n{email_text}".strip()
        request = await self._router_input(question, history, request_text)
        # Scanning a long email is CPU work: off the event loop, as the router does it.
        decision = await asyncio.to_thread(self._router.classify, dict(request))
        attempt: SummaryAttempt | None = None
        answered_by: str | None = None
        fell_back = False
        try:
            choices = self._router.choices(decision)
            for choice in choices:
                try:
                    attempt = await summarize_with(
                        choice.model,
                        choice.provider,
                        self._prompts,
                        email_text=email_text,
                        instruction=question.text,
                        context=request["history"],
                    )
                except MODEL_ERRORS:
                    if choice is not choices[-1]:
                        log.warning("closed model failed on a summary; trying on-prem")
                        continue
                    if decision.route is Route.LOCAL:
                        log.warning("local model unavailable; refused without sending elsewhere")
                        refused = Answer(LOCAL_UNAVAILABLE_TEXT, decision, Outcome.REFUSED, None)
                        await self._record(question, refused, started, ())
                        return refused
                    raise
                answered_by, fell_back = choice.label, choice.fallback
                break
        except Exception:
            await self._record(question, Answer("", decision, Outcome.ERROR, None), started, ())
            raise
        assert attempt is not None
        if attempt.summary is not None:
            text = attempt.summary.as_text()
        else:
            text = (attempt.plain_text or EMPTY_ANSWER_TEXT) + (
                "\n(The model did not return a structured summary; this is its plain summary.)"
            )
        await history.aadd_turn(
            [HumanMessage(request_text), AIMessage(text)], confidential=decision.confidential
        )
        answer = Answer(
            text,
            decision,
            Outcome.FALLBACK if fell_back else Outcome.ANSWERED,
            answered_by,
            summary=attempt.summary,
            notes=(TRUNCATED_EMAIL_NOTE,) if email.truncated else (),
        )
        usage = [Piece("", answered_by or "", False, attempt.input_tokens, attempt.output_tokens)]
        await self._record(question, answer, started, usage)
        return answer

    async def _router_input(
        self, question: Question, history: RedisChatHistory, text: str
    ) -> RouterInput:
        """What the router needs: the question with the conversation's memory and mark."""
        stored = await history.aload()
        return {
            "facts": question.facts,
            "force_local": question.force_local,
            "sticky": question.sticky or stored.confidential,
            "uncertain_input": question.uncertain_input,
            "thread_unreadable": question.thread_unreadable,
            "question": text,
            "history": self._memory.fit_to_budget(stored.messages),
            "thread": question.thread,
        }

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
