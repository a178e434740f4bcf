"""The LangChain router: a classifier step that decides the route, then a dispatch step that
streams the answer from the local chain or the closed chain.

Only the closed chain carries a fallback, and only to the local chain: a confidential request
is never retried anywhere but on-prem, whatever the error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnablePassthrough,
)

from bot.llm.prompts import Prompts
from bot.routing.channel import ChannelFacts
from bot.routing.decision import Route, RouteDecision


class LocalModelUnavailable(Exception):
    """The self-hosted model could not answer; nothing was sent anywhere else."""


def _provider_errors() -> tuple[type[BaseException], ...]:
    """Transport and API errors of the model clients: the only errors a fallback may catch."""
    errors: list[type[BaseException]] = [httpx.HTTPError, ConnectionError, TimeoutError]
    try:
        import openai

        errors.append(openai.APIError)
    except ImportError:  # pragma: no cover - openai comes with langchain-openai
        pass
    try:
        import anthropic

        errors.append(anthropic.APIError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import ollama

        errors.append(ollama.ResponseError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


MODEL_ERRORS = _provider_errors()


@dataclass(frozen=True)
class Piece:
    """A piece of a streamed answer, with the model that produced it."""

    text: str
    model: str
    fallback: bool = False

    def __add__(self, other: Piece) -> Piece:
        return Piece(self.text + other.text, other.model, self.fallback or other.fallback)


class RouterInput(TypedDict):
    """What the router needs for one request."""

    facts: ChannelFacts
    force_local: bool
    question: str
    history: Sequence[BaseMessage]
    thread: Sequence[str]


RouterEvent = RouteDecision | Piece
Classifier = Callable[[dict[str, Any]], RouteDecision]


def _tag(model: str, *, fallback: bool) -> RunnableGenerator[str, Piece]:
    async def tag(chunks: AsyncIterator[str]) -> AsyncIterator[Piece]:
        async for chunk in chunks:
            if chunk:
                yield Piece(chunk, model, fallback)

    return RunnableGenerator(tag)


class AnswerRouter:
    """Builds and runs the router runnable."""

    def __init__(
        self,
        *,
        classify: Classifier,
        prompts: Prompts,
        local_model: BaseChatModel,
        local_label: str,
        closed_model: BaseChatModel | None,
        closed_label: str | None,
    ) -> None:
        self._prompts = prompts
        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "{system}"),
                MessagesPlaceholder("thread_context"),
                MessagesPlaceholder("history"),
                ("human", "{question}"),
            ]
        )
        prepare = RunnableLambda(self._prompt_values)
        self.local_chain: Runnable[Any, Piece] = (
            prepare | prompt | local_model | StrOutputParser() | _tag(local_label, fallback=False)
        )
        self.closed_chain: Runnable[Any, Piece] | None = None
        if closed_model is not None and closed_label is not None:
            fallback_chain = (
                prepare
                | prompt
                | local_model
                | StrOutputParser()
                | _tag(local_label, fallback=True)
            )
            primary = (
                prepare
                | prompt
                | closed_model
                | StrOutputParser()
                | _tag(closed_label, fallback=False)
            )
            # Not the default `with_fallbacks`, which catches every exception: only errors
            # from the closed provider's client fall back, and only to the on-prem model.
            self.closed_chain = primary.with_fallbacks(
                [fallback_chain], exceptions_to_handle=MODEL_ERRORS
            )
        self.runnable: Runnable[dict[str, Any], RouterEvent] = RunnablePassthrough.assign(
            decision=RunnableLambda(classify)
        ) | RunnableGenerator(self._dispatch)

    def _prompt_values(self, item: dict[str, Any]) -> dict[str, Any]:
        thread: Sequence[str] = item["thread"]
        context: list[BaseMessage] = []
        if thread:
            context.append(
                SystemMessage(self._prompts.thread_context.format(messages="\n".join(thread)))
            )
        return {
            "system": self._prompts.answer_system,
            "thread_context": context,
            "history": list(item["history"]),
            "question": item["question"],
        }

    async def _dispatch(self, parts: AsyncIterator[dict[str, Any]]) -> AsyncIterator[RouterEvent]:
        # `RunnablePassthrough.assign` streams the input keys and the decision as separate
        # parts; gather them into the one request they describe.
        item: dict[str, Any] = {}
        async for part in parts:
            item.update(part)
        decision: RouteDecision = item["decision"]
        yield decision
        if decision.route is Route.CLOSED and self.closed_chain is not None:
            async for piece in self.closed_chain.astream(item):
                yield piece
            return
        try:
            async for piece in self.local_chain.astream(item):
                yield piece
        except MODEL_ERRORS as exc:
            raise LocalModelUnavailable(str(exc)) from exc

    def astream(self, request: RouterInput) -> AsyncIterator[RouterEvent]:
        """The decision first, then the answer in pieces."""
        return self.runnable.astream(dict(request))
