"""The LangChain router: a classifier step that decides the route, then a dispatch step that
streams the answer from the local chain or the closed chain.

Only the closed chain carries a fallback, and only to the local chain: a confidential request
is never retried anywhere but on-prem, whatever the error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnablePassthrough,
)

from bot.llm.context_budget import ContextBudget, fit
from bot.llm.prompts import Prompts
from bot.routing.channel import ChannelFacts
from bot.routing.classifier import Classifier, RouteRequest
from bot.routing.decision import Route, RouteDecision

log = logging.getLogger(__name__)


class LocalModelUnavailable(Exception):
    """The self-hosted model could not answer; nothing was sent anywhere else."""


# Each client library's base error, by the module that defines it.
_PROVIDER_ERRORS = (("openai", "APIError"), ("anthropic", "APIError"), ("ollama", "ResponseError"))


def model_errors() -> tuple[type[BaseException], ...]:
    """Transport and API errors of the model clients: the only errors a fallback may catch.

    A provider's error is listed once its client library is loaded, which `models.py` does
    when it builds that provider's model: a library never loaded raises nothing. (Importing
    them all up front cost every process 2-3 s of start-up, anthropic's types alone 2 s.)
    """
    errors: list[type[BaseException]] = [httpx.HTTPError, ConnectionError, TimeoutError]
    for module, name in _PROVIDER_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, name))
    return tuple(errors)


# What a model server answers to a request it will not take as it is (too long, mostly):
# telling it apart from an outage lets the asker know that asking again will not help.
_REJECTED_STATUSES = frozenset({400, 413, 422})


def rejected_request(error: BaseException | None) -> bool:
    """True when a model client's error is the server refusing this request, not an outage."""
    status = getattr(error, "status_code", None)
    if status is None and isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
    return status in _REJECTED_STATUSES


@dataclass(frozen=True)
class Piece:
    """A piece of a streamed answer, with the model that produced it and any token counts."""

    text: str
    model: str
    fallback: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    # The model stopped at its length limit (MAX_ANSWER_TOKENS): the answer is cut off.
    cut_off: bool = False


def reached_length_limit(metadata: Mapping[str, Any]) -> bool:
    """True when a model's final chunk says it stopped at its token limit: OpenAI and
    llama.cpp `finish_reason: length`, Ollama `done_reason: length`, Anthropic
    `stop_reason: max_tokens`."""
    return (
        metadata.get("finish_reason") == "length"
        or metadata.get("done_reason") == "length"
        or metadata.get("stop_reason") == "max_tokens"
    )


@dataclass(frozen=True)
class ModelChoice:
    """A model a decision allows, in the order to try them."""

    model: BaseChatModel
    label: str
    provider: str
    fallback: bool


class RouterInput(TypedDict):
    """What the router needs for one request."""

    facts: ChannelFacts
    force_local: bool
    sticky: bool
    uncertain_input: bool
    thread_unreadable: bool
    question: str
    history: Sequence[BaseMessage]
    # Per history message, the categories found when it was stored (None: not known).
    history_scanned: Sequence[frozenset[str] | None]
    thread: Sequence[str]


RouterEvent = RouteDecision | Piece


def _history_scanned(item: dict[str, Any]) -> Sequence[frozenset[str] | None]:
    history: Sequence[BaseMessage] = item["history"]
    scanned: Sequence[frozenset[str] | None] = item.get("history_scanned") or ()
    # Findings are only used when they match the history one for one.
    return scanned if len(scanned) == len(history) else [None] * len(history)


def texts_to_scan(item: dict[str, Any]) -> list[str]:
    """Everything the router would send to a model (question, thread and memory), less the
    memory whose findings were stored with it."""
    history = [
        m.text for m, found in zip(item["history"], _history_scanned(item), strict=True)
        if found is None
    ]  # fmt: skip
    return [item["question"], *item["thread"], *history]


def known_categories(item: dict[str, Any]) -> frozenset[str]:
    """The categories stored with the memory that `texts_to_scan` leaves out."""
    return frozenset().union(*(found for found in _history_scanned(item) if found is not None))


def _pieces(model: str, *, fallback: bool) -> RunnableGenerator[Any, Piece]:
    async def to_pieces(chunks: AsyncIterator[AIMessageChunk]) -> AsyncIterator[Piece]:
        async for chunk in chunks:
            usage = chunk.usage_metadata
            cut_off = reached_length_limit(chunk.response_metadata or {})
            if chunk.text or usage or cut_off:
                yield Piece(
                    chunk.text,
                    model,
                    fallback,
                    usage["input_tokens"] if usage else None,
                    usage["output_tokens"] if usage else None,
                    cut_off,
                )

    return RunnableGenerator(to_pieces)


class AnswerRouter:
    """Builds and runs the router runnable."""

    def __init__(
        self,
        *,
        classifier: Classifier,
        prompts: Prompts,
        local_model: BaseChatModel,
        local_label: str,
        closed_model: BaseChatModel | None,
        closed_label: str | None,
        local_provider: str = "openai",
        closed_provider: str | None = None,
        budgets: Mapping[Route, ContextBudget] | None = None,
    ) -> None:
        self._classifier = classifier
        self._budgets = dict(budgets or {})
        self._local = ModelChoice(local_model, local_label, local_provider, fallback=False)
        self._closed = (
            ModelChoice(closed_model, closed_label, closed_provider or "openai", fallback=False)
            if closed_model is not None and closed_label is not None
            else None
        )
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
            prepare | prompt | local_model | _pieces(local_label, fallback=False)
        )
        self.closed_chain: Runnable[Any, Piece] | None = None
        if closed_model is not None and closed_label is not None:
            # The fallback gets the request refitted to the on-prem window: it was fitted to
            # the closed model's, which is usually far larger.
            refit: Runnable[dict[str, Any], dict[str, Any]] = RunnableLambda(
                lambda item: self.fit_for(item, Route.LOCAL)
            )
            fallback_chain = (
                refit | prepare | prompt | local_model | _pieces(local_label, fallback=True)
            )
            primary = prepare | prompt | closed_model | _pieces(closed_label, fallback=False)
            # Not the default `with_fallbacks`, which catches every exception: only errors
            # from the closed provider's client fall back, and only to the on-prem model.
            self.closed_chain = primary.with_fallbacks(
                [fallback_chain], exceptions_to_handle=model_errors()
            )
        classify: Runnable[dict[str, Any], RouteDecision] = RunnableLambda(self.classify)
        self.runnable: Runnable[dict[str, Any], RouterEvent] = RunnablePassthrough.assign(
            decision=classify
        ) | RunnableGenerator(self._dispatch)

    def choices(self, decision: RouteDecision) -> list[ModelChoice]:
        """The models a decision allows, in order: the closed model then (as a fallback) the
        local one for a public request; the local model alone for everything else."""
        if decision.route is Route.CLOSED and self._closed is not None:
            fallback = ModelChoice(
                self._local.model, self._local.label, self._local.provider, fallback=True
            )
            return [self._closed, fallback]
        return [self._local]

    def scan_work(self, item: dict[str, Any]) -> int:
        """How much scanning `classify` will do (see `SensitiveDetector.scan_work`)."""
        return self._classifier.detector.scan_work(texts_to_scan(item))

    def classify(self, item: dict[str, Any]) -> RouteDecision:
        """The classifier step: the route is decided here, before any model sees the text."""
        return self._classifier.classify(
            RouteRequest(
                facts=item["facts"],
                texts=texts_to_scan(item),
                known=known_categories(item),
                force_local=item["force_local"],
                sticky=item["sticky"],
                uncertain_input=item.get("uncertain_input", False),
                thread_unreadable=item.get("thread_unreadable", False),
            )
        )

    def fit_for(self, item: dict[str, Any], route: Route) -> dict[str, Any]:
        """The request cut to the context window of the route's model: the question whole
        (raises `TooLong` when it alone does not fit), the newest thread lines and memory.

        Only ever called after the route was decided on the whole request, so what is cut
        away can never change where the rest goes.
        """
        budget = self._budgets.get(route)
        if budget is None:
            return item
        fitted = fit(budget, item["question"], item["thread"], item["history"])
        if fitted.dropped_thread_lines or fitted.dropped_messages:
            log.info(
                "request fitted to the model's context",
                extra={
                    "route": route.value,
                    "dropped_thread_lines": fitted.dropped_thread_lines,
                    "dropped_messages": fitted.dropped_messages,
                },
            )
        return {
            **item,
            "thread": fitted.thread,
            "history": list(fitted.history),
            "history_scanned": (),  # decided already; see `_history_scanned`
        }

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
        async for piece in self.astream_answer(item, decision):
            yield piece

    async def astream_answer(
        self, request: Mapping[str, Any], decision: RouteDecision
    ) -> AsyncIterator[Piece]:
        """The answer in pieces from the model `decision` chose, for a request already
        classified (the classifier step of `astream`, run apart)."""
        item = self.fit_for(dict(request), decision.route)
        if decision.route is Route.CLOSED and self.closed_chain is not None:
            async for piece in self.closed_chain.astream(item):
                yield piece
            return
        try:
            async for piece in self.local_chain.astream(item):
                yield piece
        except model_errors() as exc:
            raise LocalModelUnavailable(str(exc)) from exc

    def astream(self, request: RouterInput) -> AsyncIterator[RouterEvent]:
        """The decision first, then the answer in pieces."""
        return self.runnable.astream(dict(request))
