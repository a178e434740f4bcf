"""Answering one question: memory in, router, memory out. Shared by Slack and `hearthbot chat`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from langchain_core.messages import AIMessage, HumanMessage

from bot.llm.router import AnswerRouter, LocalModelUnavailable, Piece
from bot.memory import ConversationKey, ConversationMemory
from bot.routing.channel import ChannelFacts
from bot.routing.decision import RouteDecision

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
    """Runs one question through memory and the router."""

    def __init__(self, router: AnswerRouter, memory: ConversationMemory) -> None:
        self._router = router
        self._memory = memory

    async def answer(self, question: Question) -> Answer:
        """Answer a question; a local-model outage becomes a refusal, never a cloud call."""
        started = time.monotonic()
        history = self._memory.history(question.conversation)
        past = self._memory.fit_to_budget(await history.aget_messages())
        decision: RouteDecision | None = None
        pieces: list[Piece] = []
        try:
            async for event in self._router.astream(
                {
                    "facts": question.facts,
                    "force_local": question.force_local,
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
                extra={"decision": decision.as_log(), "error": type(exc.__cause__).__name__},
            )
            return Answer(LOCAL_UNAVAILABLE_TEXT, decision, Outcome.REFUSED, None)
        assert decision is not None
        text = "".join(p.text for p in pieces).strip() or EMPTY_ANSWER_TEXT
        fell_back = any(p.fallback for p in pieces)
        answered_by = pieces[-1].model if pieces else decision.model
        await history.aadd_messages([HumanMessage(question.text), AIMessage(text)])
        outcome = Outcome.FALLBACK if fell_back else Outcome.ANSWERED
        log.info(
            "answered",
            extra={
                "decision": decision.as_log(),
                "outcome": outcome.value,
                "answered_by": answered_by,
                "latency_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return Answer(text, decision, outcome, answered_by)
