"""Answering one question: memory in, router, memory out, audit record. Shared by Slack and
`hearthbot chat`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from langchain_core.messages import AIMessage, HumanMessage

from bot.audit import AuditLog, AuditRecord
from bot.llm.router import AnswerRouter, LocalModelUnavailable, Piece
from bot.memory import ConversationKey, ConversationMemory
from bot.routing.channel import ChannelFacts
from bot.routing.decision import RouteDecision
from bot.routing.sensitive import SensitiveDetector

log = logging.getLogger(__name__)

LOCAL_UNAVAILABLE_TEXT = (
    "The on-prem model is unavailable right now, so I could not answer. "
    "Nothing was sent anywhere else. Please try again in a few minutes."
)
EMPTY_ANSWER_TEXT = "(The model returned an empty answer.)"


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


@dataclass(frozen=True)
class Answer:
    """The answer text, the route decision, and who actually answered."""

    text: str
    decision: RouteDecision
    outcome: Outcome
    answered_by: str | None


class AnswerService:
    """Runs one question through memory and the router, and records the decision."""

    def __init__(
        self,
        router: AnswerRouter,
        memory: ConversationMemory,
        audit: AuditLog,
        detector: SensitiveDetector,
    ) -> None:
        self._router = router
        self._memory = memory
        self._audit = audit
        self._detector = detector

    async def answer(self, question: Question) -> Answer:
        """Answer a question; a local-model outage becomes a refusal, never a cloud call."""
        started = time.monotonic()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("question", extra={"text": self._detector.redact(question.text)})
        history = self._memory.history(question.conversation)
        past = self._memory.fit_to_budget(await history.aget_messages())
        sticky = await history.ais_confidential()
        decision: RouteDecision | None = None
        pieces: list[Piece] = []
        try:
            async for event in self._router.astream(
                {
                    "facts": question.facts,
                    "force_local": question.force_local,
                    "sticky": sticky,
                    "question": question.text,
                    "history": past,
                    "thread": question.thread,
                }
            ):
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
